"""One trainer per algorithm, each returning a ``tokenizers.Tokenizer`` in a family's id layout.

Every trainer puts the layout's head specials at ids 0..k-1, the learned vocabulary after
them, unused filler entries up to the requested multiple, and the tail specials (CamemBERT's
``<mask>``) last. SentencePiece models are trained with the ``sentencepiece`` library itself
(exact SentencePiece behaviour, and the ``.model`` file users expect), then converted.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from medforge.errors import MedforgeError
from medforge.textnorm import fullwidth_normalizer, space_normalizer
from medforge.tokenizer.config import TokenizerConfig
from medforge.tokenizer.special import Layout

# SentencePiece skips sentences longer than its max_sentence_length; long documents are cut
# at spaces into chunks below it rather than silently ignored.
SP_CHUNK_CHARS = 2000


def round_up(n: int, multiple: int) -> int:
    return int(math.ceil(n / multiple) * multiple)


def filler(i: int) -> str:
    return f"<unused{i}>"


def normalizer_for(cfg: TokenizerConfig) -> normalizers.Normalizer | None:
    """The normalisation the corpus had, inside the tokenizer: for SentencePiece vocabularies what prepare
    folds into spaces (they hold no piece for U+00A0 or U+3000; BERT's normaliser folds them itself, and
    byte-level BPE spells any character in bytes, and RobertaTokenizer rebuilds its pipeline on load
    without one), then lower case and full width."""
    steps: list[normalizers.Normalizer] = []
    if cfg.algorithm == "wordpiece":
        # accents kept: French and other accented medical vocabularies need them
        steps.append(normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                                lowercase=cfg.lowercase))
    else:
        if cfg.algorithm.startswith("sp_"):
            # trained line by line: a line break is a boundary, not a character SentencePiece knows
            steps.append(space_normalizer(line_breaks=True))
        if cfg.lowercase:
            steps.append(normalizers.Lowercase())
    if cfg.fullwidth:
        steps.append(fullwidth_normalizer())
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else normalizers.Sequence(steps)


def _learned_target(cfg: TokenizerConfig, layout: Layout) -> int:
    return round_up(cfg.vocab_size, cfg.vocab_multiple) - len(layout.specials)


def _fill_to_multiple(n_before_tail: int, layout: Layout, multiple: int, target: int) -> int:
    total = n_before_tail + len(layout.tail)
    if total > target:
        raise MedforgeError(f"the corpus needs {total} tokens (its alphabet plus the special tokens) but "
                            f"vocab_size allows {target}; raise 'tokenizer.vocab_size' (or, for SentencePiece, "
                            "lower 'tokenizer.character_coverage')")
    return round_up(total, multiple) - total


def train_byte_bpe(texts: list[str], cfg: TokenizerConfig, layout: Layout) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer_for(cfg)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=_learned_target(cfg, layout) + len(layout.head),
                                  min_frequency=cfg.min_frequency, special_tokens=list(layout.head),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return _pad_vocab(tok, layout, cfg)


def train_wordpiece(texts: list[str], cfg: TokenizerConfig, layout: Layout) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token=layout.unk))
    tok.normalizer = normalizer_for(cfg)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=_learned_target(cfg, layout) + len(layout.head),
                                        min_frequency=cfg.min_frequency, special_tokens=list(layout.head),
                                        continuing_subword_prefix="##", show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return _pad_vocab(tok, layout, cfg)


def _pad_vocab(tok: Tokenizer, layout: Layout, cfg: TokenizerConfig) -> Tokenizer:
    """BPE/WordPiece: filler entries (never produced: no merge or match makes them), then the tail."""
    data = json.loads(tok.to_str())
    vocab: dict[str, int] = data["model"]["vocab"]
    target = round_up(cfg.vocab_size, cfg.vocab_multiple)
    for i in range(_fill_to_multiple(len(vocab), layout, cfg.vocab_multiple, target)):
        vocab[filler(i)] = len(vocab)
    for special in layout.tail:
        vocab[special] = len(vocab)
    return Tokenizer.from_str(json.dumps(data))


def _sp_chunks(texts: list[str]):
    for text in texts:
        for line in text.split("\n"):
            while len(line) > SP_CHUNK_CHARS:
                cut = line.rfind(" ", 0, SP_CHUNK_CHARS)
                cut = cut if cut > 0 else SP_CHUNK_CHARS
                yield line[:cut]
                line = line[cut:].lstrip(" ")
            if line.strip():
                yield line


def train_sentencepiece_model(texts: list[str], cfg: TokenizerConfig, layout: Layout) -> bytes:
    """Train with the sentencepiece library; return the serialised ``.model``."""
    import sentencepiece as spm

    norm = normalizer_for(cfg)
    # line by line, as SentencePiece trains (the normaliser would join the lines of a document)
    lines = [line for text in texts for line in text.split("\n")]
    prepared = [norm.normalize_str(line) for line in lines] if norm else lines
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_sp_chunks(prepared), model_writer=model,
            model_type="bpe" if cfg.algorithm == "sp_bpe" else "unigram",
            # +1: SentencePiece's own <unk> piece, replaced by the layout's
            vocab_size=_learned_target(cfg, layout) + 1, hard_vocab_limit=False,
            character_coverage=cfg.character_coverage, normalization_rule_name="identity",
            remove_extra_whitespaces=False, add_dummy_prefix=True, split_by_whitespace=True,
            unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, unk_piece="<unk>",
            max_sentence_length=4 * SP_CHUNK_CHARS + 64, num_threads=os.cpu_count() or 1, minloglevel=2)
    except RuntimeError as exc:
        raise MedforgeError(f"SentencePiece training failed: {exc}") from None
    return model.getvalue()


def sentencepiece_to_backend(model_proto: bytes, cfg: TokenizerConfig, layout: Layout) -> Tokenizer:
    import sentencepiece as spm
    from transformers.tokenization_utils_base import generate_merges

    sp = spm.SentencePieceProcessor(model_proto=model_proto)
    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(1, sp.get_piece_size())]  # 0 is <unk>
    n_fill = _fill_to_multiple(len(layout.head) + len(pieces), layout, cfg.vocab_multiple,
                               round_up(cfg.vocab_size, cfg.vocab_multiple))
    fillers = [filler(i) for i in range(n_fill)]
    names = list(layout.head) + [p for p, _ in pieces] + fillers + list(layout.tail)
    if cfg.algorithm == "sp_bpe":
        vocab = {name: i for i, name in enumerate(names)}
        merges = generate_merges({p: i for i, (p, _) in enumerate(pieces)})
        model: models.Model = models.BPE(vocab=vocab, merges=merges, unk_token=layout.unk, fuse_unk=True)
    else:
        floor = min(score for _, score in pieces) - 10.0  # fillers: never the best segmentation
        # nor the specials: as pieces of the model they would be chosen for a literal "<s>" in text that is
        # encoded with special tokens split (the added-token match, not the model, makes them)
        scored = ([(s, floor - 10.0) for s in layout.head] + pieces + [(f, floor) for f in fillers] +
                  [(s, floor - 10.0) for s in layout.tail])
        model = models.Unigram(scored, unk_id=layout.head.index(layout.unk), byte_fallback=False)
    tok = Tokenizer(model)
    tok.normalizer = normalizer_for(cfg)
    # "first": ▁ only where a text (or a pre-split word) starts, not after a special token,
    # so "<mask>." is <mask> + "." as in running text, and every NER word still gets its ▁
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    return tok


TRAINERS: dict[str, Callable] = {"byte_bpe": train_byte_bpe, "wordpiece": train_wordpiece}


def train_backend(texts: list[str], cfg: TokenizerConfig, layout: Layout) -> tuple[Tokenizer, bytes | None]:
    """The trained backend (with specials and post-processor), and the SentencePiece model if any."""
    if cfg.algorithm in TRAINERS:
        tok, sp_model = TRAINERS[cfg.algorithm](texts, cfg, layout), None
    else:
        sp_model = train_sentencepiece_model(texts, cfg, layout)
        tok = sentencepiece_to_backend(sp_model, cfg, layout)
    finish(tok, layout)
    return tok, sp_model


def finish(tok: Tokenizer, layout: Layout) -> None:
    """Register the specials as added tokens (matched before the model) and wrap sequences."""
    # the mask swallows the space before it, so "with <mask>." predicts the word with its space
    specials = [AddedToken(s, special=True, normalized=False, lstrip=s == layout.mask) for s in layout.specials]
    tok.add_special_tokens(specials)
    vocab = tok.get_vocab()
    for i, special in enumerate(layout.head):
        if vocab.get(special) != i:
            raise AssertionError(f"{special} has id {vocab.get(special)}, expected {i}")
    used = {t.split(":")[0] for t in (layout.single + " " + layout.pair).split() if not t.startswith("$")}
    tok.post_processor = processors.TemplateProcessing(
        single=layout.single, pair=layout.pair, special_tokens=[(t, vocab[t]) for t in sorted(used)])
