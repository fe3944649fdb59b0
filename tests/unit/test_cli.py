from __future__ import annotations

import pytest

from medforge import cli


@pytest.mark.parametrize("command", [["prepare"], ["tokenizer", "train"], ["pretrain"], ["evaluate"], ["export"]])
def test_stage_help_lists_its_options_with_defaults(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(command + ["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"{command[0]}." in out and "default:" in out and "--config" in out


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
