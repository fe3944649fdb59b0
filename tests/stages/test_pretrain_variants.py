"""Pre-training variants on the demo pipeline: model families, continual pre-training, bad configs."""

from __future__ import annotations

import json
import math

import pytest
from transformers import AutoModelForMaskedLM

from tests_shared import DEMO, TINY, copy_upstream, finished_run, run_cli


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    return finished_run(tmp_path_factory, "base", *TINY, "pretrain.max_steps=40")


def losses(folder):
    rows = [json.loads(r) for r in (folder / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def fresh(base_run, tmp_path):
    return copy_upstream(base_run, tmp_path / "run")


@pytest.mark.parametrize("family, architecture", [("bert", "BertForMaskedLM"), ("camembert", "CamembertForMaskedLM")])
def test_each_family_trains_and_saves_a_standard_model(base_run, tmp_path, family, architecture):
    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, "pretrain.max_steps=6",
                   f"pretrain.model.family={family}") == 0
    model = AutoModelForMaskedLM.from_pretrained(run / "pretrain" / "model")
    assert type(model).__name__ == architecture


def test_continual_pretraining_starts_where_the_saved_model_was(base_run, tmp_path):
    run = fresh(base_run, tmp_path)
    saved = base_run / "pretrain" / "model"
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, "pretrain.max_steps=5",
                   "pretrain.log_every=1", f"pretrain.model.init_from={saved}", f"pretrain.tokenizer={saved}") == 0
    vocab = json.loads((saved / "config.json").read_text())["vocab_size"]
    continued, scratch = losses(run)[0], losses(base_run)[0]
    assert abs(scratch - math.log(vocab)) < 0.5  # from scratch: near uniform
    assert continued < scratch - 0.5  # from the saved model: already trained
    meta = json.loads((run / "pretrain" / "meta.json").read_text())
    assert str(saved) in meta["input_fingerprints"]


@pytest.mark.parametrize("overrides, message", [
    (["pretrain.seq_len=256"], "longer than"),
    (["tokenizer.vocab_size=1500"], "vocabularies disagree"),
])
def test_bad_continual_configs_are_clear_errors(base_run, tmp_path, capsys, overrides, message):
    run = fresh(base_run, tmp_path)
    saved = base_run / "pretrain" / "model"
    tokenizer = "" if "tokenizer.vocab_size=1500" in overrides else f"pretrain.tokenizer={saved}"
    args = [a for a in ("run", DEMO, f"run_dir={run}", *TINY, f"pretrain.model.init_from={saved}", tokenizer,
                        *overrides) if a]
    assert run_cli(*args) == 2
    assert message in capsys.readouterr().err


def test_sparse_head_off_gives_the_same_training_run(base_run, tmp_path):
    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, "pretrain.max_steps=40",
                   "pretrain.sparse_head=false") == 0
    assert losses(run) == pytest.approx(losses(base_run), abs=1e-4)


def test_whole_word_masking_run(base_run, tmp_path):
    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, "pretrain.whole_word_mask=true") == 0
    assert losses(run)[-1] < losses(run)[0]
    assert losses(run) != pytest.approx(losses(base_run)[: len(losses(run))], abs=1e-3)  # other masks drawn


def test_global_batch_sets_accumulation_and_max_tokens_sets_steps(base_run, tmp_path):
    run = fresh(base_run, tmp_path)
    # 64-token sequences, batch 16 per pass: global 48 -> accumulation 3; 48*64*4 tokens -> 4 steps
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, "pretrain.global_batch=48",
                   f"pretrain.max_tokens={48 * 64 * 4}", "pretrain.precision=bf16", "pretrain.log_every=1",
                   "pretrain.gradient_checkpointing=true") == 0
    summary = json.loads((run / "pretrain" / "train_summary.json").read_text())
    assert (summary["grad_accum"], summary["global_batch"], summary["steps"]) == (3, 48, 4)
    assert len(losses(run)) == 4 and all(math.isfinite(x) for x in losses(run))
    assert summary["real_tokens"] >= 48 * 64 * 4 * 0.99  # the token budget was used


@pytest.mark.parametrize("override, message", [("pretrain.global_batch=50", "not divisible by batch_size 16"),
                                               ("pretrain.precision=fp16", "fp16 needs a GPU")])
def test_bad_batch_and_precision_settings(base_run, tmp_path, capsys, override, message):
    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, override) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["document", "sentence", "line"])
def test_packing_modes_run_and_record_their_padding(base_run, tmp_path, mode):
    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, "pretrain.max_steps=3",
                   f"pretrain.packing={mode}") == 0
    data = json.loads((run / "pretrain" / "train_summary.json").read_text())["data"]["train"]
    packed = json.loads((base_run / "pretrain" / "train_summary.json").read_text())["data"]["train"]
    assert data["mode"] == mode and data["document_tokens"] == packed["document_tokens"]  # same tokens
    assert data["padding_fraction"] > packed["padding_fraction"]


def test_carbon_emissions_are_recorded_in_the_stage_meta(base_run, tmp_path):
    pytest.importorskip("codecarbon")
    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, "pretrain.max_steps=3",
                   "pretrain.carbon_country=FRA") == 0
    emissions = json.loads((run / "pretrain" / "meta.json").read_text())["summary"]["emissions"]
    assert emissions["co2_eq_kg"] > 0 and emissions["energy_kwh"] > 0 and emissions["country"] == "France"


def test_unknown_carbon_country_is_a_clear_error(base_run, tmp_path, capsys):
    pytest.importorskip("codecarbon")
    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, "pretrain.carbon_country=XYZ") == 2
    assert "ISO 3166 alpha-3" in capsys.readouterr().err


def test_tensorboard_event_files_hold_the_logged_metrics(base_run, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, "pretrain.max_steps=4",
                   "pretrain.log_every=1", "pretrain.tensorboard=true") == 0
    events = EventAccumulator(str(run / "pretrain" / "tensorboard"))
    events.Reload()
    logged = [(e.step, e.value) for e in events.Scalars("loss")]
    assert [s for s, _ in logged] == [1, 2, 3, 4]
    assert [v for _, v in logged] == pytest.approx(losses(run), rel=1e-6)
    assert {"lr", "grad_norm", "eval_loss"} <= set(events.Tags()["scalars"])


def test_compiled_encoder_trains_like_the_eager_one_and_saves_standard_weights(base_run, tmp_path):
    eager = fresh(base_run, tmp_path / "eager")
    compiled = fresh(base_run, tmp_path / "compiled")
    common = [*TINY, "pretrain.max_steps=3", "pretrain.log_every=1", "pretrain.model.dropout=0"]
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={eager}", *common) == 0
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={compiled}", *common, "pretrain.compile=true") == 0
    assert losses(compiled) == pytest.approx(losses(eager), abs=1e-4)
    model = AutoModelForMaskedLM.from_pretrained(compiled / "pretrain" / "model")  # plain keys, no _orig_mod
    assert type(model).__name__ == "RobertaForMaskedLM"


def test_a_tokenizer_of_the_same_size_with_another_mapping_is_refused_before_packing(base_run, tmp_path, capsys):
    saved = base_run / "pretrain" / "model"
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (swapped / name).write_text((saved / name).read_text())
    data = json.loads((swapped / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    a, b = [t for t, i in vocab.items() if i in (100, 101)]
    vocab[a], vocab[b] = vocab[b], vocab[a]  # same size, same tokens: two ids exchanged
    (swapped / "tokenizer.json").write_text(json.dumps(data))
    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, f"pretrain.model.init_from={saved}",
                   f"pretrain.tokenizer={swapped}") == 2
    err = capsys.readouterr().err
    assert "vocabulary is not the model's: 2 ids differ" in err and "id 100" in err
    assert not (run / "pretrain" / "packed").exists()  # the error came before packing


@pytest.fixture(scope="module")
def bare_encoder(base_run, tmp_path_factory):
    """The saved model without its MLM head, as sentence encoders (all-MiniLM-L6-v2) are distributed."""
    from transformers import AutoModel, AutoTokenizer

    folder = tmp_path_factory.mktemp("bare")
    saved = base_run / "pretrain" / "model"
    AutoModel.from_pretrained(saved).save_pretrained(folder)
    AutoTokenizer.from_pretrained(saved).save_pretrained(folder)
    return folder


def test_a_missing_mlm_head_is_reported_initialised_and_warmed_up_alone(base_run, bare_encoder, tmp_path, caplog):
    import torch
    from safetensors.torch import load_file

    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, "pretrain.max_steps=3",
                   "pretrain.log_every=1", f"pretrain.model.init_from={bare_encoder}",
                   f"pretrain.tokenizer={bare_encoder}", "pretrain.head_warmup_steps=3") == 0
    assert "has no trained MLM head" in caplog.text
    head = json.loads((run / "pretrain" / "meta.json").read_text())["summary"]["head"]
    assert head["missing"] and all(k.startswith("lm_head.") for k in head["missing"])
    assert head["head_warmup_steps"] == 3 and "identity" in head["initialised"]
    before = load_file(bare_encoder / "model.safetensors")
    after = load_file(run / "pretrain" / "model" / "model.safetensors")
    encoder = {name: tensor for name, tensor in before.items() if not name.startswith("pooler.")}  # no MLM use
    assert encoder
    for name, tensor in encoder.items():  # three steps of head warm-up: the encoder did not move
        torch.testing.assert_close(after["roberta." + name], tensor, rtol=0, atol=0)
    assert not torch.equal(after["lm_head.dense.weight"], torch.eye(after["lm_head.dense.weight"].shape[0]))


def test_a_teacher_without_an_mlm_head_is_refused(base_run, bare_encoder, tmp_path, capsys):
    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY,
                   f"pretrain.distill.teacher={bare_encoder}") == 2
    assert "has no trained MLM head" in capsys.readouterr().err


def test_an_optimizer_step_reads_nothing_back_from_the_device(base_run, tmp_path, monkeypatch):
    """Between logged steps medforge's loop converts no tensor to a Python number (each would make a GPU
    wait): loss, norm and token counts stay on the device until the logging step reads them. (torch's own
    CPU AdamW reads its step counters, which live on the host; the fused CUDA AdamW does not.)"""
    import sys

    import torch

    import medforge.pretrain.loop as loop

    reads = []
    real_step = loop.optimizer_step

    def counting_step(s, step, feed, meter):
        originals = {name: getattr(torch.Tensor, name) for name in ("item", "tolist", "__float__", "__int__")}

        def spy(name):
            def read(self, *args, **kwargs):
                if "/medforge/" in sys._getframe(1).f_code.co_filename:
                    reads.append((step, name, sys._getframe(1).f_code.co_name))
                return originals[name](self, *args, **kwargs)
            return read

        for name in originals:
            monkeypatch.setattr(torch.Tensor, name, spy(name))
        try:
            return real_step(s, step, feed, meter)
        finally:
            for name, original in originals.items():
                monkeypatch.setattr(torch.Tensor, name, original)

    monkeypatch.setattr(loop, "optimizer_step", counting_step)
    run = fresh(base_run, tmp_path)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *TINY, "pretrain.max_steps=6",
                   "pretrain.log_every=3", "pretrain.save_every=6", "pretrain.eval_every=6") == 0
    assert reads == []
    losses_logged = [json.loads(r)["loss"] for r in (run / "pretrain" / "metrics.jsonl").read_text().splitlines()
                     if "loss" in json.loads(r)]
    assert len(losses_logged) == 2 and all(math.isfinite(v) for v in losses_logged)


def test_slurm_pack_array_tokenizes_ahead_and_pretraining_packs_the_same_sequences(base_run, tmp_path, monkeypatch):
    """configs/slurm/pack.sbatch run as SLURM would: two array tasks at once, separate processes; the
    pre-training stage then tokenizes nothing and packs what the base run packed by itself."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import datasets

    import medforge.data.pack as pack

    run = fresh(base_run, tmp_path)
    root = Path(__file__).resolve().parents[2]
    overrides = [f"run_dir={run}", *TINY, "pretrain.max_steps=4"]
    env = {**os.environ, "MEDFORGE_BIN": str(Path(sys.executable).parent / "medforge"), "SLURM_CPUS_PER_TASK": "1",
           "SLURM_ARRAY_TASK_COUNT": "2"}
    tasks = [subprocess.Popen(["bash", root / "configs" / "slurm" / "pack.sbatch", DEMO, *overrides],
                              env={**env, "SLURM_ARRAY_TASK_ID": str(i)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(2)]
    logs = [t.communicate(timeout=300)[0] for t in tasks]
    assert [t.returncode for t in tasks] == [0, 0], logs
    assert "1 train and 0 validation" in logs[0] and "0 train and 1 validation" in logs[1], logs
    monkeypatch.setattr(pack, "tokenize_file", lambda *args: (_ for _ in ()).throw(AssertionError("tokenized")))
    assert run_cli("pretrain", "--config", DEMO, *overrides) == 0
    for split in ("train", "validation"):
        ours = datasets.load_from_disk(str(run / "pretrain" / "packed" / split))
        theirs = datasets.load_from_disk(str(base_run / "pretrain" / "packed" / split))
        assert ours["input_ids"] == theirs["input_ids"] and ours["starts"] == theirs["starts"]
    missing = subprocess.run(["bash", root / "configs" / "slurm" / "pack.sbatch", DEMO, f"run_dir={tmp_path}/none"],
                             env={**env, "SLURM_ARRAY_TASK_ID": "0"}, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "prepare stage has not finished" in missing.stderr
