"""Writes tests/unit/export/fixtures/fairseq-tiny/ with fairseq itself: a 2-layer RoBERTa trained for a
few updates by fairseq-train on the embedded sample (SentencePiece BPE, CamemBERT's recipe), and the
logits fairseq computes for sample texts, which the conversion test must reproduce.

fairseq 0.12.2 does not import on Python 3.11, so this runs in a separate Python 3.10 venv:
    python3.10 -m venv /tmp/fsq10 && /tmp/fsq10/bin/pip install "numpy<2" fairseq==0.12.2 sentencepiece
    /tmp/fsq10/bin/python tools/make_fairseq_fixture.py
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import sentencepiece as spm
import torch
from fairseq.models.roberta import RobertaModel
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "unit" / "export" / "fixtures" / "fairseq-tiny"
TEXTS = ["The patient was admitted with fever and cough.", "Le patient présente une pneumopathie aiguë.",
         "Aspirin 100 mg once daily."]
BIN = Path(sys.executable).parent
os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # fairseq loads its own checkpoint, written just above


def plain(x):
    """fairseq's settings as JSON: an argparse.Namespace becomes {"__namespace__": {...}}."""
    if isinstance(x, argparse.Namespace):
        return {"__namespace__": plain(vars(x))}
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x if isinstance(x, (str, int, float, bool, type(None))) else repr(x)


def main() -> None:
    corpus = []
    for name in ("en.txt", "fr.txt"):
        corpus += (ROOT / "src/medforge/assets/sample/corpus" / name).read_text(encoding="utf-8").splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "corpus.txt").write_text("\n".join(corpus) + "\n", encoding="utf-8")
        spm.SentencePieceTrainer.train(input=str(tmp / "corpus.txt"), model_prefix=str(tmp / "sentencepiece.bpe"),
                                       vocab_size=300, model_type="bpe", character_coverage=1.0, minloglevel=2)
        sp = spm.SentencePieceProcessor(model_file=str(tmp / "sentencepiece.bpe.model"))
        for split, lines in (("train", corpus[:540]), ("valid", corpus[540:])):
            (tmp / f"{split}.bpe").write_text("\n".join(" ".join(sp.encode(line, out_type=str)) for line in lines)
                                              + "\n", encoding="utf-8")
        # CamemBERT's dictionary: every SentencePiece piece (pieces the corpus never produces included)
        (tmp / "spm-dict.txt").write_text("".join(f"{sp.id_to_piece(i)} 1\n" for i in range(3, sp.get_piece_size())),
                                          encoding="utf-8")
        subprocess.run([BIN / "fairseq-preprocess", "--only-source", "--srcdict", tmp / "spm-dict.txt",
                        "--trainpref", tmp / "train.bpe",
                        "--validpref", tmp / "valid.bpe", "--destdir", tmp / "bin", "--workers", "1"], check=True)
        subprocess.run([BIN / "fairseq-train", tmp / "bin", "--task", "masked_lm", "--criterion", "masked_lm",
                        "--arch", "roberta_base", "--encoder-layers", "2", "--encoder-embed-dim", "32",
                        "--encoder-ffn-embed-dim", "64", "--encoder-attention-heads", "4", "--tokens-per-sample", "64",
                        "--max-positions", "64", "--batch-size", "8", "--max-update", "20", "--optimizer", "adam",
                        "--lr", "0.001", "--cpu", "--seed", "1", "--save-dir", tmp / "ckpt", "--no-epoch-checkpoints",
                        "--disable-validation", "--log-format", "simple"], check=True)
        shutil.rmtree(OUT, ignore_errors=True)
        OUT.mkdir(parents=True)
        checkpoint = torch.load(tmp / "ckpt" / "checkpoint_last.pt", map_location="cpu", weights_only=False)
        # no pickle in the repository: the tensors as safetensors, the settings as JSON; the test rebuilds
        # model.pt with fairseq's structure (tests/unit/export/test_fairseq.py: fairseq_checkpoint)
        save_file({k: v.clone().contiguous() for k, v in checkpoint["model"].items()}, OUT / "model.safetensors")
        (OUT / "settings.json").write_text(json.dumps({"args": plain(checkpoint["args"]),
                                                       "cfg": plain(checkpoint["cfg"])}, indent=1) + "\n")
        shutil.copyfile(tmp / "bin" / "dict.txt", OUT / "dict.txt")
        shutil.copyfile(tmp / "sentencepiece.bpe.model", OUT / "sentencepiece.bpe.model")
        shutil.copyfile(tmp / "bin" / "dict.txt", tmp / "ckpt" / "dict.txt")
        roberta = RobertaModel.from_pretrained(str(tmp / "ckpt"), "checkpoint_last.pt", str(tmp / "ckpt"),
                                               bpe="sentencepiece",
                                               sentencepiece_model=str(OUT / "sentencepiece.bpe.model")).eval()
        tensors, ids = {}, []
        with torch.no_grad():
            for i, text in enumerate(TEXTS):
                tokens = roberta.encode(text)
                ids.append(tokens.tolist())
                tensors[f"logits.{i}"] = roberta.model(tokens.unsqueeze(0))[0][0].float().contiguous()
        save_file(tensors, OUT / "expected.safetensors")
        (OUT / "expected.json").write_text(json.dumps({"texts": TEXTS, "ids": ids, "fairseq": "0.12.2",
                                                       "torch": torch.__version__}, ensure_ascii=False, indent=1))
    print("written", OUT)


if __name__ == "__main__":
    main()
