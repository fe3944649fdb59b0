"""Special-token layouts per model family, and the checks every saved tokenizer must pass.

A layout says which special tokens exist, which ids they take, how a sequence is wrapped,
and which ``transformers`` class loads the folder. Getting these right here is what lets
users skip DrBERT's hand-patched ``vocab_size=32005, bos=5``.
"""

from __future__ import annotations

from dataclasses import dataclass

from medforge.errors import ConfigError, MedforgeError


@dataclass(frozen=True)
class Layout:
    family: str
    tokenizer_class: str  # written to tokenizer_config.json for its native algorithm
    native_algorithm: str  # the algorithm that class rebuilds itself around
    head: tuple[str, ...]  # special tokens at ids 0..len(head)-1, in this order
    tail: tuple[str, ...]  # special tokens appended after the learned vocabulary
    roles: dict[str, str]  # transformers attribute -> token
    single: str  # post-processor template for one sequence
    pair: str  # ... and for a pair

    def loading_class(self, algorithm: str) -> str:
        """The family's class where it fits the algorithm; otherwise the generic class, which loads
        tokenizer.json as it is (BertTokenizer rebuilds a WordPiece pipeline, so a SentencePiece
        vocabulary in the BERT layout needs the generic class)."""
        return self.tokenizer_class if algorithm == self.native_algorithm else "TokenizersBackend"

    @property
    def specials(self) -> tuple[str, ...]:
        return self.head + self.tail

    @property
    def mask(self) -> str:
        return self.roles["mask_token"]

    @property
    def unk(self) -> str:
        return self.roles["unk_token"]


_FAIRSEQ_ROLES = {"bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>", "sep_token": "</s>",
                  "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}

LAYOUTS: dict[str, Layout] = {
    # RoBERTa: fairseq's dictionary puts <s> <pad> </s> <unk> first.
    "roberta": Layout("roberta", "RobertaTokenizer", "byte_bpe", ("<s>", "<pad>", "</s>", "<unk>", "<mask>"), (),
                      _FAIRSEQ_ROLES, "<s> $A </s>", "<s> $A </s> </s> $B </s>"),
    # CamemBERT: fairseq's four, then SentencePiece's own <unk> <s> </s> (so bos=5, eos=6),
    # then the pieces, and <mask> last: a 32k SentencePiece model gives vocab_size 32005.
    # v5's CamembertTokenizer replaces the pre-tokenizer on load, so the generic class (which loads
    # tokenizer.json as written) is used; the reload check in tokenizer/train.py holds us to it.
    "camembert": Layout("camembert", "TokenizersBackend", "sp_unigram",
                        ("<s>NOTUSED", "<pad>", "</s>NOTUSED", "<unk>", "<unk>NOTUSED", "<s>", "</s>"), ("<mask>",),
                        _FAIRSEQ_ROLES, "<s> $A </s>", "<s> $A </s> </s> $B </s>"),
    # BERT (PubMedBERT, JMedRoBERTa's BERT-style [MASK]).
    "bert": Layout("bert", "BertTokenizer", "wordpiece", ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"), (),
                   {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                    "mask_token": "[MASK]"},
                   "[CLS]:0 $A:0 [SEP]:0", "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1"),
}


def layout_for(family: str) -> Layout:
    if family not in LAYOUTS:
        raise ConfigError(f"unknown model family '{family}'; families are {list(LAYOUTS)}")
    return LAYOUTS[family]


def check_special_tokens(tokenizer, where: str, vocab_size: int | None = None) -> dict[str, int]:
    """Every special token present, with a distinct id below the vocabulary size, and mask != unk."""
    ids = {}
    for name in ("bos_token", "eos_token", "unk_token", "pad_token", "mask_token", "cls_token", "sep_token"):
        token = getattr(tokenizer, name, None)
        if token is None:
            continue
        token_id = tokenizer.convert_tokens_to_ids(str(token))
        if token_id is None or (name != "unk_token" and token_id == tokenizer.unk_token_id):
            raise MedforgeError(f"{where}: special token {name}={token!r} is not in the vocabulary "
                                f"(it maps to unk); retrain or re-export the tokenizer")
        ids[name] = token_id
    limit = vocab_size if vocab_size is not None else len(tokenizer)
    for name, token_id in ids.items():
        if not 0 <= token_id < limit:
            raise MedforgeError(f"{where}: {name} has id {token_id}, outside the vocabulary of {limit}")
    distinct = {k: v for k, v in ids.items() if k not in ("cls_token", "sep_token")}
    if len(set(distinct.values())) != len(distinct):
        raise MedforgeError(f"{where}: special tokens share ids {distinct}; each needs its own id")
    return ids


def check_same_vocabulary(tokenizer, reference, where: str) -> None:
    """The run's tokenizer must map tokens to the ids the model was trained with: same size is not enough
    (a tokenizer of the same size with another mapping would train without an error, on garbage)."""
    ours, theirs = tokenizer.get_vocab(), reference.get_vocab()
    if ours == theirs and _special_ids(tokenizer) == _special_ids(reference):
        return
    by_id = {i: t for t, i in ours.items()}
    their_by_id = {i: t for t, i in theirs.items()}
    differ = [(i, their_by_id.get(i), by_id.get(i)) for i in sorted(set(by_id) | set(their_by_id))
              if by_id.get(i) != their_by_id.get(i)]
    shown = "; ".join(f"id {i}: model {a!r}, tokenizer {b!r}" for i, a, b in differ[:5])
    specials = "" if differ else f" (special tokens differ: {_special_ids(reference)} vs {_special_ids(tokenizer)})"
    raise ConfigError(f"{where}: the tokenizer's vocabulary is not the model's: {len(differ)} ids differ{specials}"
                      f"{': ' + shown if shown else ''}. Use the model's own tokenizer (or one adapted from it with "
                      "`medforge tokenizer adapt`)")


def _special_ids(tokenizer) -> dict[str, int | None]:
    return {name: getattr(tokenizer, f"{name}_id", None) for name in ("bos_token", "eos_token", "unk_token",
                                                                     "pad_token", "mask_token", "cls_token",
                                                                     "sep_token")}
