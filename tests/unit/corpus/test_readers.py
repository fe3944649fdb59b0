from __future__ import annotations

import bz2
import gzip
import lzma
import random
import unicodedata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from medforge import paths
from medforge.corpus.normalize import Normalizer, normalize
from medforge.corpus.readers import Counts, expand, read_documents
from medforge.corpus.split import assign, copies, split_score
from medforge.errors import InputError

DOCS = ["Fièvre à 39 °C depuis trois jours.", "Toux sèche, \"dyspnée\", pas de douleur.", "Aspirin, 100 mg\tdaily."]
COMPRESS = {"": lambda b: b, ".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress,
            ".zst": lambda b: zstandard.ZstdCompressor().compress(b)}


def content(fmt: str) -> bytes:
    import csv
    import io
    import json

    if fmt == "txt":
        return ("\n".join(DOCS) + "\n").encode()
    if fmt == "jsonl":
        return "".join(json.dumps({"id": i, "body": d}, ensure_ascii=False) + "\n" for i, d in enumerate(DOCS)).encode()
    out = io.StringIO()
    writer = csv.writer(out, delimiter="," if fmt == "csv" else "\t")
    writer.writerow(["id", "body"])
    writer.writerows([i, d] for i, d in enumerate(DOCS))
    return out.getvalue().encode()


def read(path: Path, **kw) -> tuple[list[str], Counts]:
    counts = Counts()
    docs = [text for _, text in read_documents(path, counts, text_field="body", text_column="body", **kw)]
    return docs, counts


@pytest.mark.parametrize("compression", list(COMPRESS))
@pytest.mark.parametrize("fmt", ["txt", "jsonl", "csv", "tsv"])
def test_every_format_and_compression_reads_the_same_documents(tmp_path, fmt, compression):
    path = tmp_path / f"docs.{fmt}{compression}"
    path.write_bytes(COMPRESS[compression](content(fmt)))
    assert read(path)[0] == DOCS


def test_parquet_column_and_missing_column(tmp_path):
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "body": DOCS}), path)
    assert read(path)[0] == DOCS
    with pytest.raises(InputError, match=r"docs\.parquet: no column 'text' \(columns: \['id', 'body'\]\)"):
        list(read_documents(path, Counts()))


def test_paragraph_mode_and_csv_fields_spanning_lines(tmp_path):
    txt = tmp_path / "notes.txt"
    txt.write_text("first line\nsame doc\n\n\nsecond doc\n", encoding="utf-8")
    assert read(txt, paragraphs=True)[0] == ["first line\nsame doc", "second doc"]
    table = tmp_path / "t.csv"
    table.write_text('body,id\n"two\nlines",1\nplain,2\n', encoding="utf-8")
    assert read(table)[0] == ["two\nlines", "plain"]


@pytest.mark.parametrize("fmt, body, match", [
    ("jsonl", '{"text": "x"}\n', r"a\.jsonl:1: no field 'body' \(fields: \['text'\]\)"),
    ("jsonl", '{"body": "ok"}\n{broken\n', r"a\.jsonl:2: invalid JSON"),
    ("csv", "id,text\n1,x\n", r"a\.csv:1: no column 'body' \(columns: \['id', 'text'\]\)"),
])
def test_missing_fields_name_the_file_and_the_fields_that_exist(tmp_path, fmt, body, match):
    path = tmp_path / f"a.{fmt}"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=match):
        read(path)


def test_invalid_utf8_policies(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"ok\n" + "fi\u00e8vre\n".encode("latin-1") + b"fine\n")
    docs, counts = read(path)
    assert docs == ["ok", "fi\ufffdvre", "fine"] and counts.repaired["invalid_utf8_replaced"] == 1
    assert counts.first_positions["invalid_utf8_replaced"] == [f"{path}:2 byte 2"]
    docs, counts = read(path, invalid_utf8="skip_line")
    assert docs == ["ok", "fine"] and counts.dropped["invalid_utf8"] == 1
    with pytest.raises(InputError, match=r"latin1\.txt:2: not valid UTF-8"):
        read(path, invalid_utf8="fail")


def test_nul_bytes_binary_and_empty_files_are_skipped_and_counted(tmp_path):
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"a" * 2000 + b"\nbad\x00line\ngood\n")
    docs, counts = read(nul)
    assert docs == ["a" * 2000, "good"] and counts.dropped["nul_bytes"] == 1
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    docs, counts = read(binary)
    assert docs == [] and counts.skipped_files[0]["reason"].startswith("binary")
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    docs, counts = read(empty)
    assert docs == [] and counts.skipped_files == [{"file": str(empty), "reason": "empty file"}]


def test_a_line_of_several_megabytes_is_one_document(tmp_path):
    path = tmp_path / "long.txt.gz"
    path.write_bytes(gzip.compress(("mot " * 1_500_000 + "\ncourt\n").encode()))
    docs, _ = read(path)
    assert len(docs) == 2 and len(docs[0]) == 6_000_000


@pytest.mark.parametrize("compression", [".gz", ".bz2", ".xz", ".zst"])
def test_truncated_compressed_files_are_errors_naming_the_file(tmp_path, compression):
    data = COMPRESS[compression](("line of text number %d\n" * 1 % 1).encode() * 20_000)
    path = tmp_path / f"cut.txt{compression}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=rf"cut\.txt\{compression}: the compressed file is damaged or truncated"):
        read(path)


def test_folders_and_globs_expand_to_sorted_readable_files(tmp_path):
    for name in ("b.txt", "a.jsonl.gz", "sub/c.csv", "notes.docx"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    assert [p.name for p in expand(tmp_path)] == ["a.jsonl.gz", "b.txt", "c.csv"]
    assert [p.name for p in expand(str(tmp_path / "*.txt"))] == ["b.txt"]
    with pytest.raises(InputError, match="matches no file"):
        expand(str(tmp_path / "*.parquet"))
    with pytest.raises(InputError, match="unsupported file type '.docx'"):
        read(tmp_path / "notes.docx")


def test_asset_prefix_reads_the_embedded_sample():
    docs = list(read_documents(paths.resolve("asset:sample/corpus/fr.txt"), Counts()))
    assert len(docs) == 300 and all(text for _, text in docs)


def test_normalisation_options():
    decomposed = "fie\u0300vre  \u00a0aigu\u0308e\t"
    assert normalize(decomposed, "NFC") == "fièvre aigüe"
    assert normalize("ﬁbrose ＡＢＣ", "NFKC") == "fibrose ABC"
    assert normalize("ﬁbrose", "NFC") == "ﬁbrose"
    assert normalize("a\x07b\ufeffc\x1b", "NFC") == "abc"  # control characters and BOM removed
    assert Normalizer(fullwidth=True)("CRP 12 mg/L")[0] == "ＣＲＰ １２ ｍｇ／Ｌ"  # spaces stay, as in the tokenizer
    assert Normalizer(lowercase=True)("Fièvre AIGUË")[0] == "fièvre aiguë"
    fixed, repaired = Normalizer(fix_mojibake=True)("FiÃ¨vre et toux sÃ¨che")
    assert fixed == "Fièvre et toux sèche" and repaired
    assert Normalizer(fix_mojibake=True)("Fièvre")[1] is False


def test_mojibake_check_is_the_pattern_it_replaced():
    """A lead (Ã, Â, â) followed by a follower (U+0080-U+00BF, U+2018-U+203A, €), found with finds: the same
    answer as the regular expression on every short string over the boundary characters."""
    import random
    import re

    from medforge.corpus.normalize import shows_mojibake

    pattern = re.compile("[ÃÂâ][\u0080-\u00bf\u2018-\u203a\u20ac]")
    rnd = random.Random(1)
    alphabet = "ÃÂâaé\u007f\u0080\u00bf\u00c0\u2017\u2018\u203a\u203b\u20ac\u20ad"
    texts = ["".join(rnd.choice(alphabet) for _ in range(rnd.randrange(7))) for _ in range(50_000)]
    assert [shows_mojibake(t) for t in texts] == [bool(pattern.search(t)) for t in texts]
    assert shows_mojibake("lâ€™hôpital") and not shows_mojibake("l’âge du théâtre")


def test_printable_text_skips_only_what_has_nothing_to_change():
    """The fast path: a printable text has no character the regular expressions or str.split act on."""
    from medforge.corpus.normalize import _CONTROLS, _SPACE_LIKE, fold_spaces

    acted_on = [c for c in map(chr, range(0x110000)) if c != " " and (
        c.isspace() or c == "\u200b" or _SPACE_LIKE.match(c) or _CONTROLS.match(c))]
    assert acted_on and not [c for c in acted_on if c.isprintable()]
    rng = random.Random(0)
    alphabet = ["a", "é", "患", " ", "  ", "\n", "\t", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u2028", "\u3000",
                "\u200b", "\ufeff", "\x07", "\x7f", "e\u0301"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        slow = _CONTROLS.sub("", _SPACE_LIKE.sub(" ", unicodedata.normalize("NFC", text)))
        if "\u200b" in slow:
            slow = slow.replace("\u200b", "")
        slow = "\n".join(line for line in (" ".join(part.split()) for part in slow.split("\n")) if line)
        assert normalize(text) == slow == fold_spaces(slow), repr(text)


def test_split_is_seeded_stable_and_near_the_fraction():
    texts = [f"document number {i}" for i in range(4000)]
    first = [assign(t, 42, 0.1, 0.05) for t in texts]
    assert first == [assign(t, 42, 0.1, 0.05) for t in reversed(texts)][::-1]  # order does not matter
    assert 0.08 < first.count("validation") / len(texts) < 0.12 and 0.035 < first.count("test") / len(texts) < 0.065
    assert first != [assign(t, 43, 0.1, 0.05) for t in texts]  # the seed matters
    assert all(0 <= split_score(t, 1) < 1 for t in texts[:50])
    written = [copies(t, 0, 1.5) for t in texts]
    assert set(written) == {1, 2} and 0.45 < written.count(2) / len(texts) < 0.55
    assert {copies(t, 0, 3.0) for t in texts} == {3}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("fmt", ["txt", "jsonl", "csv"])
def test_utf16_and_utf32_files_with_a_byte_order_mark_are_decoded(tmp_path, encoding, fmt):
    """They were classified as binary (their NUL bytes) and skipped: lost with exit 0 beside another file."""
    import codecs

    text = content(fmt).decode()
    bom = {"utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    path = tmp_path / f"d.{fmt}"
    path.write_bytes(bom + text.encode(encoding))
    docs, counts = read(path)
    assert docs == DOCS and not counts.skipped_files
    assert any("byte-order mark" in reason for reason in counts.repaired)


@pytest.mark.parametrize("fmt", ["txt", "jsonl", "csv", "tsv"])
def test_a_utf8_byte_order_mark_is_not_part_of_the_first_line(tmp_path, fmt):
    path = tmp_path / f"d.{fmt}"
    path.write_bytes(b"\xef\xbb\xbf" + content(fmt))  # broke the first CSV header and the first JSON line
    docs, _ = read(path)
    assert docs == DOCS


def test_word_separating_controls_become_spaces_and_lone_cr_ends_a_line(tmp_path):
    assert normalize("page\fDébut\vsuite\x85fin\u2028encore\u2029x\ry") == "page Début suite fin encore x y"
    path = tmp_path / "mac.txt"
    path.write_bytes("Fièvre.\rToux sèche.\rAspirine.".encode())  # a CR-only file was one document
    docs, _ = read(path)
    assert docs == ["Fièvre.", "Toux sèche.", "Aspirine."]
