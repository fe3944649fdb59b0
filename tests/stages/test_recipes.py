"""The seed models' recipes: each validates with its published settings, and its smoke profile runs the
same code path end to end on the embedded sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforge import cli, pipeline
from medforge.errors import ConfigError

RECIPES = Path(__file__).resolve().parents[2] / "configs" / "recipes"
NAMES = ("drbert", "camembert-bio", "biolm-pm-voc", "biolm-large", "biolm-distill-align", "jmedroberta")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("profile", [None, "smoke"])
def test_every_recipe_validates(name, profile):
    cfg = pipeline.load(RECIPES / f"{name}.yaml", profile=profile)
    assert cfg.run_dir == f"runs/{name}" + ("-smoke" if profile else "")


def test_recipes_hold_the_published_settings():
    drbert = pipeline.load(RECIPES / "drbert.yaml")
    assert (drbert.tokenizer.algorithm, drbert.tokenizer.family, drbert.tokenizer.vocab_size) == ("sp_bpe", "camembert",
                                                                                                   32000)
    assert (drbert.pretrain.model.preset, drbert.pretrain.seq_len, drbert.pretrain.global_batch,
            drbert.pretrain.warmup_steps, drbert.pretrain.mlm_probability) == ("base", 512, 4096, 10000, 0.15)
    bio = pipeline.load(RECIPES / "camembert-bio.yaml")
    assert bio.tokenizer.base == bio.pretrain.model.init_from == "camembert-base" and bio.pretrain.whole_word_mask
    assert (bio.pretrain.learning_rate, bio.pretrain.adam_betas, bio.pretrain.max_steps, bio.pretrain.global_batch,
            bio.evaluate.seeds) == (5e-5, [0.9, 0.98], 50000, 256, 10)
    jmed = pipeline.load(RECIPES / "jmedroberta.yaml")
    assert (jmed.tokenizer.algorithm, jmed.tokenizer.family, jmed.tokenizer.vocab_size, jmed.tokenizer.fullwidth,
            jmed.pretrain.learning_rate, jmed.pretrain.global_batch, jmed.pretrain.warmup_steps) == \
        ("sp_unigram", "bert", 50000, True, 1e-4, 256, 20000)
    distill = pipeline.load(RECIPES / "biolm-distill-align.yaml").pretrain.distill
    assert (distill.teacher, distill.student_layers, distill.align) == ("runs/biolm-large/model", 12, "cosine")
    for name, preset in (("biolm-pm-voc", "base"), ("biolm-large", "large")):
        cfg = pipeline.load(RECIPES / f"{name}.yaml")
        assert (cfg.tokenizer.algorithm, cfg.pretrain.model.family, cfg.pretrain.model.preset) == \
            ("byte_bpe", "roberta", preset)


def test_an_unknown_profile_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"no profile 'tiny' \(profiles: \['smoke'\]\)"):
        pipeline.load(RECIPES / "drbert.yaml", profile="tiny")


def smoke(name: str, folder: Path, *overrides: str) -> Path:
    assert cli.main(["run", str(RECIPES / f"{name}.yaml"), f"run_dir={folder}", *overrides, "--profile", "smoke"]) == 0
    assert (folder / "model" / "model.safetensors").is_file()
    return folder


def test_drbert_then_camembert_bio_smoke(tmp_path):
    drbert = smoke("drbert", tmp_path / "drbert")
    config = json.loads((drbert / "model" / "config.json").read_text())
    assert config["model_type"] == "camembert" and config["bos_token_id"] == 5  # CamemBERT's layout
    bio = smoke("camembert-bio", tmp_path / "bio", f"base_model={drbert / 'model'}")  # one key moves both
    kept = json.loads((bio / "tokenizer" / "tokenizer_stats.json").read_text())
    assert kept["base"] == str(drbert / "model") and kept["vocab_size"] == config["vocab_size"]
    assert json.loads((bio / "pretrain" / "train_summary.json").read_text())["grad_accum"] == 2  # 16 = 8 x 2


@pytest.mark.parametrize("name", ["biolm-pm-voc", "jmedroberta"])
def test_from_scratch_smoke(tmp_path, name):
    smoke(name, tmp_path / name)


def test_biolm_large_then_distill_align_smoke(tmp_path):
    teacher = smoke("biolm-large", tmp_path / "large") / "model"
    student = smoke("biolm-distill-align", tmp_path / "student", f"base_model={teacher}")
    table = (student / "evaluate" / "student_vs_teacher.md").read_text()
    assert "| student | 1 | 64 |" in table and "| teacher | 2 | 64 |" in table
    card = (student / "model" / "README.md").read_text()
    assert "| task | metric | model | teacher |" in card
    assert "Distilled from the local model `large/model`" in card and str(tmp_path) not in card  # no local path


def test_distill_command_is_the_pipeline_with_a_teacher(tmp_path):
    teacher = smoke("biolm-pm-voc", tmp_path / "teacher") / "model"
    folder = tmp_path / "student"
    assert cli.main(["distill", "--teacher", str(teacher), "--config", str(RECIPES / "biolm-pm-voc.yaml"),
                     f"run_dir={folder}",
                     "pretrain.distill.student_layers=1", "--profile", "smoke"]) == 0
    assert json.loads((folder / "model" / "config.json").read_text())["num_hidden_layers"] == 1
    assert json.loads((folder / "tokenizer" / "tokenizer_stats.json").read_text())["base"] == str(teacher)


def test_one_base_model_key_moves_every_setting_derived_from_it(tmp_path):
    bio = pipeline.load(RECIPES / "camembert-bio.yaml", ["base_model=elsewhere/drbert/model"], profile="smoke")
    assert bio.tokenizer.base == bio.pretrain.model.init_from == "elsewhere/drbert/model"
    distill = pipeline.load(RECIPES / "biolm-distill-align.yaml", profile="smoke")
    assert distill.tokenizer.base == distill.pretrain.distill.teacher == "runs/biolm-large-smoke/model"
    bad = tmp_path / "bad.yaml"
    bad.write_text("prepare:\n  inputs: ['${corpus_dir}/a.txt']\n")
    with pytest.raises(ConfigError, match=r"'prepare.inputs' refers to \$\{corpus_dir\}"):
        pipeline.load(bad)
    bad.write_text("corpus_dir: /data\nprepare:\n  inputs: ['${corpus_dir}/a.txt']\n")
    with pytest.raises(ConfigError, match="unknown key 'corpus_dir'"):  # a reference needs a real setting
        pipeline.load(bad)
