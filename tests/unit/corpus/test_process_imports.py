"""What a preparation process loads: pyarrow's conversions of Python lists and read_table import pandas
(0.6 s a process, paid again by every worker), and nothing in preparation uses it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests_shared import SAMPLE

_RUN = r"""
import json, sys
from pathlib import Path
from medforge.corpus.config import PrepareConfig
from medforge.corpus.stage import run
from medforge.stage import StageContext
inputs, out, engine = json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
cfg = PrepareConfig(inputs=inputs, engine=engine, languages=["fr", "en"], pii_allow=True, shard_docs=50)
run(cfg, StageContext(run_dir=out.parent, out=out, seed=0, upstream={}))
print(json.dumps(sorted(m for m in ("pandas", "datasets", "torch") if m in sys.modules)))
"""


@pytest.mark.parametrize("engine", ["stream", "tasks"])
def test_prepare_imports_no_pandas(tmp_path, engine):
    lines = (SAMPLE / "corpus" / "fr.txt").read_text(encoding="utf-8").splitlines()
    (tmp_path / "a.txt").write_text("\n".join(lines), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in lines[:30]), encoding="utf-8")
    (tmp_path / "c.csv").write_text("text\n" + "\n".join(json.dumps(t) for t in lines[30:60]), encoding="utf-8")
    inputs = [str(tmp_path / n) for n in ("a.txt", "b.jsonl", "c.csv")]
    proc = subprocess.run([sys.executable, "-c", _RUN, json.dumps(inputs), str(tmp_path / "run" / "out"), engine],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == []
