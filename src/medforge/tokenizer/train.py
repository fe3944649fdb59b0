"""The tokenizer stage: train on a seeded sample of the prepared training split, save, verify.

The folder is a Hugging Face tokenizer (``tokenizer.json``, ``tokenizer_config.json`` naming the
family's class) plus ``sentencepiece.model`` for SentencePiece algorithms. It is reloaded with
``AutoTokenizer`` and checked before the stage is called done: special tokens at their
layout's ids, distinct, mask != unk; the reloaded tokenizer encodes exactly like the trained
one; held-out text decodes back to itself (modulo normalisation).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from medforge import log, meta, paths
from medforge.corpus.store import iter_texts
from medforge.errors import InputError, MedforgeError
from medforge.tokenizer.algorithms import train_backend
from medforge.tokenizer.config import TokenizerConfig
from medforge.tokenizer.japanese import PRE_SEGMENT_KEY, segment
from medforge.tokenizer.sample import sample_documents
from medforge.tokenizer.special import Layout, check_special_tokens, layout_for

logger = log.get("tokenizer")


def save_tokenizer(backend, layout: Layout, cfg: TokenizerConfig, out: Path, sp_model: bytes | None):
    wrapped = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=cfg.model_max_length,
                                      **layout.roles)
    wrapped.save_pretrained(out)
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = layout.loading_class(cfg.algorithm)
    if config["tokenizer_class"] == "RobertaTokenizer":
        config.update(add_prefix_space=False, trim_offsets=True)
    if config["tokenizer_class"] == "BertTokenizer":
        config.update(do_lower_case=cfg.lowercase, strip_accents=False)
    if cfg.pre_segment != "none":
        config[PRE_SEGMENT_KEY] = cfg.pre_segment
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if sp_model is not None:
        (out / "sentencepiece.model").write_bytes(sp_model)
    return AutoTokenizer.from_pretrained(out)


def verify(tokenizer, backend, layout: Layout, texts: list[str], where: str) -> dict:
    ids = check_special_tokens(tokenizer, where)
    for i, special in enumerate(layout.head):
        if tokenizer.convert_tokens_to_ids(special) != i:
            raise MedforgeError(f"{where}: {special} should have id {i} in the {layout.family} layout")
    if tokenizer.convert_tokens_to_ids(layout.mask) == tokenizer.unk_token_id:
        raise MedforgeError(f"{where}: the mask token has the unk id")
    unk = tokenizer.unk_token_id
    n_tokens = n_unk = 0
    for text in texts:
        ours = tokenizer(text)["input_ids"]
        if ours != backend.encode(text).ids:
            raise MedforgeError(f"{where}: AutoTokenizer encodes {text[:60]!r} differently from the trained tokenizer")
        n_tokens += len(ours)
        n_unk += ours.count(unk)
        if unk in ours:
            continue  # text with an unknown character cannot round-trip; counted in the unk rate
        back = tokenizer.decode(ours, skip_special_tokens=True)
        expected = backend.normalizer.normalize_str(text) if backend.normalizer else text
        if "".join(back.split()) != "".join(expected.split()):
            raise MedforgeError(f"{where}: decoding does not give back the text:\n  in:  {expected!r}\n  out: {back!r}")
    return {"special_token_ids": ids, "held_out_unk_rate": n_unk / max(n_tokens, 1)}


def _texts(folder, split):
    for batch in iter_texts(folder, split):
        yield from batch


def train_tokenizer(texts, cfg: TokenizerConfig, out: Path, seed: int, held_out: list[str]) -> dict:
    """Sample, train, save and verify; return the summary. ``texts`` may be any iterable of documents."""
    layout = layout_for(cfg.family)
    if cfg.pre_segment == "mecab":
        texts = (segment(t) for t in texts)
        held_out = [segment(t) for t in held_out]
    sample, report = sample_documents(texts, int(cfg.sample_mb * 1e6), seed)
    if not sample:
        raise InputError("empty corpus: no text to train the tokenizer on")
    logger.info("training %s (%s layout) on %d documents (%.1f MB of %.1f MB)", cfg.algorithm, layout.family,
                report["documents_used"], report["bytes_used"] / 1e6, report["bytes_seen"] / 1e6)
    backend, sp_model = train_backend(sample, cfg, layout)
    tokenizer = save_tokenizer(backend, layout, cfg, out, sp_model)
    tokenizer.model_max_length = 1 << 62  # this copy only measures whole documents, never feeds a model
    checks = verify(tokenizer, backend, layout, held_out or sample[:200], str(out))
    words = sum(len(t.split()) for t in held_out) or 1
    n_learned = sum(1 for t in tokenizer.get_vocab() if not t.startswith("<unused") and t not in layout.specials)
    summary = {"algorithm": cfg.algorithm, "family": cfg.family, "vocab_size": len(tokenizer),
               "learned_tokens": n_learned, "filler_tokens": len(tokenizer) - n_learned - len(layout.specials),
               "sample": report, **checks,
               "held_out_fertility": sum(len(tokenizer(t, add_special_tokens=False)["input_ids"])
                                         for t in held_out) / words if held_out else None}
    if len(tokenizer) % cfg.vocab_multiple:
        raise AssertionError(f"vocabulary {len(tokenizer)} is not a multiple of {cfg.vocab_multiple}")
    meta.write_json(out / "tokenizer_stats.json", summary)
    return summary


def keep_base(cfg: TokenizerConfig, out: Path, held_out: list[str]) -> dict:
    """An existing tokenizer, saved as it is after the same checks a trained one passes."""
    name = paths.model_ref(cfg.base, "tokenizer")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except OSError as exc:
        raise InputError(f"cannot load the tokenizer 'tokenizer.base' = {cfg.base!r}: {exc}") from None
    ids = check_special_tokens(tokenizer, str(name))
    tokenizer.save_pretrained(out)
    pieces = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in held_out)
    words = sum(len(t.split()) for t in held_out)
    summary = {"base": str(cfg.base), "vocab_size": len(tokenizer), "special_token_ids": ids,
               "held_out_fertility": pieces / words if words else None}
    meta.write_json(out / "tokenizer_stats.json", summary)
    return summary


def run(cfg: TokenizerConfig, ctx) -> dict:
    corpus = ctx.need("prepare")
    held_out = list(itertools.islice(_texts(corpus, "validation"), 200))
    if cfg.base:
        summary = keep_base(cfg, ctx.out, held_out)
        logger.info("tokenizer: kept %s (%d tokens), %s tokens per word on held-out text", cfg.base,
                    summary["vocab_size"], f"{summary['held_out_fertility']:.2f}" if held_out else "n/a")
        return summary
    summary = train_tokenizer(_texts(corpus, "train"), cfg, ctx.out, ctx.seed, held_out)
    logger.info("tokenizer: %d tokens (%d learned, %d fillers), %s tokens per word on held-out text",
                summary["vocab_size"], summary["learned_tokens"], summary["filler_tokens"],
                f"{summary['held_out_fertility']:.2f}" if summary["held_out_fertility"] else "n/a")
    return summary
