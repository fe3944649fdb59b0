from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForMaskedLM, AutoTokenizer, PreTrainedTokenizerFast

from medforge import cli
from medforge.errors import MedforgeError
from medforge.models.presets import build_mlm
from medforge.tokenizer.adapt import adapt
from medforge.tokenizer.audit import words_of
from medforge.tokenizer.config import TokenizerConfig
from medforge.tokenizer.load import load_word_tokenizer
from medforge.tokenizer.train import train_tokenizer

BASES = [("byte_bpe", "roberta"), ("sp_bpe", "camembert"), ("sp_unigram", "camembert"), ("wordpiece", "bert")]


@pytest.fixture(scope="module", params=BASES, ids=[a for a, _ in BASES])
def base(request, tmp_path_factory, sample_texts):
    """A tiny model with a general-ish tokenizer: trained on the English half only, so the French
    half is the 'domain' it fragments."""
    algorithm, family = request.param
    folder = tmp_path_factory.mktemp(f"base-{algorithm}")
    english = sample_texts[: len(sample_texts) // 2]
    train_tokenizer(iter(english), TokenizerConfig(algorithm=algorithm, family=family, vocab_size=600), folder, 0, [])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    build_mlm("roberta", "tiny", tokenizer, 64).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def adapted(base, tmp_path_factory, sample_texts):
    out = tmp_path_factory.mktemp("adapted")
    domain = sample_texts[len(sample_texts) // 2:]
    return out, adapt(str(base), domain, k=40, out=out, min_count=3)


def test_k_new_tokens_and_better_fertility(adapted, base):
    out, report = adapted
    before, after = AutoTokenizer.from_pretrained(base), AutoTokenizer.from_pretrained(out)
    assert report["tokens_added"] == 40 == len(after) - len(before)
    assert report["fertility"]["after"] < report["fertility"]["before"] - 0.05
    assert json.loads((out / "config.json").read_text())["vocab_size"] == len(after)


def test_text_without_new_tokens_tokenizes_exactly_as_before(adapted, base, sample_texts):
    out, _ = adapted
    old, new = AutoTokenizer.from_pretrained(base), AutoTokenizer.from_pretrained(out)
    with_new = 0
    for text in sample_texts + ["The patient was treated with amoxicillin.", "Œdème 血液 🙂 x-ray 12 mg/L"]:
        ids = new(text)["input_ids"]
        if any(i >= len(old) for i in ids):
            with_new += 1
        else:
            assert ids == old(text)["input_ids"], text
    assert 0 < with_new < len(sample_texts)  # the test saw both kinds of text
    assert old.get_vocab().items() <= new.get_vocab().items()  # every old token keeps its id


def test_added_words_become_single_tokens(adapted):
    out, report = adapted
    words = load_word_tokenizer(str(out))
    single = [w["word"] for w in report["words"] if len(words([w["word"]], is_split_into_words=True,
                                                              add_special_tokens=False)["input_ids"]) == 1]
    assert len(single) >= len(report["words"]) * 0.9


def test_new_rows_are_the_mean_of_their_base_pieces(adapted, base):
    out, report = adapted
    old_model = AutoModelForMaskedLM.from_pretrained(base)
    new_weights = load_file(out / "model.safetensors")
    emb = new_weights["roberta.embeddings.word_embeddings.weight"]
    bias = new_weights["lm_head.bias"]
    old_emb = old_model.get_input_embeddings().weight.detach()
    old_bias = old_model.lm_head.bias.detach()
    base_words = load_word_tokenizer(str(base))
    new_vocab = AutoTokenizer.from_pretrained(out).get_vocab()
    for entry in report["words"]:
        parts = base_words([entry["word"]], is_split_into_words=True, add_special_tokens=False)["input_ids"]
        token = "".join(entry["pieces_before"]) if "##" not in "".join(entry["pieces_before"]) else \
            "".join(p.removeprefix("##") for p in entry["pieces_before"])
        new_id = new_vocab[token]
        torch.testing.assert_close(emb[new_id], old_emb[parts].mean(0), rtol=0, atol=1e-6)
        torch.testing.assert_close(bias[new_id], old_bias[parts].mean(0), rtol=0, atol=1e-6)
    torch.testing.assert_close(emb[: len(old_emb)], old_emb)  # old rows untouched


def test_cli_and_bad_inputs(tmp_path, base, sample_texts, capsys):
    corpus = tmp_path / "domain.txt"
    corpus.write_text("\n".join(sample_texts[-100:]) + "\n")
    out = tmp_path / "out"
    assert cli.main(["tokenizer", "adapt", str(base), "--corpus", str(corpus), "--add", "10",
                     "--min-count", "3", "--out", str(out)]) == 0
    assert "added 10 tokens" in capsys.readouterr().out
    assert cli.main(["tokenizer", "adapt", str(base), "--corpus", str(corpus), "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert cli.main(["tokenizer", "adapt", str(base), "--corpus", str(corpus), "--min-count", "100000",
                     "--out", str(tmp_path / "o2")]) == 2
    assert "lower --min-count" in capsys.readouterr().err


def test_a_tokenizer_that_cannot_be_extended(tmp_path, sample_texts):
    backend = Tokenizer(models.WordLevel({"[UNK]": 0, "[PAD]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "le": 5},
                                         unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(tmp_path / "wordlevel")
    with pytest.raises(MedforgeError, match="WordLevel tokenizer cannot be extended"):
        adapt(str(tmp_path / "wordlevel"), ["pneumopathie " * 10] * 5, 5, tmp_path / "o", min_count=1)


def test_words_of_domain_text():
    assert words_of("pneumopathie d'inhalation") == ["pneumopathie", "d'inhalation"]
