from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from medforge import cli
from medforge.tokenizer.audit import Audited, audit, bare, words_of, write_reports

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "la", "pneu", "##mo", "##pathie", "fièvre"]


def hand_made(vocab=VOCAB):
    backend = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def test_figures_on_a_hand_counted_example():
    # words: la, pneumopathie, la, fièvre, xyz -> pieces 1 + 3 + 1 + 1 + 1 ([UNK]) = 7
    # tokens of the line: la pneu ##mo ##pathie , la fièvre xyz -> "," and "xyz" are [UNK]: 8 tokens, 2 unk
    # non-space characters: 2 + 13 + 2 + 6 + 3 = 26
    result = audit([Audited("hand", hand_made())], ["la pneumopathie, la fièvre xyz"], top=3)
    r = result["tokenizers"]["hand"]
    assert r["words"] == 5 and r["distinct_words"] == 4 and r["tokens"] == 8
    assert r["fertility"] == pytest.approx(7 / 5)
    assert r["split_share"] == pytest.approx(1 / 5)
    assert r["unk_rate"] == pytest.approx(2 / 8)
    assert r["chars_per_token"] == pytest.approx(26 / 8)


def test_most_fragmented_words_and_overlap():
    lines = ["pneumopathie pneumopathie la la fièvre fièvre"]
    smaller = hand_made(VOCAB[:5] + ["la", "pneu", "##mo"])
    result = audit([Audited("a", hand_made()), Audited("b", smaller)], lines, top=2)
    assert result["tokenizers"]["a"]["most_fragmented"][0] == {
        "word": "pneumopathie", "count": 2, "pieces": ["pneu", "##mo", "##pathie"]}
    # vocabularies without specials and markers: a = {la, pneu, mo, pathie, fièvre}, b = {la, pneu, mo}
    assert result["vocabulary_overlap"]["a"]["b"] == pytest.approx(3 / 5)
    assert result["vocabulary_overlap"]["a"]["a"] == 1.0


def test_words_and_markers():
    assert words_of("Le thoraco-abdomino-pelvien d'un patient, 12 mg.") == [
        "Le", "thoraco-abdomino-pelvien", "d'un", "patient", "12", "mg"]
    assert [bare(t) for t in ("Ġpneu", "▁pneu", "##mo", "la")] == ["pneu", "pneu", "mo", "la"]


def test_reports_and_cli(tmp_path, tiny_tokenizer_dir, capsys):
    text = tmp_path / "held-out.txt"
    text.write_text("La pneumopathie aiguë du patient.\nThe patient was treated with amoxicillin.\n")
    out = tmp_path / "audit"
    assert cli.main(["tokenizer", "audit", str(tiny_tokenizer_dir), str(tiny_tokenizer_dir), "--text", str(text),
                     "--out", str(out), "--top", "3"]) == 0
    assert "| tokenizer | fertility |" in capsys.readouterr().out
    for name in ("audit.md", "audit.csv", "audit.json", "audit.png"):
        assert (out / name).stat().st_size > 0
    data = json.loads((out / "audit.json").read_text())
    assert len(data["tokenizers"]) == 2  # the same folder twice gets two names
    assert (out / "audit.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_errors(tmp_path, tiny_tokenizer_dir, capsys):
    assert cli.main(["tokenizer", "audit", str(tiny_tokenizer_dir), "--text", str(tmp_path / "none.txt")]) == 2
    assert "audit text not found" in capsys.readouterr().err
    (tmp_path / "t.txt").write_text("words\n")
    assert cli.main(["tokenizer", "audit", str(tmp_path / "missing"), "--text", str(tmp_path / "t.txt")]) == 2
    assert "tokenizer folder not found" in capsys.readouterr().err


def test_write_reports_table(tmp_path):
    result = audit([Audited("hand", hand_made())], ["la pneumopathie"], top=1)
    write_reports(result, tmp_path, "x.txt")
    assert "| hand | 2.000 | 50.0% | 0.00% |" in (tmp_path / "audit.md").read_text()
