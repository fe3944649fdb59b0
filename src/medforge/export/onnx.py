"""ONNX export of an exported model (``onnx/model.onnx``), checked with onnxruntime against PyTorch.

Opt-in (``export.onnx: true``; the ``onnx`` extra). The graph takes ``input_ids`` and
``attention_mask`` with dynamic batch and sequence axes and returns ``logits``; it is checked on
texts of other lengths than the one it was traced with.
"""

from __future__ import annotations

from pathlib import Path

import torch

from medforge.errors import ConfigError, MedforgeError

TOLERANCE = 1e-4


def export_onnx(model, tokenizer, folder: Path, texts: list[str]) -> float:
    """Write ``folder/onnx/model.onnx``; return the max abs logit difference from PyTorch on ``texts``."""
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("export.onnx needs onnx, onnxscript and onnxruntime: pip install 'medforge[onnx]'") from None
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    target = folder / "onnx" / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    trace = tokenizer(["a b", "a"], return_tensors="pt", padding=True)
    dynamic = {0: "batch", 1: "sequence"}
    torch.onnx.export(model.eval(), (trace["input_ids"], trace["attention_mask"]), target,
                      input_names=["input_ids", "attention_mask"], output_names=["logits"],
                      dynamic_shapes=(dynamic, dynamic), dynamo=True, verbose=False)
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    (ours,) = session.run(["logits"], {"input_ids": batch["input_ids"].numpy(),
                                       "attention_mask": batch["attention_mask"].numpy()})
    with torch.no_grad():
        reference = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    diff = float((torch.from_numpy(ours) - reference).abs().max())
    if diff > TOLERANCE:
        raise MedforgeError(f"{target}: onnxruntime's logits differ by {diff:.2e} from PyTorch's")
    return diff
