from __future__ import annotations

import pytest

from medforge.errors import InputError
from medforge.tasks.conll import read_conll, read_predictions, write_predictions
from tests_shared import shared_data


def write(tmp_path, text, name="t.conll"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_tab_and_space_separated_sentences(tmp_path):
    f = read_conll(write(tmp_path, "-DOCSTART- O\n\nFever\tB-DISEASE\nhigh\tO\n\n\nLe O\nfoie B-ANATOMY\n"))
    assert [s.tokens for s in f.sentences] == [["Fever", "high"], ["Le", "foie"]]
    assert [s.line for s in f.sentences] == [3, 7]
    assert f.types == {"DISEASE", "ANATOMY"} and f.skipped_lines["docstart"] == 1


@pytest.mark.parametrize("text, match", [
    ("a\tO\nbroken-line-without-tag\n", r"t\.conll:2: expected 'token<TAB>tag'"),
    ("a\tO\nb\tB_DISEASE\n", r"t\.conll:2: tag 'B_DISEASE' is not IOB2"),
    ("\n\n", r"no sentence found"),
])
def test_malformed_files_name_the_line(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        read_conll(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="NER file not found"):
        read_conll(tmp_path / "nope.conll")


def test_invalid_i_tags_are_repaired_and_counted(tmp_path):
    f = read_conll(write(tmp_path, "a\tI-X\nb\tO\n"))
    assert f.sentences[0].tags == ["B-X", "O"] and f.repaired_tags == 1


def test_other_schemes_are_read_into_iob2_and_their_repairs_counted(tmp_path):
    f = read_conll(write(tmp_path, "a S-X\nb B-Y\nc E-Y\nd E-X\n"), scheme="iobes")
    assert f.sentences[0].tags == ["B-X", "B-Y", "I-Y", "B-X"] and f.repaired_tags == 1
    with pytest.raises(InputError, match=r"t\.conll:1: tag 'S-X' is not IOB2 \(expected O or B/I-TYPE\); set the "
                                         "task's 'scheme'"):
        read_conll(write(tmp_path, "a S-X\n"))


def test_predictions_round_trip(tmp_path):
    f = read_conll(write(tmp_path, "a\tB-X\nb\tO\n\nc\tO\n"))
    write_predictions(tmp_path / "p.tsv", f.sentences, [["B-X", "B-X"], ["O"]])
    assert read_predictions(tmp_path / "p.tsv") == ([["B-X", "O"], ["O"]], [["B-X", "B-X"], ["O"]])


def test_embedded_sample_reads():
    for split, n in (("train", 260), ("dev", 70), ("test", 70)):
        f = read_conll(f"asset:sample/ner/{split}.conll")
        assert len(f.sentences) == n and f.types == {"DISEASE", "DRUG", "ANATOMY"} and f.repaired_tags == 0


@pytest.mark.parametrize("relative, n_sentences, types", [
    ("ner/en/ncbi-disease/test.tsv", 940, {"Disease"}),
    # the data README calls E3C's type CLINENTITY; the files tag it "ety"
    ("ner/fr/e3c-layer1/test.txt", 605, {"ety"}),
])
def test_reads_the_shared_real_data_sets(relative, n_sentences, types):
    f = read_conll(shared_data(relative))
    assert len(f.sentences) == n_sentences and f.types == types
