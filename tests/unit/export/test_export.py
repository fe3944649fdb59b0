from __future__ import annotations

import pytest
import yaml

from medforge.errors import MedforgeError
from medforge.evaluate.report import summarize
from medforge.export.card import build_card
from medforge.export.hf import check_config_ids
from medforge.models.presets import build_mlm
from medforge.tasks.metrics import PROTOCOL

CORPUS = {"sources": {"a.txt": {"read": 10, "kept_train": 8, "kept_validation": 1, "dropped_empty": 1,
                                "words": 120}}}


def scores(f1: float) -> dict:
    return {"precision": f1, "recall": f1, "f1": f1, "lenient": {"f1": f1}, "token_weighted_f1_with_o": 0.9,
            "per_type": {"DRUG": {"precision": f1, "recall": f1, "f1": f1, "support": 2}}}


RUNS = [{"task": "toy-ner", "model_name": "model", "model": "m", "seed": seed, "best_epoch": 2, "dev": scores(0.5),
         "test": scores(f1)} for seed, f1 in ((1, 0.3), (2, 0.4))]
RESULTS = {"protocol": PROTOCOL, "seeds": [1, 2], "models": {"model": "m"}, "tasks": summarize(RUNS),
           "comparisons": {}}


def test_config_ids_must_agree_with_the_tokenizer(tiny_tokenizer):
    model = build_mlm("roberta", "tiny", tiny_tokenizer, 16)
    check_config_ids(model.config, tiny_tokenizer, "ok")
    model.config.pad_token_id = 3
    with pytest.raises(MedforgeError, match="pad_token_id=3"):
        check_config_ids(model.config, tiny_tokenizer, "bad")
    model.config.pad_token_id = tiny_tokenizer.pad_token_id
    model.config.vocab_size = 10
    with pytest.raises(MedforgeError, match="embeddings"):
        check_config_ids(model.config, tiny_tokenizer, "small")


def test_card_has_valid_metadata_and_every_section(tiny_tokenizer):
    model = build_mlm("roberta", "tiny", tiny_tokenizer, 32)
    card = build_card("toy", "A toy.", ["fr"], "apache-2.0", model.config, "<mask>", CORPUS,
                      {"learning_rate": 0.001, "seq_len": 32}, {"global_batch": 16, "final_eval_loss": 3.5,
                                                                "final_eval_perplexity": 33.1}, RESULTS)
    text = str(card)
    header = yaml.safe_load(text.split("---")[1])
    assert header["language"] == ["fr"] and header["pipeline_tag"] == "fill-mask"
    assert header["model-index"][0]["results"][0]["metrics"][0]["value"] == 0.35
    for needle in ("| layers | 2 |", "| max sequence length | 32 |", "| a.txt | 10 | 8 / 1 | 1 | 120 |",
                   "| learning_rate | 0.001 |", "| toy-ner | F1 | 35.00 ± 7.07 |", "toy-ner: DRUG 35.00", "seeds 1, 2",
                   'fill("The patient was treated with <mask>.")'):
        assert needle in text, needle


def test_card_without_evaluation(tiny_tokenizer):
    model = build_mlm("roberta", "tiny", tiny_tokenizer, 32)
    text = str(build_card("toy", "", ["en"], "mit", model.config, "<mask>", CORPUS, {}, {}, None))
    assert "No downstream evaluation was run." in text and "model-index" not in text
