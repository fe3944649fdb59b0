"""The shipped launch files: valid shell and accelerate configs, no site-specific modules, the rendezvous and
requeue in place."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import ClusterConfig

SBATCH = Path(__file__).resolve().parents[2] / "configs" / "slurm" / "pretrain.sbatch"


def test_sbatch_template_is_valid_bash_and_portable():
    text = SBATCH.read_text()
    assert subprocess.run(["bash", "-n", str(SBATCH)], capture_output=True).returncode == 0
    assert "module load" not in text and "--rdzv_backend c10d" in text
    assert "-m medforge.cli pretrain" in text and "pretrain.max_minutes" in text
    assert '"$medforge_status" -eq 3' in text and "scontrol requeue" in text  # the time budget's exit status


ACCELERATE = sorted((SBATCH.parents[1] / "accelerate").glob("*.yaml"))


def test_the_sharded_and_replicated_launches_are_all_shipped():
    assert {p.stem for p in ACCELERATE} >= {"ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"}


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.stem)
def test_accelerate_reads_the_config(path):
    config = ClusterConfig.from_yaml_file(str(path))
    assert config.num_processes >= 2 and config.distributed_type.value in path.read_text()
    if config.distributed_type.value == "FSDP":
        assert config.fsdp_config["fsdp_version"] == 2
    if config.distributed_type.value == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] in (2, 3)
