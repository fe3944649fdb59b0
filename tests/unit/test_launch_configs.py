"""The shipped launch files: valid shell, no site-specific modules, the rendezvous and requeue in place."""

from __future__ import annotations

import subprocess
from pathlib import Path

SBATCH = Path(__file__).resolve().parents[2] / "configs" / "slurm" / "pretrain.sbatch"


def test_sbatch_template_is_valid_bash_and_portable():
    text = SBATCH.read_text()
    assert subprocess.run(["bash", "-n", str(SBATCH)], capture_output=True).returncode == 0
    assert "module load" not in text and "--rdzv_backend c10d" in text
    assert "-m medforge.cli pretrain" in text and "pretrain.max_minutes" in text
    assert '"$status" -eq 3' in text and "scontrol requeue" in text  # the time budget's exit status
