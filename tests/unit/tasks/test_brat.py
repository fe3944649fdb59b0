from __future__ import annotations

from collections import Counter

import pytest

from medforge.errors import InputError
from medforge.tasks.brat import read_brat
from medforge.tasks.conll import read_conll
from tests_shared import shared_data

TEXT = "Le cancer du foie est traité. Une douleur chronique persiste.\nFin"


def at(word: str) -> str:
    start = TEXT.index(word)
    return f"{start} {start + len(word)}"


ANN = f"""T1\tDISO {at("cancer du foie")}\tcancer du foie
T2\tANAT {at("foie")}\tfoie
#1\tAnnotatorNotes T1\tC0345904
T3\tDISO {at("douleur")};{at("chronique")}\tdouleur chronique
T4\tPROC {at("trai")}\ttrai
"""


def write(tmp_path, text=TEXT, ann=ANN):
    folder = tmp_path / "split"
    folder.mkdir(exist_ok=True)
    (folder / "d1.txt").write_text(text)
    (folder / "d1.ann").write_text(ann)
    return folder


def tags(f):
    return [list(zip(s.tokens, s.tags)) for s in f.sentences]


def test_outermost_spans_discontinuous_and_widens_to_tokens(tmp_path):
    f = read_brat(write(tmp_path))
    sents = tags(f)
    assert len(sents) == 3  # split after "traité." and at the line break
    assert sents[0][1:5] == [("cancer", "B-DISO"), ("du", "I-DISO"), ("foie", "I-DISO"), ("est", "O")]
    assert sents[0][5] == ("traité", "B-PROC")  # "trai" widened to the whole token
    assert sents[1][1:3] == [("douleur", "B-DISO"), ("chronique", "I-DISO")]
    assert f.skipped_lines == {"discontinuous entities spanned": 1, "entity boundaries widened to whole tokens": 1,
                               "nested entities removed (outermost)": 1, "skipped # lines (not entities)": 1}


def test_innermost_layered_and_dropping_discontinuous(tmp_path):
    folder = write(tmp_path)
    inner = tags(read_brat(folder, nested="innermost", discontinuous="drop"))
    assert inner[0][1:4] == [("cancer", "O"), ("du", "O"), ("foie", "B-ANAT")]
    assert all(tag == "O" for _, tag in inner[1])
    second = read_brat(folder, nested="layered", layer=1)
    assert [t for s in second.sentences for t in s.tags if t != "O"] == ["B-ANAT"]


def test_crossing_entities_keep_the_longer(tmp_path):
    ann = f"T1\tA {at('cancer du')}\tcancer du\nT2\tB {at('du foie')}\tdu foie\nT3\tC {at('Le cancer du foie')}\tLe cancer du foie\n"  # noqa: E501
    f = read_brat(write(tmp_path, ann=ann), nested="innermost")
    assert [t for t in f.sentences[0].tags[:4]] == ["O", "B-A", "I-A", "O"]
    assert f.skipped_lines["crossing entities removed"] == 1


@pytest.mark.parametrize(("ann", "match"), [
    ("T1\tDISO 3 200\tx\n", r"d1\.ann:1: offsets 3-200 fall outside the text"),
    (f"T1\tDISO {at('cancer')}\tcanard\n", r"d1\.ann:1: the annotated text 'canard' differs from the document's 'cancer'"),  # noqa: E501
    ("T1 DISO 3 9 cancer\n", r"d1\.ann:1: expected 'T<n><TAB>TYPE START END"),
])
def test_bad_annotations_name_the_line(tmp_path, ann, match):
    with pytest.raises(InputError, match=match):
        read_brat(write(tmp_path, ann=ann))


def test_a_txt_without_its_ann_is_an_error(tmp_path):
    folder = write(tmp_path)
    (folder / "d2.txt").write_text("x")
    with pytest.raises(InputError, match=r"d2\.ann: missing"):
        read_brat(folder)


@pytest.mark.parametrize(("split", "conll"), [("train", "EMEA_train.tsv"), ("dev", "EMEA_dev.tsv"),
                                             ("test", "EMEA_test.tsv")])
def test_quaero_brat_outermost_equals_the_distributed_conversion(split, conll):
    brat = read_brat(shared_data(f"ner/fr/quaero-emea-brat/{split}"))
    reference = read_conll(shared_data(f"ner/fr/quaero-emea/{conll}"))

    def entities(f):
        return Counter(t[2:] for s in f.sentences for t in s.tags if t.startswith("B-"))

    assert entities(brat) == entities(reference)
    assert sum(len(s.tokens) for s in brat.sentences) == sum(len(s.tokens) for s in reference.sentences)


def test_sentences_never_end_inside_an_entity_or_a_spaced_acronym(tmp_path):
    """QUAERO-style MEDLINE titles: "U . R . S . S" is one GEOG entity; the splitter cut it at every ". "
    before a capital, making several entities in several sentences (gold grew from 2,286 to 2,293)."""
    text = "Épidémie en U . R . S . S et ailleurs. Elle touche St. Louis aussi. Puis une autre."
    spans = {"U . R . S . S": "GEOG", "St. Louis": "GEOG"}
    ann = "".join(f"T{i}\t{kind} {text.index(w)} {text.index(w) + len(w)}\t{w}\n"
                  for i, (w, kind) in enumerate(spans.items(), start=1))
    f = read_brat(write(tmp_path, text, ann))
    entities = [t for s in f.sentences for t in s.tags if t.startswith("B-")]
    assert entities == ["B-GEOG", "B-GEOG"]  # two entities, each whole in one sentence
    assert not any("split" in k or "added" in k for k in f.skipped_lines)
    assert [" ".join(s.tokens) for s in f.sentences] == [
        "Épidémie en U . R . S . S et ailleurs .", "Elle touche St . Louis aussi .", "Puis une autre ."]


def test_an_entity_across_a_line_break_is_counted_with_the_mentions_it_adds(tmp_path):
    text = "Le cancer du\nfoie est traité.\n"
    f = read_brat(write(tmp_path, text, "T1\tDISO 3 17\tcancer du foie\n"))  # brat's text column: a space
    assert f.skipped_lines["entities split across lines"] == 1
    assert f.skipped_lines["entity mentions added by those splits"] == 1


def test_crlf_documents_keep_brat_offsets(tmp_path):
    """brat counts a CRLF as two characters: the .txt is read without newline translation."""
    text = "Le cancer du foie.\r\nUne douleur persiste.\r\n"
    start = text.index("douleur")
    folder = tmp_path / "crlf"
    folder.mkdir()
    (folder / "d1.txt").write_bytes(text.encode())
    (folder / "d1.ann").write_text(f"T1\tDISO {start} {start + 7}\tdouleur\n")
    sentences = read_brat(folder).sentences
    assert list(zip(sentences[1].tokens, sentences[1].tags))[1] == ("douleur", "B-DISO")
