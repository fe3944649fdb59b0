from __future__ import annotations

import json
from itertools import islice

import pytest
from transformers import AutoTokenizer

from medforge.errors import MedforgeError
from medforge.tokenizer.config import TokenizerConfig
from medforge.tokenizer.special import LAYOUTS, check_special_tokens
from medforge.tokenizer.train import train_tokenizer
from tests_shared import shared_data

RECIPES = [  # (algorithm, family, which seed model uses it)
    ("byte_bpe", "roberta", "bio-lm"),
    ("sp_bpe", "camembert", "DrBERT"),
    ("sp_unigram", "camembert", "CamemBERT"),
    ("sp_unigram", "bert", "JMedRoBERTa"),
    ("wordpiece", "bert", "PubMedBERT"),
]


def train(tmp_path, texts, held_out, **kwargs):
    cfg = TokenizerConfig(**{"vocab_size": 1000, **kwargs})
    summary = train_tokenizer(iter(texts), cfg, tmp_path, seed=0, held_out=held_out)
    return AutoTokenizer.from_pretrained(tmp_path), summary


@pytest.mark.parametrize("algorithm, family, _model", RECIPES)
def test_each_algorithm_reloads_with_its_family_layout(tmp_path, sample_texts, algorithm, family, _model):
    tok, summary = train(tmp_path, sample_texts[:-40], sample_texts[-40:], algorithm=algorithm, family=family)
    layout = LAYOUTS[family]
    for i, special in enumerate(layout.head):
        assert tok.convert_tokens_to_ids(special) == i
    assert tok.convert_tokens_to_ids(layout.mask) == len(tok) - 1 if layout.tail else True
    ids = check_special_tokens(tok, family)
    assert ids["mask_token"] != ids["unk_token"]
    assert len(tok) % 64 == 0 and summary["vocab_size"] == len(tok)
    assert summary["learned_tokens"] + summary["filler_tokens"] + len(layout.specials) == len(tok)
    assert summary["held_out_unk_rate"] < 0.01
    encoded = tok("Le patient a une pneumopathie.")["input_ids"]
    assert encoded[0] == tok.cls_token_id and encoded[-1] == tok.sep_token_id
    assert (tmp_path / "sentencepiece.model").is_file() == algorithm.startswith("sp_")
    # the mask swallows the space before it: no stray space token in "treated with <mask>."
    pieces = tok.convert_ids_to_tokens(tok(f"treated with {tok.mask_token}.")["input_ids"])
    assert pieces[pieces.index(tok.mask_token) - 1] not in ("Ġ", "▁")
    # words given one by one (NER) each start a new word
    words = tok(["patient", "patient"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    assert words[: len(words) // 2] == words[len(words) // 2:]


def test_camembert_layout_reproduces_drberts_hand_patched_numbers(tmp_path, sample_texts):
    tok, _ = train(tmp_path, sample_texts, sample_texts[:10], algorithm="sp_bpe", family="camembert",
                   vocab_size=805, vocab_multiple=1)
    # DrBERT patched vocab_size = pieces + 5 and bos = 5 by hand; the layout gives them directly
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id) == (5, 6, 1, 3)
    assert tok.mask_token_id == len(tok) - 1


def test_sentencepiece_model_file_matches_the_hf_tokenizer(tmp_path, sample_texts):
    import sentencepiece as spm

    tok, _ = train(tmp_path, sample_texts, [], algorithm="sp_unigram", family="camembert")
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sentencepiece.model"))
    for text in sample_texts[:30]:
        assert tok.tokenize(text) == sp.encode(text, out_type=str)


def test_lowercase_wordpiece_is_uncased(tmp_path, sample_texts):
    tok, _ = train(tmp_path, sample_texts, sample_texts[:5], algorithm="wordpiece", family="bert", lowercase=True)
    assert tok("PNEUMOPATHIE Aiguë")["input_ids"] == tok("pneumopathie aiguë")["input_ids"]
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["tokenizer_class"] == "BertTokenizer"


def test_vocab_multiple_pads_with_fillers_that_are_never_produced(tmp_path, sample_texts):
    tok, summary = train(tmp_path, sample_texts, [], algorithm="byte_bpe", vocab_size=5000, vocab_multiple=128)
    assert len(tok) % 128 == 0 and summary["filler_tokens"] > 0  # the sample cannot fill 5000
    fillers = {i for t, i in tok.get_vocab().items() if t.startswith("<unused")}
    produced = {i for text in sample_texts for i in tok(text)["input_ids"]}
    assert fillers and not fillers & produced


def test_sample_budget_is_reported_and_bounds_the_training_text(tmp_path, sample_texts):
    _, summary = train(tmp_path, sample_texts, [], sample_mb=0.02)
    sample = summary["sample"]
    assert sample["documents_seen"] == len(sample_texts) and sample["bytes_used"] <= 20_000
    assert 0 < sample["documents_used"] < len(sample_texts)


def test_round_trip_on_unseen_text_including_rare_characters(tiny_tokenizer):
    text = "Œdème du pied ; CRP à 12 mg/L — 血液 🙂"
    assert tiny_tokenizer.decode(tiny_tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    assert tiny_tokenizer.unk_token_id not in tiny_tokenizer("血液 🙂")["input_ids"]  # byte level: no unk


def test_check_catches_mask_sharing_the_unk_id(tiny_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    tok.mask_token = "<not-in-vocab>"  # as a broken conversion would leave it: mask maps to unk
    with pytest.raises(MedforgeError, match="mask_token"):
        check_special_tokens(tok, "broken")


def test_check_catches_ids_outside_the_model_vocabulary(tiny_tokenizer):
    with pytest.raises(MedforgeError, match="outside the vocabulary"):
        check_special_tokens(tiny_tokenizer, "small-model", vocab_size=3)


def test_vocabulary_smaller_than_the_alphabet_is_a_clear_error(tmp_path):
    alphabet = ["".join(chr(0x4E00 + i + j) for j in range(3)) for i in range(0, 600, 3)]  # 600 kanji
    with pytest.raises(MedforgeError, match="raise 'tokenizer.vocab_size'"):
        train(tmp_path, alphabet * 3, [], algorithm="wordpiece", family="bert", vocab_size=128)


@pytest.mark.parametrize("field, value", [("algorithm", "bpe"), ("family", "gpt2"), ("vocab_size", 50)])
def test_bad_config_values_are_rejected(field, value):
    from medforge.config import from_dict
    from medforge.errors import ConfigError

    with pytest.raises(ConfigError, match=field):
        from_dict(TokenizerConfig, {field: value})


def test_empty_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(MedforgeError, match="empty corpus"):
        train(tmp_path, [], [])


def _lines(relative, n, skip=0):
    with shared_data(relative).open(encoding="utf-8") as fh:
        return [line.strip()[:3000] for line in islice(fh, skip, skip + n) if line.strip()]


@pytest.mark.parametrize("algorithm, family, _model", RECIPES)
@pytest.mark.parametrize("relative, n", [("text/fr/clinical-journal.txt", 100), ("text/en/pubmed-journal.txt", 100),
                                         ("text/ja/medtxt-cr.txt", 1200)])  # Japanese lines are short
def test_each_algorithm_on_real_text(tmp_path, algorithm, family, _model, relative, n):
    texts, held_out = _lines(relative, n), _lines(relative, 40, skip=n + 200)
    tok, summary = train(tmp_path, texts, held_out, algorithm=algorithm, family=family, vocab_size=3000)
    assert len(tok) <= 3008 and len(tok) % 64 == 0 and summary["held_out_unk_rate"] < 0.05
    if "/ja/" not in relative:  # Japanese has no spaces: pieces per space-separated "word" means nothing
        assert summary["held_out_tokens_per_word"] < 2.5


def test_japanese_unigram_on_fullwidth_text(tmp_path):
    texts, held_out = _lines("text/ja/medtxt-cr.txt", 100), _lines("text/ja/medtxt-cr.txt", 10, skip=120)
    tok, summary = train(tmp_path, texts, held_out, algorithm="sp_unigram", family="bert", fullwidth=True,
                         vocab_size=2000, character_coverage=0.9995)
    assert tok.tokenize("ＣＲＰ") == tok.tokenize("CRP")  # half-width input is normalised to full-width
    # 100 case reports do not cover every kanji of the held-out ones: some <unk> is expected
    assert tok.convert_tokens_to_ids("[MASK]") == 4 and summary["held_out_unk_rate"] < 0.1


@pytest.mark.parametrize("algorithm, family, _model", [r for r in RECIPES if r[0].startswith("sp_")])
def test_sentencepiece_tokenizers_carry_the_corpus_space_folding(tmp_path, sample_texts, algorithm, family, _model):
    """prepare folds no-break and ideographic spaces into a space; the tokenizer must too (they were <unk>)."""
    tok, summary = train(tmp_path, sample_texts[:-40], sample_texts[-40:], algorithm=algorithm, family=family)
    raw = "Fièvre\u00a0: 39\u00a0°C,\u3000toux\tsèche\r\net  douleur"
    folded = "Fièvre : 39 °C, toux sèche et douleur"
    assert tok(raw)["input_ids"] == tok(folded)["input_ids"]
    assert tok(raw)["input_ids"].count(tok.unk_token_id) <= 1  # the °, which the sample's vocabulary may lack
    agreement = summary["sentencepiece_agreement"]  # checked against the sentencepiece library itself
    assert agreement["lines"] >= 40 and agreement["identical"] + agreement["equal_score_ties"] == agreement["lines"]


@pytest.mark.parametrize("algorithm, family, _model", RECIPES)
def test_literal_special_token_strings_in_the_corpus_are_text(tmp_path, sample_texts, algorithm, family, _model):
    """A corpus holding "<mask>", "<s>" or "[SEP]" as text trains (the round-trip check failed on it) and
    those strings encode as text when special tokens are split, as packing and evaluation encode."""
    marked = [f"{t} <s>struck</s> <mask> <pad> [SEP] [MASK]" for t in sample_texts[:-40]]
    tok, _ = train(tmp_path, marked, [f"{t} <mask> <s>x</s>" for t in sample_texts[-40:]], algorithm=algorithm,
                   family=family)
    ids = tok("a <mask> b <s> c </s> <pad>", split_special_tokens=True, add_special_tokens=False)["input_ids"]
    assert not set(ids) & (set(tok.all_special_ids) - {tok.unk_token_id})
