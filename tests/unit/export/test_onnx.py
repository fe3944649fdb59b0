from __future__ import annotations

import pytest

from medforge.models.presets import build_mlm

pytest.importorskip("onnxruntime")


def test_onnx_export_matches_pytorch_on_other_lengths_and_batches(tmp_path, tiny_tokenizer, capsys):
    import numpy as np
    import onnxruntime
    import torch

    folder = tmp_path / "model"
    build_mlm("roberta", "tiny", tiny_tokenizer, 32).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    from medforge import cli

    assert cli.main(["export-model", str(folder), "--out", str(tmp_path / "out"), "--set", "onnx=true"]) == 0
    printed = capsys.readouterr().out  # the standalone command says what it checked
    diff = float(printed.split("onnx/model.onnx checked with onnxruntime against PyTorch: max logit difference ")[1])
    assert diff <= 1e-4
    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "onnx" / "model.onnx"))
    texts = ["Fever.", "The patient was admitted with fever, cough and <mask> pain.", "Le patient tousse."]
    batch = tiny_tokenizer(texts, return_tensors="np", padding=True)
    (logits,) = session.run(["logits"], dict(batch))
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(tmp_path / "out").eval()
    with torch.no_grad():
        reference = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    assert logits.shape == (3, batch["input_ids"].shape[1], model.config.vocab_size)
    assert np.abs(logits - reference).max() < 1e-4
