"""Path conventions: ``asset:`` names a file of the embedded sample, wherever medforge is installed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

ASSET_PREFIX = "asset:"
# what transformers needs to rebuild a model: its config and weights in one of these forms
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def assets_dir() -> Path:
    return Path(str(resources.files("medforge") / "assets"))


def resolve(path: str | Path) -> Path:
    text = str(path)
    if text.startswith(ASSET_PREFIX):
        return assets_dir() / text[len(ASSET_PREFIX):]
    return Path(text).expanduser()


def is_local(path: str | Path) -> bool:
    """True for anything that should exist on disk (as opposed to a hub id such as ``camembert-base`` or
    ``almanach/camembert-bio-base``): an explicit path, more than one ``/`` (a hub id has at most one),
    a backslash, or a first component that is a local folder (``runs/x``)."""
    text = str(path)
    if text.startswith((ASSET_PREFIX, "/", ".", "~")) or "\\" in text or text.count("/") > 1:
        return True
    return resolve(text).exists() or ("/" in text and Path(text.split("/")[0]).is_dir())


def model_ref(ref: str, what: str = "model") -> str:
    """A local folder as a resolved path, a hub id as it is; a path that looks local but is missing is an error."""
    from medforge.errors import InputError

    local = resolve(ref)
    if local.exists():
        return str(local)
    if is_local(ref):
        raise InputError(f"{local}: {what} folder not found")
    return ref


def check_model_folder(ref: str, what: str = "model") -> None:
    """A local model folder must hold config.json and weights; say so in one line instead of letting
    transformers fall through to a hub look-up or a tokenizer-conversion traceback."""
    from medforge.errors import InputError

    local = resolve(ref)
    if not local.is_dir():
        if local.exists():
            raise InputError(f"{local}: is a file; give the {what} folder (config.json, model.safetensors and the "
                             "tokenizer files)")
        return  # a hub id
    present = {p.name for p in local.iterdir()}
    lacking = [name for name, ok in (("config.json", "config.json" in present),
                                     ("model.safetensors (weights)", bool(present & set(WEIGHT_FILES))),
                                     ("tokenizer.json or a vocabulary", bool(present & {
                                         "tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model",
                                         "tokenizer.model", "spm.model"})))
               if not ok]
    if lacking:
        raise InputError(f"{local}: not a {what} folder: it lacks {', '.join(lacking)}; a {what} folder holds "
                         "config.json, model.safetensors and the tokenizer files (as save_pretrained writes them)")


def short_names(refs: list[str]) -> list[str]:
    """Report names for models or tokenizers: the folder's name, or where two would clash, the shortest tail
    of their paths that tells them apart (``drbert-tokenizer``, ``biolm-tokenizer``; names are also folder
    names, so no ``/``)."""
    parts = [Path(r.rstrip("/")).parts or (r,) for r in refs]
    depth = 1
    while True:
        names = ["-".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names) or depth >= max(len(p) for p in parts):
            break
        depth += 1
    return [n if names.count(n) == 1 else f"{n}#{i}" for i, n in enumerate(names, start=1)]
