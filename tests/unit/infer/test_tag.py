from medforge.infer.tag import decode


def test_decode_iob2_spans_and_stray_continuations():
    tags = ["B-A", "I-A", "O", "I-B", "I-B", "B-B", "B-A", "I-B"]
    assert decode(tags) == [(0, 2, "A"), (3, 5, "B"), (5, 6, "B"), (6, 7, "A"), (7, 8, "B")]
    assert decode(["O", "O"]) == [] and decode(["B-X"]) == [(0, 1, "X")]


import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="module")
def tag_everything(tmp_path_factory, tiny_tokenizer):
    """A token classifier that tags every word as an entity of its own (B-X): each word's offsets show."""
    from transformers import AutoModelForTokenClassification

    from medforge.models.presets import build_mlm

    folder = tmp_path_factory.mktemp("tagger")
    build_mlm("roberta", "tiny", tiny_tokenizer, 64).save_pretrained(folder)
    model = AutoModelForTokenClassification.from_pretrained(folder, num_labels=2, id2label={0: "O", 1: "B-X"},
                                                            label2id={"O": 0, "B-X": 1})
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 10.0]))
    model.save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(("name", "raw"), [
    ("crlf", b"Fever since Monday.\r\nAspirin given.\r\nBetter now.\r\n"),
    ("cr", b"Fever since Monday.\rAspirin given.\rBetter now."),
    ("bom", "\ufeffFever since Monday.\nAspirin given.\n".encode()),
    ("bom-crlf", "\ufeffFever since Monday.\r\nAspirin given.".encode()),
])
def test_offsets_index_the_text_written_beside_the_ann(tag_everything, tmp_path, name, raw):
    import json

    from medforge.infer.tag import tag_files

    source = tmp_path / f"{name}.txt"
    source.write_bytes(raw)
    tag_files(str(tag_everything), [str(source)], tmp_path / "out")
    written = (tmp_path / "out" / f"{name}.txt").read_bytes().decode("utf-8")
    entities = [json.loads(line) for line in (tmp_path / "out" / f"{name}.jsonl").read_text().splitlines()]
    assert [e["text"] for e in entities] == ["Fever", "since", "Monday", ".", "Aspirin", "given", "."] + (
        ["Better", "now", "."] if "Better" in written else [])
    for e in entities:
        assert written[e["start"]:e["end"]] == e["text"]
    assert written == raw.decode("utf-8").removeprefix("\ufeff")  # line ends kept as they were
    for line in (tmp_path / "out" / f"{name}.ann").read_text(encoding="utf-8").splitlines():
        _, span, text = line.split("\t")
        start, end = map(int, span.split()[1:])
        assert written[start:end] == text
