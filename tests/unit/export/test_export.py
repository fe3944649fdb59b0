from __future__ import annotations

import json

import pytest
import transformers
import yaml

from medforge.errors import MedforgeError
from medforge.evaluate.report import summarize
from medforge.export.card import PIPELINE_TAGS, CardInputs, Head, build_card
from medforge.export.config import ExportConfig
from medforge.export.hf import check_config_ids, export, source_of
from medforge.export.verify import Job, verify_in_fresh_process
from medforge.models.presets import build_mlm
from medforge.tasks.metrics import PROTOCOL

CORPUS = {"training_data": [{"corpus": "a.txt", "details": "9 documents (1 files)", "size": "120 words, 700 characters"}],  # noqa: E501
          "totals": {"kept": 9, "read": 10, "dropped": {"empty": 1}}, "splits": {"train": 8, "validation": 1, "test": 0}}  # noqa: E501


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


def card_inputs(tokenizer, config, **kw) -> CardInputs:
    base = dict(name="toy", description="A toy.", language=["fr"], license="apache-2.0", model_config=config,
                auto_class="AutoModelForMaskedLM", tokenizer=tokenizer)
    return CardInputs(**{**base, **kw})


def test_card_has_valid_metadata_and_every_section(tiny_tokenizer):
    model = build_mlm("roberta", "tiny", tiny_tokenizer, 32)
    emissions = {"co2_eq_kg": 0.0021, "energy_kwh": 0.04, "country": "France", "cpu": "Xeon", "gpu": None}
    card = build_card(card_inputs(
        tiny_tokenizer, model.config, datasets=["acme/clinical-notes"], corpus_stats=CORPUS,
        pretrain_cfg={"learning_rate": 0.001, "seq_len": 32},
        pretrain_summary={"global_batch": 16, "final_eval_loss": 3.5, "final_eval_perplexity": 33.1,
                          "wall_time_s": 7200, "hardware": "1 x NVIDIA H100", "processes": 1, "emissions": emissions},
        results=RESULTS, heads=[Head("toy-ner", "toy-ner", "AutoModelForTokenClassification")],
        plots={"training curves": "training_curves.png"}))
    text = str(card)
    header = yaml.safe_load(text.split("---")[1])
    assert header["language"] == ["fr"] and header["pipeline_tag"] == "fill-mask" and header["license"] == "apache-2.0"
    assert header["datasets"] == ["acme/clinical-notes"] and "medforge" in header["tags"]
    assert header["widget"] == [{"text": "Le patient a été traité par <mask>."}]
    assert header["model-index"][0]["results"][0]["metrics"][0]["value"] == 0.35
    assert header["co2_eq_emissions"] == {"emissions": 2.1, "source": "CodeCarbon (offline tracker)",
                                          "training_type": "pre-training", "geographical_location": "France",
                                          "hardware_used": "1 x NVIDIA H100"}
    for needle in ("| layers | 2 |", "| max sequence length | 32 |", "| a.txt | 9 documents (1 files) | 120 words, 700 characters |",  # noqa: E501
                   "9 documents kept of 10 read (dropped: empty 1); splits: train 8, validation 1.", "| learning_rate | 0.001 |", "| toy-ner | F1 | 35.00 ± 7.07 |",  # noqa: E501
                   "toy-ner: DRUG 35.00", "seeds 1, 2", "`<mask>`=4", "| hours (all attempts) | 2.0 |", "| CO2 equivalent (g) | 2.1 |",  # noqa: E501
                   'fill("Le patient a été traité par <mask>.")', 'subfolder="toy-ner"',
                   "![training curves](training_curves.png)", "**not** screened"):
        assert needle in text, needle
    assert "Sample training texts" not in text  # opt-in only


def test_card_widget_uses_the_models_own_mask_token(tiny_tokenizer):
    model = build_mlm("roberta", "tiny", tiny_tokenizer, 32)

    class BertLike:
        mask_token = "[MASK]"
        all_special_tokens = ["[MASK]"]
        model_max_length = 32

        def __len__(self):
            return 10

        def convert_tokens_to_ids(self, token):
            return 4

    header = yaml.safe_load(str(build_card(card_inputs(BertLike(), model.config, language=["ja"]))).split("---")[1])
    assert header["widget"] == [{"text": "患者は[MASK]と診断された。"}]


def test_card_samples_and_pii_screening_appear_only_when_recorded(tiny_tokenizer):
    model = build_mlm("roberta", "tiny", tiny_tokenizer, 32)
    stats = {**CORPUS, "pii": {"policy": "redact", "found": {"EMAIL": 3}}}
    text = str(build_card(card_inputs(tiny_tokenizer, model.config, corpus_stats=stats, samples=["Fièvre à 39."])))
    assert "> Fièvre à 39." in text and "(policy: redact); items found: EMAIL 3" in text
    assert "not** screened" not in text


def test_card_without_evaluation_or_run_records(tiny_tokenizer):
    model = build_mlm("roberta", "tiny", tiny_tokenizer, 32)
    text = str(build_card(card_inputs(tiny_tokenizer, model.config, language=["en"], license="mit")))
    assert "No downstream evaluation was run." in text and "model-index" not in text
    assert "co2_eq_emissions" not in text and "Not recorded" in text


def save_model(tmp_path, family, tokenizer, head=None):
    import torch

    torch.manual_seed(0)
    model = build_mlm(family, "tiny", tokenizer, 32)
    folder = tmp_path / f"{family}-mlm"
    if head:
        config = model.config
        config.num_labels, config.architectures = 3, None
        model = getattr(transformers, head).from_config(config)
        folder = tmp_path / f"{family}-{head}"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def family_tokenizers(tmp_path_factory, sample_texts):
    from transformers import AutoTokenizer

    from medforge.tokenizer.config import TokenizerConfig
    from medforge.tokenizer.train import train_tokenizer

    found = {}
    for algorithm, family in (("byte_bpe", "roberta"), ("sp_bpe", "camembert"), ("wordpiece", "bert")):
        folder = tmp_path_factory.mktemp(family)
        train_tokenizer(iter(sample_texts), TokenizerConfig(algorithm=algorithm, family=family, vocab_size=600),
                        folder, 0, [])
        found[family] = AutoTokenizer.from_pretrained(folder)
    return found


@pytest.mark.parametrize("family", ["roberta", "camembert", "bert"])
def test_export_of_each_family_reloads_in_a_fresh_process_with_equal_logits(tmp_path, family_tokenizers, family):
    folder = save_model(tmp_path, family, family_tokenizers[family])
    summary = export(source_of(folder), tmp_path / "out", ExportConfig(language=["fr"]))
    assert summary["max_logit_diff"] <= 1e-5
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    tokenizer_config = json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())
    assert config["pad_token_id"] == family_tokenizers[family].pad_token_id
    assert tokenizer_config["model_max_length"] == 32


@pytest.mark.parametrize("head", ["AutoModelForTokenClassification", "AutoModelForSequenceClassification"])
def test_export_of_a_fine_tuned_head(tmp_path, tiny_tokenizer, head):
    folder = save_model(tmp_path, "roberta", tiny_tokenizer, head)
    export(source_of(folder), tmp_path / "out", ExportConfig())
    header = yaml.safe_load((tmp_path / "out" / "README.md").read_text().split("---")[1])
    assert header["pipeline_tag"] == PIPELINE_TAGS[head] and "widget" not in header


def test_export_refuses_a_tokenizer_whose_mask_is_the_unk_token(tmp_path, tiny_tokenizer):
    folder = save_model(tmp_path, "roberta", tiny_tokenizer)
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    settings["mask_token"] = "<unk>"  # bio-lm's converted tarballs: <mask> and <unk> one id
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    with pytest.raises(MedforgeError, match="mask_token='<unk>' is not in the vocabulary"):
        export(source_of(folder), tmp_path / "out", ExportConfig())


def test_fresh_process_check_catches_a_model_that_differs_from_its_export(tmp_path, tiny_tokenizer):
    import torch

    folder = save_model(tmp_path, "roberta", tiny_tokenizer)
    model = transformers.AutoModelForMaskedLM.from_pretrained(folder).eval()
    with torch.no_grad():
        model.lm_head.bias.add_(1e-3)
    with pytest.raises(MedforgeError, match="differ by 1.00e-03"):
        verify_in_fresh_process([Job(model, tiny_tokenizer, folder, "", ["The patient had a fever."])])


def test_source_of_a_checkpoint_finds_the_runs_tokenizer(tmp_path, tiny_tokenizer):
    run = tmp_path / "run"
    checkpoint = run / "pretrain" / "checkpoint-10"
    build_mlm("roberta", "tiny", tiny_tokenizer, 32).save_pretrained(checkpoint)
    tiny_tokenizer.save_pretrained(run / "tokenizer")
    source = source_of(checkpoint)
    assert source.tokenizer == run / "tokenizer" and source.pretrain == run / "pretrain"
    with pytest.raises(MedforgeError, match="not a medforge run folder"):
        source_of(tmp_path)


def test_card_shows_the_suite_score_and_its_tasks_when_a_suite_ran(tiny_tokenizer, tmp_path):
    from medforge.evaluate.config import EvaluateConfig
    from medforge.evaluate.suite import Suite, finish
    from medforge.tasks.spec import TaskSpec

    suite = Suite(name="toy-suite", groups={"named entity recognition": ["toy-ner"]}, lacks=["BC2GM"],
                  public_suite="BLURB", source=str(tmp_path / "toy-suite.yaml"))
    document = json.loads(json.dumps(RESULTS))
    document["suite"] = finish(document, suite, [TaskSpec(name="toy-ner")], EvaluateConfig(), tmp_path)
    model = build_mlm("roberta", "tiny", tiny_tokenizer, 32)
    text = str(build_card(card_inputs(tiny_tokenizer, model.config, results=document)))
    assert "**Suite toy-suite: 35.00 ± 7.07**" in text and "It lacks BC2GM" in text
    assert "| toy-ner | named entity recognition | F1 | 35.00 ± 7.07 |" in text
