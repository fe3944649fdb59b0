"""The tokenizer stage: train on a seeded sample of the prepared training split, save, verify.

The folder is a Hugging Face tokenizer (``tokenizer.json``, ``tokenizer_config.json`` naming the
family's class) plus ``sentencepiece.model`` for SentencePiece algorithms. It is reloaded with
``AutoTokenizer`` and checked before the stage is called done: special tokens at their
layout's ids, distinct, mask != unk; the reloaded tokenizer encodes exactly like the trained
one; held-out text decodes back to itself (modulo normalisation).
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from medforge import log, meta
from medforge.errors import InputError, MedforgeError
from medforge.tokenizer.algorithms import train_backend
from medforge.tokenizer.config import TokenizerConfig
from medforge.tokenizer.japanese import PRE_SEGMENT_KEY, segment
from medforge.tokenizer.sample import sample_documents
from medforge.tokenizer.special import Layout, check_special_tokens, layout_for

logger = log.get("tokenizer")
# not the audit's fertility, which tokenizes each word alone: two measures, two names
PER_WORD = " tokens per whitespace-separated word of running held-out text"


def save_tokenizer(backend, layout: Layout, cfg: TokenizerConfig, out: Path, sp_model: bytes | None):
    # no model_max_length: the tokenizer does not know the model; pretrain.seq_len, the one owner of the
    # length, sets it on the copy saved with the model
    wrapped = PreTrainedTokenizerFast(tokenizer_object=backend, **layout.roles)
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
    # held-out text is text: a literal "<mask>" in it is spelled out (as packing and evaluation encode it)
    backend.encode_special_tokens = True
    for text in texts:
        ours = tokenizer(text, split_special_tokens=True)["input_ids"]
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
    backend.encode_special_tokens = False
    return {"special_token_ids": ids, "held_out_unk_rate": n_unk / max(n_tokens, 1)}


def compare_with_sentencepiece(tokenizer, sp_model: bytes, algorithm: str, texts: list[str], where: str) -> dict:
    """The reloaded tokenizer against the ``sentencepiece`` library on held-out lines (the reference
    implementation). Unigram: the two may pick different segmentations of equal score (runs of a repeated
    character such as table leaders '......', 4 of 795 French leaflet lines), since their Viterbi searches
    break ties differently; a segmentation that scores lower than SentencePiece's is a real difference and
    an error. BPE: any difference is one."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=sp_model)
    normalizer = tokenizer.backend_tokenizer.normalizer

    def score(pieces):
        return sum(sp.get_score(sp.piece_to_id(p)) for p in pieces)

    lines = [line for text in texts for line in text.split("\n") if line.strip()]
    ties = 0
    for line in lines:
        # what the SentencePiece model was trained on: the line after the tokenizer's normaliser
        ours = tokenizer.convert_ids_to_tokens(tokenizer(line, add_special_tokens=False,
                                                         split_special_tokens=True)["input_ids"])
        theirs = [p if sp.piece_to_id(p) != sp.unk_id() else tokenizer.unk_token  # an unknown character's piece
                  for p in sp.encode(normalizer.normalize_str(line) if normalizer else line, out_type=str)]
        if ours == theirs:
            continue
        if algorithm == "sp_unigram" and abs(score(ours) - score(theirs)) < 1e-3:
            ties += 1
            continue
        at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        raise MedforgeError(f"{where}: the tokenizer and SentencePiece segment {line[:80]!r} differently from "
                            f"piece {at}:\n  tokenizer:     {ours[max(0, at - 3):at + 5]}\n"
                            f"  sentencepiece: {theirs[max(0, at - 3):at + 5]}")
    return {"lines": len(lines), "identical": len(lines) - ties, "equal_score_ties": ties}


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
    if sp_model is not None:
        checks["sentencepiece_agreement"] = compare_with_sentencepiece(tokenizer, sp_model, cfg.algorithm,
                                                                       held_out or sample[:200], str(out))
    words = sum(len(t.split()) for t in held_out) or 1
    n_learned = sum(1 for t in tokenizer.get_vocab() if not t.startswith("<unused") and t not in layout.specials)
    summary = {"algorithm": cfg.algorithm, "family": cfg.family, "vocab_size": len(tokenizer),
               "learned_tokens": n_learned, "filler_tokens": len(tokenizer) - n_learned - len(layout.specials),
               "sample": report, **checks,
               "held_out_tokens_per_word": sum(len(tokenizer(t, add_special_tokens=False,
                                                             split_special_tokens=True)["input_ids"])
                                         for t in held_out) / words if held_out else None}
    if len(tokenizer) % cfg.vocab_multiple:
        raise AssertionError(f"vocabulary {len(tokenizer)} is not a multiple of {cfg.vocab_multiple}")
    meta.write_json(out / "tokenizer_stats.json", summary)
    return summary
