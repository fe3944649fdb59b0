from __future__ import annotations

import copy
import pickle
import random

import pytest

from medforge.corpus.store import SHARDS, SplitWriter, shard_name
from medforge.data.pack import build_packed
from medforge.data.packers import pack_docs

BOS, EOS, PAD = 0, 2, 1


def test_greedy_packing_loses_no_token_and_pads_only_the_last_sequence():
    rng = random.Random(0)
    docs = [[rng.randint(5, 99) for _ in range(rng.randint(1, 40))] for _ in range(57)]
    rows = list(pack_docs(((d, [i % 2 for i in range(len(d))], [0]) for d in docs), seq_len=16, bos=BOS, eos=EOS,
                          pad=PAD))
    assert all(len(r["input_ids"]) == 16 and r["input_ids"][0] == BOS for r in rows)
    assert all(r["n_real"] == 16 for r in rows[:-1])
    stream = [t for r in rows for t in r["input_ids"][1:r["n_real"]]]
    expected = [t for d in docs for t in d + [EOS]]
    assert stream == expected  # same tokens, same order, nothing dropped
    last = rows[-1]
    assert last["input_ids"][last["n_real"]:] == [PAD] * (16 - last["n_real"])
    flags = [f for r in rows for f in r["starts"][1:r["n_real"]]]
    assert flags == [f for d in docs for f in [i % 2 for i in range(len(d))] + [1]]  # flags travel with tokens
    assert all(len(r["starts"]) == 16 and r["starts"][0] == 1 for r in rows)


def test_exact_fit_leaves_no_padded_sequence():
    rows = list(pack_docs([([7] * 6, [1] * 6, [0]), ([8] * 6, [1] * 6, [0])], seq_len=8, bos=BOS, eos=EOS, pad=PAD))
    assert [r["n_real"] for r in rows] == [8, 8]


def test_build_packed_conserves_tokens(tmp_path, tiny_tokenizer, sample_texts):
    corpus = tmp_path / "corpus"
    docs = sample_texts[:30]
    for shard, part in enumerate((docs[:20], docs[20:])):  # two shards, read in order
        writer = SplitWriter(corpus / SHARDS / shard_name("train", shard, "parquet"))
        for i, text in enumerate(part):
            writer.add(text, "s", "f", i)
        writer.close()
    packed, stats = build_packed(corpus, "train", tiny_tokenizer, 64, tmp_path / "packed")
    doc_tokens = sum(len(tiny_tokenizer(d, add_special_tokens=False)["input_ids"]) for d in docs)
    assert stats["document_tokens"] == doc_tokens and stats["documents"] == 30
    assert stats["real_tokens"] == doc_tokens + stats["sequences"] + 30
    assert len(packed) == stats["sequences"] and 0 <= stats["padding_fraction"] < 64 / (64 * len(packed)) + 1e-9
    assert not list(tmp_path.joinpath("packed").glob(".cache-*"))


def test_an_empty_split_packs_to_no_sequence(tmp_path, tiny_tokenizer):
    corpus = tmp_path / "corpus"
    (corpus / SHARDS).mkdir(parents=True)  # a split without a shard file: prepare writes none when it is empty
    packed, stats = build_packed(corpus, "validation", tiny_tokenizer, 64, tmp_path / "packed")
    assert len(packed) == 0 and stats["sequences"] == 0 and stats["real_tokens"] == 0


def _corpus(tmp_path, docs):
    corpus = tmp_path / "corpus"
    writer = SplitWriter(corpus / SHARDS / shard_name("train", 0, "parquet"))
    for i, text in enumerate(docs):
        writer.add(text, "s", "f", i)
    writer.close()
    return corpus


def test_special_token_strings_in_documents_are_packed_as_text(tmp_path, tiny_tokenizer):
    """HTML strike-through "<s>", a literal "</s>", "<pad>" or "<mask>" must not become control tokens: a
    mid-sequence <pad> would be unattended, a </s> a fake document end."""
    corpus = _corpus(tmp_path, ["Dose <s>10 mg</s> 20 mg.", "Type <mask> or <pad> or <unk> here."])
    packed, stats = build_packed(corpus, "train", tiny_tokenizer, 64, tmp_path / "packed")
    row = packed[0]["input_ids"][:packed[0]["n_real"]]
    specials = set(tiny_tokenizer.all_special_ids)
    inner = [t for t in row[1:] if t in specials]
    assert inner == [tiny_tokenizer.eos_token_id] * 2  # only the two document ends
    assert stats["separator_tokens"] == stats["sequences"] + 2


def test_a_finished_build_is_reused_and_a_changed_one_rebuilt(tmp_path, tiny_tokenizer, sample_texts, monkeypatch):
    import medforge.data.pack as pack

    corpus = _corpus(tmp_path, sample_texts[:20])
    first, stats = build_packed(corpus, "train", tiny_tokenizer, 64, tmp_path / "packed")
    assert "reused" not in stats

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(pack, "tokenize_split", no_tokenizing)
    again, stats_again = build_packed(corpus, "train", tiny_tokenizer, 64, tmp_path / "packed")
    assert stats_again.pop("reused") and stats_again == stats and again["input_ids"] == first["input_ids"]
    monkeypatch.undo()
    other, _ = build_packed(corpus, "train", tiny_tokenizer, 32, tmp_path / "packed")  # another length
    assert len(other[0]["input_ids"]) == 32
    (tmp_path / "packed" / "train" / pack.PACKED_MARKER).write_text("{")  # torn by a crash: rebuilt
    monkeypatch.setattr(pack, "tokenize_split", no_tokenizing)
    try:
        build_packed(corpus, "train", tiny_tokenizer, 32, tmp_path / "packed")
        raise RuntimeError("a torn marker was trusted")
    except AssertionError as err:
        assert "tokenized again" in str(err)


def test_two_packing_workers_give_the_same_sequences_as_one(tmp_path, tiny_tokenizer, sample_texts):
    corpus = _corpus(tmp_path, sample_texts[:200])
    one, stats_one = build_packed(corpus, "train", tiny_tokenizer, 64, tmp_path / "one", "sentence")
    two, stats_two = build_packed(corpus, "train", tiny_tokenizer, 64, tmp_path / "two", "sentence", workers=2)
    assert stats_one == stats_two
    for column in ("input_ids", "starts", "n_real"):
        assert one[column] == two[column]


def _three_shards(tmp_path, texts):
    corpus = tmp_path / "corpus"
    for s in range(3):
        writer = SplitWriter(corpus / SHARDS / shard_name("train", s, "parquet"))
        for i, text in enumerate(texts[s::3]):
            writer.add(text, "s", "f", i)
        writer.close()
    return corpus


def test_tokenized_files_are_kept_and_reused_by_parts_the_short_phase_and_reruns(tmp_path, tiny_tokenizer,
                                                                                   sample_texts, monkeypatch):
    """Parts tokenized separately (as SLURM array tasks would), then a build that tokenizes nothing gives the
    sequences of a build that tokenized everything itself; a torn marker or another mode is tokenized again."""
    import medforge.data.pack as pack

    corpus = _three_shards(tmp_path, sample_texts[:150])
    fresh, fresh_stats = build_packed(corpus, "train", tiny_tokenizer, 64, tmp_path / "fresh")
    tokens = tmp_path / "work" / "train"
    done = [pack.tokenize_split(corpus, "train", tiny_tokenizer, tokens, only={0, 2}),
            pack.tokenize_split(corpus, "train", tiny_tokenizer, tokens, only={1})]
    assert [len(d) for d in done] == [2, 1] and len(list(tokens.glob("tokens-*.json"))) == 3
    calls = []
    real = pack.tokenize_file
    monkeypatch.setattr(pack, "tokenize_file", lambda *args: calls.append(args[0]) or real(*args))
    for length in (64, 32):  # the long phase and the short phase both reuse them
        packed, stats = build_packed(corpus, "train", tiny_tokenizer, length, tmp_path / f"p{length}",
                                     tokens_dir=tokens)
    assert calls == [] and packed[0]["input_ids"].__len__() == 32
    again, stats = build_packed(corpus, "train", tiny_tokenizer, 64, tmp_path / "again", tokens_dir=tokens)
    assert calls == [] and stats == fresh_stats and again["input_ids"] == fresh["input_ids"]
    assert tokens.is_dir()  # kept for the next build
    (tokens / "tokens-000001.json").write_text("{")  # torn by a crash: that file alone is redone
    build_packed(corpus, "train", tiny_tokenizer, 64, tmp_path / "torn", tokens_dir=tokens)
    assert [p.rsplit("-", 1)[1] for p in calls] == ["00001.parquet"]
    calls.clear()
    build_packed(corpus, "train", tiny_tokenizer, 64, tmp_path / "sentence", "sentence", tokens_dir=tokens)
    assert len(calls) == 3  # sentence cuts are not in files made for mode pack


def _reference(tokenizer, texts, mode):
    """What the encoder computed before it called the backend: the transformers call, word starts per token."""
    from medforge.data.packers import unit_cuts

    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, split_special_tokens=True,
                        verbose=False)
    rows = []
    for i, text in enumerate(texts):
        words = encoded.word_ids(i)
        starts = [1 if j == 0 or w is None or w != words[j - 1] else 0 for j, w in enumerate(words)]
        cuts = unit_cuts(text, [a for a, _ in encoded["offset_mapping"][i]], mode) if mode != "pack" else [0]
        rows.append({"ids": encoded["input_ids"][i], "cuts": cuts, "starts": starts})
    return rows


@pytest.mark.parametrize("mode", ["pack", "sentence", "line"])
def test_encoder_equals_the_transformers_call(tiny_tokenizer, sample_texts, mode):
    from medforge.data.pack import Encoder

    texts = sample_texts[:40] + ["", "Dose <s>10 mg</s> 20 mg. Type <mask> or <pad>.", "患者は入院した。😀 x",
                                 "Line one.\nLine two! Third? Yes", "   spaced   out   "]
    encoder = Encoder(tiny_tokenizer, mode)
    table = encoder(texts)
    assert table.to_pylist() == _reference(tiny_tokenizer, texts, mode)
    assert pickle.loads(pickle.dumps(encoder))(texts[:5]).equals(table.slice(0, 5))  # as sent to a worker


def test_encoder_ignores_the_saved_truncation_and_padding(tiny_tokenizer):
    from medforge.data.pack import Encoder

    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.backend_tokenizer.enable_truncation(4)
    tokenizer.backend_tokenizer.enable_padding(length=64)
    text = "une phrase assez longue pour dépasser quatre tokens sans aucun doute"
    assert Encoder(tokenizer, "pack")([text]).column("ids").to_pylist() == \
        [tiny_tokenizer(text, add_special_tokens=False)["input_ids"]]


def test_one_backend_copy_for_every_file_in_this_process(tmp_path, tiny_tokenizer, sample_texts, monkeypatch):
    """Each encoder keeps a copy of the tokenizer's backend: one per file held every copy to the end (+130 MB
    with an 8k BPE on 17 files)."""
    import medforge.data.pack as pack

    corpus = tmp_path / "corpus"
    for shard in range(3):
        writer = SplitWriter(corpus / SHARDS / shard_name("train", shard, "parquet"))
        for i, text in enumerate(sample_texts[shard * 10:(shard + 1) * 10]):
            writer.add(text, "s", "f", i)
        writer.close()
    built = set()
    original = pack.Encoder.backend

    def counted(self):
        built.add(id(self))
        return original(self)

    monkeypatch.setattr(pack.Encoder, "backend", counted)
    files = pack.tokenize_split(corpus, "train", tiny_tokenizer, tmp_path / "work")
    assert len(files) == 3 and len(built) == 1
