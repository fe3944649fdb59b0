"""Export verification in a fresh Python process that imports nothing but ``transformers``.

A folder that only loads because medforge is imported (a registered class, a patched config) is
not a Hugging Face folder. The child process loads each exported model and its tokenizer with the
Auto classes, tokenizes sample texts and returns input ids and logits; the parent compares them
with the in-process tokenizer and model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from medforge.errors import MedforgeError

TOLERANCE = 1e-5
_CHILD = r"""
import json, sys
import torch, transformers
from safetensors.torch import save_file

jobs = json.loads(sys.argv[1])
out = {}
for i, job in enumerate(jobs):
    extra = {"subfolder": job["subfolder"]} if job["subfolder"] else {}
    tokenizer = transformers.AutoTokenizer.from_pretrained(job["folder"], **extra)
    model = getattr(transformers, job["auto_class"]).from_pretrained(job["folder"], **extra).eval()
    batch = tokenizer(job["texts"], return_tensors="pt", padding=True)
    with torch.no_grad():
        out[f"{i}.logits"] = model(**batch).logits.float().contiguous()
    out[f"{i}.input_ids"] = batch["input_ids"].contiguous()
save_file(out, sys.argv[2])
"""

AUTO_CLASSES = {"ForMaskedLM": "AutoModelForMaskedLM", "ForTokenClassification": "AutoModelForTokenClassification",
                "ForSequenceClassification": "AutoModelForSequenceClassification"}


def auto_class(config, where: str) -> str:
    architecture = (config.architectures or [""])[0]
    for suffix, name in AUTO_CLASSES.items():
        if architecture.endswith(suffix):
            return name
    raise MedforgeError(f"{where}: architecture {architecture or '(none)'} is not a masked LM, token classifier "
                        "or sequence classifier; medforge exports only these")


@dataclass
class Job:
    """One exported model to check: the in-process model and tokenizer, and where they were written."""

    model: Any  # a transformers model
    tokenizer: Any
    folder: Path
    subfolder: str
    texts: list[str]


def verify_in_fresh_process(jobs: list[Job], timeout: int = 600) -> list[float]:
    """Max absolute logit difference per job; an error when the child fails, tokenizes differently or
    differs by more than ``TOLERANCE``."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "child.safetensors"
        spec = [{"folder": str(j.folder), "subfolder": j.subfolder, "texts": j.texts,
                 "auto_class": auto_class(j.model.config, str(j.folder))} for j in jobs]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(spec), str(result)], capture_output=True,
                              text=True, timeout=timeout, env=env)
        if proc.returncode != 0:
            raise MedforgeError(f"{jobs[0].folder}: plain transformers cannot load the export in a fresh process:\n"
                                + proc.stderr.strip()[-2000:])
        from safetensors.torch import load_file

        child = load_file(result)
    diffs = []
    for i, job in enumerate(jobs):
        where = job.folder / job.subfolder if job.subfolder else job.folder
        batch = job.tokenizer(job.texts, return_tensors="pt", padding=True)
        if not torch.equal(batch["input_ids"], child[f"{i}.input_ids"]):
            raise MedforgeError(f"{where}: the reloaded tokenizer encodes the sample texts differently from the "
                                "one that was exported")
        with torch.no_grad():
            logits = job.model(**batch).logits.float()
        diff = float((logits - child[f"{i}.logits"]).abs().max())
        if diff > TOLERANCE:
            raise MedforgeError(f"{where}: logits reloaded in a fresh process differ by {diff:.2e} (tolerance "
                                f"{TOLERANCE:g}) from the model that was exported")
        diffs.append(diff)
    return diffs
