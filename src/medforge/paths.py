"""Path conventions: ``asset:`` names a file of the embedded sample, wherever medforge is installed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

ASSET_PREFIX = "asset:"


def assets_dir() -> Path:
    return Path(str(resources.files("medforge") / "assets"))


def resolve(path: str | Path) -> Path:
    text = str(path)
    if text.startswith(ASSET_PREFIX):
        return assets_dir() / text[len(ASSET_PREFIX):]
    return Path(text).expanduser()


def is_local(path: str | Path) -> bool:
    """True for anything that should exist on disk (as opposed to a hub id such as ``camembert-base``)."""
    text = str(path)
    return text.startswith((ASSET_PREFIX, "/", ".", "~")) or resolve(text).exists()


def model_ref(ref: str, what: str = "model") -> str:
    """A local folder as a resolved path, a hub id as it is; a path that looks local but is missing is an error."""
    from medforge.errors import InputError

    local = resolve(ref)
    if local.exists():
        return str(local)
    if is_local(ref):
        raise InputError(f"{local}: {what} folder not found")
    return ref


def short_names(refs: list[str]) -> list[str]:
    """Report names for models or tokenizers: the folder's name, numbered where two would clash."""
    names = [Path(r.rstrip("/")).name or r for r in refs]
    return [n if names.count(n) == 1 else f"{n}#{i}" for i, n in enumerate(names, start=1)]
