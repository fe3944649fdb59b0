from __future__ import annotations

import pytest

from medforge import cli


@pytest.mark.parametrize("command", [["prepare"], ["tokenizer", "train"], ["pretrain"], ["evaluate"], ["export"]])
def test_stage_help_lists_its_options_with_defaults(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(command + ["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"{command[0]}." in out and "default:" in out
    for option in ("--config", "--force", "--profile", "overrides"):  # every stage command takes the same
        assert option in out, option


@pytest.mark.parametrize(("command", "listed"), [("benchmark", "learning_rate (float, default: 0.0001)"),
                                                 ("export-model", "--tokenizer")])
def test_the_standalone_commands_list_what_they_read(command, listed, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    out = capsys.readouterr().out
    assert listed in out and "--config" not in out
    assert command != "benchmark" or "seeds (int" not in out  # --seeds is its own option, not a setting


def test_run_help_lists_all_sections(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    assert "pretrain.max_steps (int, default: 300)" in out and "evaluate.task.dev" in out


def test_unknown_key_exits_non_zero_with_a_suggestion(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("run_dir: x\nprepare:\n  inputs: [a.txt]\npretrain:\n  lerning_rate: 0.1\n")
    assert cli.main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'pretrain.lerning_rate'" in err and "Did you mean 'pretrain.learning_rate'" in err


def test_unknown_override_key_and_missing_config(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("prepare:\n  inputs: [a.txt]\n")
    assert cli.main(["pretrain", "--config", str(config), "pretrain.max_step=3"]) == 2
    assert "Did you mean 'pretrain.max_steps'" in capsys.readouterr().err
    assert cli.main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_fill_mask_needs_text_and_an_existing_model(tmp_path, capsys):
    assert cli.main(["fill-mask", str(tmp_path / "nomodel")]) == 2
    assert "no text given" in capsys.readouterr().err
    assert cli.main(["fill-mask", str(tmp_path / "nomodel"), "a <mask>"]) == 2
    assert "model folder not found" in capsys.readouterr().err


def test_a_pipeline_without_a_prepare_section_names_what_is_missing(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\ntokenizer:\n  vocab_size: 500\n")
    for _ in range(2):  # and the rerun says the same, not "an interrupted attempt"
        assert cli.main(["run", str(config)]) == 2
        err = capsys.readouterr().err
        assert "'prepare.inputs' and 'prepare.sources' are empty" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "prepare").exists()


def test_run_without_a_pipeline_file_says_so(capsys):
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert "give the pipeline file" in err and "overrides" not in err


@pytest.mark.parametrize("key", ["seeds=3", "tasks=[x]", "model=m", "data_root=d", "resume=false"])
def test_evaluate_models_rejects_settings_it_would_ignore(key, tmp_path, capsys):
    assert cli.main(["benchmark", str(tmp_path), "--tasks", "ncbi-disease", "--set", key]) == 2
    assert f"--set {key.split('=')[0]}=... is not read by this command" in capsys.readouterr().err


@pytest.mark.parametrize("seeds", ["0", "-1"])
def test_evaluate_refuses_no_seeds(seeds, tmp_path, capsys):
    assert cli.main(["benchmark", str(tmp_path), "--tasks", "ncbi-disease", "--seeds", seeds]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err


def test_evaluate_names_a_missing_or_empty_model_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "empty").mkdir()
    assert cli.main(["benchmark", "runs/nope/model", "--tasks", "ncbi-disease"]) == 2  # not a hub id: 2 slashes
    err = capsys.readouterr().err
    assert "runs/nope/model: model folder not found" in err and "Traceback" not in err
    assert cli.main(["benchmark", "runs/nope", "--tasks", "ncbi-disease"]) == 2  # 'runs' is a local folder
    assert "model folder not found" in capsys.readouterr().err
    assert cli.main(["benchmark", "empty", "--tasks", "ncbi-disease"]) == 2
    err = capsys.readouterr().err
    assert "not a model folder: it lacks config.json" in err and "Traceback" not in err


def test_tasks_ls_sees_a_brat_task_folder(tmp_path, capsys):
    for split in ("train", "dev", "test"):
        (tmp_path / "ner" / "fr" / "quaero-emea-brat" / split).mkdir(parents=True)
    assert cli.main(["tasks", "ls", "--data-root", str(tmp_path)]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("quaero-emea-brat"))
    assert line.split()[-1] == "present"
