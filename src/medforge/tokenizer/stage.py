"""The tokenizer stage: train a tokenizer on a seeded sample of the prepared training split (``train``), or
keep an existing one for continual pre-training, and check it either way."""

from __future__ import annotations

import itertools
from pathlib import Path

from transformers import AutoTokenizer

from medforge import log, meta, paths
from medforge.corpus.store import iter_texts
from medforge.errors import InputError
from medforge.stage import StageContext
from medforge.tokenizer.config import TokenizerConfig
from medforge.tokenizer.special import check_special_tokens
from medforge.tokenizer.train import PER_WORD, train_tokenizer

logger = log.get("tokenizer")


def _texts(folder, split):
    for batch in iter_texts(folder, split):
        yield from batch


def keep_base(cfg: TokenizerConfig, out: Path, held_out: list[str]) -> dict:
    """An existing tokenizer, saved as it is after the same checks a trained one passes."""
    name = paths.model_ref(str(cfg.base), "tokenizer")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except OSError as exc:
        raise InputError(f"cannot load the tokenizer 'tokenizer.base' = {cfg.base!r}: {exc}") from None
    ids = check_special_tokens(tokenizer, str(name))
    tokenizer.save_pretrained(out)
    pieces = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in held_out)
    words = sum(len(t.split()) for t in held_out)
    summary = {"base": str(cfg.base), "vocab_size": len(tokenizer), "special_token_ids": ids,
               "held_out_tokens_per_word": pieces / words if words else None}
    meta.write_json(out / "tokenizer_stats.json", summary)
    return summary


def run(cfg: TokenizerConfig, ctx: StageContext) -> dict:
    corpus = ctx.need("prepare")
    held_out = list(itertools.islice(_texts(corpus, "validation"), 200))
    if cfg.base:
        summary = keep_base(cfg, ctx.out, held_out)
        logger.info("tokenizer: kept %s (%d tokens), %s" + PER_WORD, cfg.base,
                    summary["vocab_size"], f"{summary['held_out_tokens_per_word']:.2f}" if held_out else "n/a")
        return summary
    summary = train_tokenizer(_texts(corpus, "train"), cfg, ctx.out, ctx.seed, held_out)
    logger.info("tokenizer: %d tokens (%d learned, %d fillers), %s" + PER_WORD,
                summary["vocab_size"], summary["learned_tokens"], summary["filler_tokens"],
                f"{summary['held_out_tokens_per_word']:.2f}" if summary["held_out_tokens_per_word"] else "n/a")
    return summary
