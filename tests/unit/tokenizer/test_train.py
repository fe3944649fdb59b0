from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from medforge.errors import MedforgeError
from medforge.tokenizer.special import ROBERTA_SPECIALS, check_special_tokens
from medforge.tokenizer.train import check_round_trip


def test_byte_bpe_has_roberta_special_ids(tiny_tokenizer):
    assert [tiny_tokenizer.convert_tokens_to_ids(t) for t in ROBERTA_SPECIALS] == [0, 1, 2, 3, 4]
    ids = check_special_tokens(tiny_tokenizer, "tiny")
    assert ids["mask_token"] == 4 and ids["unk_token"] == 3 and ids["pad_token"] == 1
    assert 300 < len(tiny_tokenizer) <= 1000


def test_reloads_with_auto_tokenizer_and_wraps_with_specials(tiny_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    ids = tok("Le patient a une pneumopathie.")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    # the mask swallows the space before it, as RoBERTa's does
    pieces = tok.convert_ids_to_tokens(tok("treated with <mask>.")["input_ids"])
    assert "<mask>" in pieces and "Ġ" not in pieces


def test_round_trip_on_unseen_text_including_rare_characters(tiny_tokenizer):
    check_round_trip(tiny_tokenizer, ["Œdème du pied ; CRP à 12 mg/L — 血液 🙂", "plain text"], "tiny")
    assert tiny_tokenizer.unk_token_id not in tiny_tokenizer("血液 🙂")["input_ids"]  # byte level: no unk


def test_check_catches_mask_sharing_the_unk_id(tiny_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    tok.mask_token = "<not-in-vocab>"  # as a broken conversion would leave it: mask maps to unk
    with pytest.raises(MedforgeError, match="mask_token"):
        check_special_tokens(tok, "broken")


def test_check_catches_ids_outside_the_model_vocabulary(tiny_tokenizer):
    with pytest.raises(MedforgeError, match="outside the vocabulary"):
        check_special_tokens(tiny_tokenizer, "small-model", vocab_size=3)
