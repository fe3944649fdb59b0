"""The tokenizer stage: train a byte-level BPE on the prepared training split.

Saved as a Hugging Face ``RobertaTokenizer`` folder (``tokenizer.json`` + ``tokenizer_config.json``)
that ``AutoTokenizer.from_pretrained`` loads offline.
"""

from __future__ import annotations

import itertools
import json

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import AddedToken, AutoTokenizer, RobertaTokenizer

from medforge import log, meta
from medforge.corpus.store import iter_texts
from medforge.errors import MedforgeError
from medforge.tokenizer.config import TokenizerConfig
from medforge.tokenizer.special import ROBERTA_SPECIALS, check_special_tokens

logger = log.get("tokenizer")


def _texts(folder, split):
    for batch in iter_texts(folder, split):
        yield from batch


def train_byte_bpe(texts, cfg: TokenizerConfig) -> RobertaTokenizer:
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                  special_tokens=list(ROBERTA_SPECIALS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator(texts, trainer)
    model = json.loads(raw.to_str())["model"]
    # RoBERTa's mask absorbs the space before it, so "fever <mask>." predicts the word "Ġ..." itself.
    mask = AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)
    return RobertaTokenizer(vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]],
                            model_max_length=cfg.model_max_length, mask_token=mask)


def check_round_trip(tokenizer, texts: list[str], where: str) -> None:
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        back = tokenizer.decode(ids)
        if back != text:
            raise MedforgeError(f"{where}: decoding does not give back the text:\n  in:  {text!r}\n  out: {back!r}")


def run(cfg: TokenizerConfig, ctx) -> dict:
    corpus = ctx.need("prepare")
    tokenizer = train_byte_bpe(_texts(corpus, "train"), cfg)
    tokenizer.save_pretrained(ctx.out)
    reloaded = AutoTokenizer.from_pretrained(ctx.out)
    special_ids = check_special_tokens(reloaded, str(ctx.out))
    held_out = list(itertools.islice(_texts(corpus, "validation"), 200)) or list(
        itertools.islice(_texts(corpus, "train"), 200))
    check_round_trip(reloaded, held_out, str(ctx.out))
    n_words = sum(len(t.split()) for t in held_out)
    n_tokens = sum(len(reloaded(t, add_special_tokens=False)["input_ids"]) for t in held_out)
    summary = {"algorithm": cfg.algorithm, "vocab_size": len(reloaded), "special_token_ids": special_ids,
               "held_out_fertility": round(n_tokens / max(n_words, 1), 4)}
    if len(reloaded) < cfg.vocab_size:
        logger.info("the corpus supports only %d of the %d tokens asked for", len(reloaded), cfg.vocab_size)
    meta.write_json(ctx.out / "tokenizer_stats.json", summary)
    logger.info("tokenizer: %d tokens, %.2f tokens per word on held-out text", len(reloaded),
                summary["held_out_fertility"])
    return summary
