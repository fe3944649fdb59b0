"""Tokenize a prepared split and pack it into fixed-length Arrow sequences, losing no token.

Tokenization runs in batches through the tokenizer's backend and keeps, per document, the word-start flags
(for whole-word masking) and the sentence or line cuts its packing mode needs; ``packers``
decides where sequences end. The stream runs across the whole split, so unlike ``run_mlm.py``'s
``group_texts`` no map batch's remainder is dropped; conservation is asserted on every build.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Collection, Iterator
from itertools import chain
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datasets import Dataset, Features, Sequence, Value
from datasets.arrow_writer import ArrowWriter

from medforge import executors, meta
from medforge.arrowcols import lists
from medforge.corpus.store import count_rows, split_files
from medforge.data.packers import Block, Chunk, greedy, groups, pack_docs, unit_cuts
from medforge.tokenizer.japanese import PRE_SEGMENT_KEY, preprocessor

# a finished build leaves this marker with its fingerprint; a rerun with the same inputs reuses the build
PACKED_MARKER = "_PACKED.json"
# tokenized shard files, kept under the run folder (not the stage's, which a changed config wipes) so that a
# rerun, the short phase and the parts of a SLURM array reuse every finished file
PACK_WORK = "pack-work"
PACK_VERSION = 2  # bump when the packed bytes change for the same inputs (2: special-token strings as text)

logger = logging.getLogger(__name__)

TOKENIZED = pa.schema([("ids", pa.list_(pa.int32())), ("cuts", pa.list_(pa.int32())), ("starts", pa.list_(pa.int8()))])
FEATURES = Features({"input_ids": Sequence(Value("int32")), "starts": Sequence(Value("int8")),
                     "n_real": Value("int32")})


def word_starts(word_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """int8 flags, 1 where a token begins a word (per the tokenizer's pre-tokenization), else 0, for the word
    ids of documents laid end to end (``lengths`` tokens each; NaN for a token of no word, which begins one,
    as does every document's first token). On the whole batch at once: per token or per document in Python,
    this was a large share of packing."""
    flags = np.ones(len(word_ids), dtype=np.int8)
    flags[1:] = word_ids[1:] != word_ids[:-1]  # NaN differs from everything: a token of no word begins one
    firsts = np.cumsum(lengths) - lengths
    flags[firsts[lengths > 0]] = 1
    return flags


class Encoder:
    """Documents to a table of (ids, unit cuts, word starts) per document; picklable, for worker processes and
    Ray tasks.

    It calls the tokenizer's backend (a copy with truncation and padding off, special-token strings encoded
    as text) rather than the transformers tokenizer: that call also builds an attention mask and type ids per
    document and copies every list again, and the columns are then built from arrays over the whole batch.
    Equal to the transformers call with ``add_special_tokens=False, split_special_tokens=True`` (tested)."""

    def __init__(self, tokenizer, mode: str):
        self.tokenizer, self.mode = tokenizer, mode
        self._backend = None

    def __getstate__(self) -> dict:
        return {"tokenizer": self.tokenizer, "mode": self.mode, "_backend": None}

    def backend(self):
        if self._backend is None:
            from tokenizers import Tokenizer

            backend = Tokenizer.from_str(self.tokenizer.backend_tokenizer.to_str())
            backend.no_truncation()
            backend.no_padding()
            # corpus text is text: a literal "<s>" (HTML strike-through) or "<mask>" is spelled out, never a
            # control token (a mid-sequence <pad> would be unattended, a </s> a fake document end)
            backend.encode_special_tokens = True
            self._backend = backend
        return self._backend

    def __call__(self, texts: list[str]) -> pa.Table:
        prepare = preprocessor(self.tokenizer)
        if prepare:
            texts = [prepare(t) for t in texts]
        encodings = self.backend().encode_batch(texts, add_special_tokens=False)
        lengths = np.fromiter((len(e) for e in encodings), dtype=np.int64, count=len(encodings))
        ids = np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.int32, count=int(lengths.sum()))
        words = np.array(list(chain.from_iterable(e.word_ids for e in encodings)), dtype=np.float64)  # None: NaN
        if self.mode in ("sentence", "line"):
            cuts = [unit_cuts(text, [a for a, _ in e.offsets], self.mode) for text, e in zip(texts, encodings)]
        else:
            cuts = [[0]] * len(texts)
        cut_lengths = np.fromiter((len(c) for c in cuts), dtype=np.int64, count=len(cuts))
        cut_values = np.fromiter(chain.from_iterable(cuts), dtype=np.int32, count=int(cut_lengths.sum()))
        return pa.Table.from_arrays([lists(ids, lengths), lists(cut_values, cut_lengths),
                                     lists(word_starts(words, lengths), lengths)], schema=TOKENIZED)


def tokenize_split(corpus_dir: Path, split: str, tokenizer, cache_dir: Path, mode: str = "pack",
                   workers: int = 1, ray: str = "", only: Collection[int] | None = None) -> list[str]:
    """One Parquet file per shard file of the split, one row per document: token ids (no special tokens),
    word-start flags and unit cuts; the files are tokenized in ``workers`` processes, or as Ray tasks on the
    cluster at ``ray``. Written with pyarrow from arrays over each batch: ``datasets.map`` spent more time
    checking and converting its output than the tokenizer took.

    Each file's marker names the shard (path, size, time), the tokenizer and what the cuts follow; a file
    whose marker matches is reused. ``only`` (indices into the split's shard files) tokenizes and returns only
    those files: one SLURM array task's share."""
    settings = {"tokenizer": tokenizer_identity(tokenizer), "cuts": mode if mode in ("sentence", "line") else "none",
                "version": PACK_VERSION}
    calls = []
    encoder = Encoder(tokenizer, mode)  # one for every file: in this process, one copy of the backend, not one a file
    for i, shard in enumerate(split_files(corpus_dir, split)):
        if only is None or i in only:
            stat = shard.stat()
            fingerprint = meta.hash_json({"file": str(shard.resolve()), "size": stat.st_size,
                                          "mtime": stat.st_mtime_ns, **settings})
            calls.append((str(shard), encoder, str(cache_dir / f"tokens-{i:06d}.parquet"),
                          fingerprint))
    cache_dir.mkdir(parents=True, exist_ok=True)
    todo = [call for call in calls if not _tokenized(call[2], call[3])]
    if len(todo) < len(calls):
        logger.info("%s: %d of %d tokenized shard files reused from %s", split, len(calls) - len(todo), len(calls),
                    cache_dir)
    if todo:
        runner = executors.make(workers, ray, setting="pretrain.pack_ray")
        try:
            runner.map(tokenize_file, todo)
        finally:
            runner.close()
    for _, _, out, _ in calls:  # torn files of a killed task (its own process id in the name), now replaced
        for stale in cache_dir.glob(f".{Path(out).name}.*.tmp"):
            stale.unlink(missing_ok=True)
    return [call[2] for call in calls]


def tokenizer_identity(tokenizer) -> str:
    """What the token ids depend on: the fast tokenizer's whole definition and the pre-segmenter."""
    return meta.hash_json({"tokenizer": tokenizer.backend_tokenizer.to_str(),
                           "pre_segment": tokenizer.init_kwargs.get(PRE_SEGMENT_KEY)})


def _tokenized(out: str, fingerprint: str) -> bool:
    try:
        marker = json.loads(Path(out).with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("fingerprint") == fingerprint and Path(out).is_file()


def tokenized_docs(files: list[str], batch: int = 1000) -> Iterator[tuple[list[int], list[int], list[int]]]:
    """(ids, word starts, cuts) of every document of the tokenized files, in order."""
    for path in files:
        for record in pq.ParquetFile(path).iter_batches(batch_size=batch, columns=["ids", "starts", "cuts"]):
            yield from zip(*(record.column(name).to_pylist() for name in ("ids", "starts", "cuts")))


def tokenized_chunks(files: list[str], batch: int = 8192) -> Iterator[Chunk]:
    """The same documents as arrays, a record batch at a time (mode pack needs no cuts)."""
    for path in files:
        for record in pq.ParquetFile(path).iter_batches(batch_size=batch, columns=["ids", "starts"]):
            ids, starts = record.column("ids"), record.column("starts")
            yield (ids.flatten().to_numpy(), starts.flatten().to_numpy(),
                   pc.list_value_length(ids).to_numpy(zero_copy_only=False).astype(np.int64))


def _table(block: Block) -> pa.Table:
    rows, seq_len = block["input_ids"].shape
    lengths = np.full(rows, seq_len)
    return pa.table({"input_ids": lists(block["input_ids"].ravel(), lengths),
                     "starts": lists(block["starts"].ravel(), lengths),
                     "n_real": block["n_real"]}, schema=FEATURES.arrow_schema)


def _blocks(rows: Iterator[dict], size: int = 1024) -> Iterator[Block]:
    """The row dicts of the unit modes, grouped into blocks."""
    for group in groups(rows, size):
        yield {k: np.array([r[k] for r in group]) for k in FEATURES}


def tokenize_file(path: str, encode: Encoder, out: str, fingerprint: str = "", batch: int = 256) -> str:
    """One shard file tokenized to ``out`` (renamed into place when complete, its marker written last, so a
    rerun task is harmless and a killed one leaves nothing that looks finished)."""
    tmp = Path(out).with_name(f".{Path(out).name}.{os.getpid()}.tmp")
    with pq.ParquetWriter(tmp, TOKENIZED) as writer:
        for record in pq.ParquetFile(path).iter_batches(batch_size=batch, columns=["text"]):
            writer.write_table(encode(record.column("text").to_pylist()))
    os.replace(tmp, out)
    meta.write_json(Path(out).with_suffix(".json"), {"fingerprint": fingerprint, "shard": path})
    return out


def _stats(n_docs: int, doc_tokens: int, n_seq: int, real: int, seq_len: int) -> dict:
    return {"documents": n_docs, "document_tokens": doc_tokens, "sequences": n_seq, "seq_len": seq_len,
            "real_tokens": real, "separator_tokens": n_seq + n_docs,
            "padding_fraction": round(1 - real / max(n_seq * seq_len, 1), 6)}


def packing_fingerprint(corpus_dir: Path, split: str, tokenizer, seq_len: int, mode: str) -> str:
    """What the packed bytes depend on: the split's shards (name, size, time), the tokenizer, length, mode."""
    files = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in split_files(corpus_dir, split)]
    return meta.hash_json({"files": files, "corpus": str(Path(corpus_dir).resolve()),
                           "tokenizer": tokenizer_identity(tokenizer),
                           "seq_len": seq_len, "mode": mode, "version": PACK_VERSION})


def build_packed(corpus_dir: Path, split: str, tokenizer, seq_len: int, out_dir: Path,
                 mode: str = "pack", workers: int = 1, ray: str = "", tokens_dir: Path | None = None
                 ) -> tuple[Dataset, dict]:
    """Tokenize and pack one split into ``out_dir/<split>`` (Arrow, memory-mapped); return it and its stats.

    A finished build with the same fingerprint is reused: a resumed or time-budget-restarted run does not
    tokenize the corpus again (minutes on a large corpus, which counted against ``max_minutes``). The
    tokenized shard files go to ``tokens_dir`` and stay there for the next build (default: a temporary
    folder beside the output, removed)."""
    target = out_dir / split
    fingerprint = packing_fingerprint(corpus_dir, split, tokenizer, seq_len, mode)
    done = _read_marker(target)
    if done.get("fingerprint") == fingerprint:
        packed, stats = load_packed(out_dir, split, seq_len)
        return packed, {**stats, "reused": True}
    shutil.rmtree(target, ignore_errors=True)  # an unfinished or outdated build
    if count_rows(corpus_dir, split) == 0:
        # an empty split (validation_fraction 0); datasets can neither read nor reload zero-row files
        return Dataset.from_dict({"input_ids": [], "starts": [], "n_real": []}, features=FEATURES), \
            _stats(0, 0, 0, 0, seq_len)
    cache = out_dir / f".cache-{split}"
    tokenized = tokenize_split(corpus_dir, split, tokenizer, tokens_dir or cache, mode, workers, ray)
    n_docs = sum(pq.ParquetFile(p).metadata.num_rows for p in tokenized)
    doc_tokens = sum(pc.sum(pc.list_value_length(pq.read_table(p, columns=["ids"]).column("ids"))).as_py() or 0
                     for p in tokenized)

    # cls/sep: <s> </s> for RoBERTa and CamemBERT, [CLS] [SEP] for BERT
    special = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)
    blocks = greedy(tokenized_chunks(tokenized), seq_len, *special) if mode == "pack" else \
        _blocks(pack_docs(tokenized_docs(tokenized), seq_len, *special, mode))
    cache.mkdir(parents=True, exist_ok=True)
    writer = ArrowWriter(features=FEATURES, path=str(cache / "packed.arrow"))
    real = 0
    for block in blocks:
        writer.write_table(_table(block))
        real += int(block["n_real"].sum())
    writer.finalize()
    Dataset.from_file(str(cache / "packed.arrow")).save_to_disk(str(target))
    shutil.rmtree(cache, ignore_errors=True)
    packed = datasets.load_from_disk(str(target))
    stats = {**_stats(n_docs, doc_tokens, len(packed), real, seq_len), "mode": mode}
    # Conservation: every document token is in exactly one sequence; the rest are bos/eos separators.
    assert stats["real_tokens"] == doc_tokens + stats["separator_tokens"], stats
    (target / "medforge_stats.json").write_text(json.dumps(stats), encoding="utf-8")
    meta.write_json(target / PACKED_MARKER, {"fingerprint": fingerprint})  # last: the build is complete
    return packed, stats


def _read_marker(target: Path) -> dict:
    try:
        return json.loads((target / PACKED_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def load_packed(out_dir: Path, split: str, seq_len: int) -> tuple[Dataset, dict]:
    """What ``build_packed`` wrote (for the other processes of a multi-process run)."""
    target = out_dir / split
    if not target.exists():
        return Dataset.from_dict({"input_ids": [], "starts": [], "n_real": []}, features=FEATURES), \
            _stats(0, 0, 0, 0, seq_len)
    return datasets.load_from_disk(str(target)), json.loads((target / "medforge_stats.json").read_text())
