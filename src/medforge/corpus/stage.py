"""The prepare stage: read every source, normalise, filter, screen, deduplicate, split, report.

Streaming: documents flow in batches through ``Processor`` (in worker processes if asked), then
through the decisions that need the corpus so far (exact and near duplicates, split, sampling
weight), into Parquet shards. Memory holds the duplicate indexes, not the corpus. Every block of
``shard_docs`` documents read is a shard with a marker; a rerun resumes after the last marked
shard, rebuilding the indexes from the shards' saved state, and writes the same shards as an
uninterrupted run.

Every document read is accounted for, per source: kept in one split, or dropped with a reason.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

from medforge import executors, log, meta, paths
from medforge.corpus.config import PrepareConfig, SourceConfig
from medforge.corpus.dedup import Dedup, Ref
from medforge.corpus.process import Processed, Processor, init_worker, process_batch
from medforge.corpus.readers import FORMATS, Counts, expand, read_documents, unsupported
from medforge.corpus.report import write_report
from medforge.corpus.split import assign, copies
from medforge.corpus.store import SHARDS, SPLITS, SplitWriter, shard_name
from medforge.errors import InputError
from medforge.progress import bar
from medforge.stage import StageContext

logger = log.get("prepare")
BATCH = 256


def documents(source: SourceConfig, cfg: PrepareConfig, counts: Counts) -> Iterator[tuple[str, int, str]]:
    """(file, position, raw text) of every document of a source."""
    if source.hub_dataset:
        import datasets

        rows = datasets.load_dataset(source.hub_dataset, split=source.hub_split, streaming=True)
        for i, row in enumerate(rows, start=1):
            if source.text_column not in row:
                raise InputError(f"{source.hub_dataset}: no column '{source.text_column}' (columns: {sorted(row)}); "
                                 "set the source's 'text_column'")
            yield source.hub_dataset, i, row[source.text_column] or ""
        return
    for pattern in source.paths:
        for path in unsupported(paths.resolve(pattern)):
            counts.skipped_files.append({"file": str(path), "reason": f"unsupported file type '{path.suffix}' in an "
                                                                      f"input folder (readers: {', '.join(FORMATS)})"})
        for path in expand(paths.resolve(pattern)):
            counts.files += 1
            for position, text in read_documents(path, counts, text_field=source.text_field,
                                                 text_column=source.text_column, paragraphs=source.paragraphs,
                                                 invalid_utf8=cfg.invalid_utf8):
                yield str(path), position, text


class Tally:
    """What happened to one source's documents, in one shard or in total."""

    FIELDS = ("read", "kept_train", "kept_validation", "kept_test", "train_rows", "words", "characters",
              "pii_documents_kept")

    def __init__(self, data: dict | None = None):
        data = data or {}
        self.counts = Counter({k: data.get(k, 0) for k in self.FIELDS})
        self.dropped = Counter(data.get("dropped", {}))
        self.repaired = Counter(data.get("repaired", {}))
        self.pii = Counter(data.get("pii", {}))
        self.languages = Counter(data.get("languages", {}))
        self.pii_examples: list[str] = list(data.get("pii_examples", []))

    def add(self, other: Tally, examples: int) -> None:
        for mine, theirs in ((self.counts, other.counts), (self.dropped, other.dropped),
                             (self.repaired, other.repaired), (self.pii, other.pii),
                             (self.languages, other.languages)):
            mine.update(theirs)
        self.pii_examples = (self.pii_examples + other.pii_examples)[:examples]

    def to_dict(self) -> dict:
        # keys sorted: the same tally is the same JSON whichever reason happened first (the task engine adds
        # the placing's counts after the screening's)
        return {**self.counts, **{name: dict(sorted(counter.items())) for name, counter in (
            ("dropped", self.dropped), ("repaired", self.repaired), ("pii", self.pii), ("languages", self.languages))},
                "pii_examples": self.pii_examples}


def _processed(cfg: PrepareConfig, batches: Iterator[list], dedup: Dedup) -> Iterator[tuple[list, list[Processed]]]:
    """Each batch of (source, file, position, raw) with its processed documents, in order."""
    if cfg.workers == 1:
        processor = Processor(cfg, known=dedup.exact.__contains__)
        for batch in batches:
            yield batch, processor.batch([raw for *_, raw in batch])
        return
    pending = []

    def texts():
        for batch in batches:
            pending.append(batch)
            yield [raw for *_, raw in batch]

    with executors.pool_context().Pool(cfg.workers, initializer=init_worker, initargs=(cfg,)) as pool:
        for done in pool.imap(process_batch, texts()):
            yield pending.pop(0), done


class Shards:
    """The shard in progress: its writers, tallies and duplicate clusters; finished with a marker."""

    def __init__(self, folder: Path, cfg: PrepareConfig):
        self.folder, self.cfg, self.index = folder / SHARDS, cfg, 0
        self.folder.mkdir(parents=True, exist_ok=True)
        self._open()

    def _open(self) -> None:
        self.writers = {s: SplitWriter(self.folder / shard_name(s, self.index, "parquet")) for s in SPLITS}
        self.tallies: dict[str, Tally] = defaultdict(Tally)
        self.clusters: list[dict] = []

    def finished(self) -> list[dict]:
        """The markers of the finished shards, in order, up to the first gap or unreadable marker (torn by a
        crash while it was written, before markers were written atomically): that shard is unfinished."""
        markers: list[dict] = []
        while True:
            path = self.folder / shard_name("shard", len(markers), "json")
            try:
                marker = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return markers
            if not isinstance(marker, dict) or marker.get("index") != len(markers):
                return markers
            markers.append(marker)

    def resume(self, markers: list[dict], dedup: Dedup) -> None:
        for index in range(len(markers)):
            dedup.load(self.folder / shard_name("state", index, "npz"))
        self.index = len(markers)
        for stale in self.folder.glob(f"*-{self.index:05d}.*"):  # the interrupted shard's partial files
            stale.unlink()
        self._open()

    def place(self, cfg: PrepareConfig, seed: int, source: SourceConfig, ref: Ref, doc: Processed, tally: Tally,
              number: int) -> None:
        place(cfg, seed, source, ref, doc.text, doc.words, bool(doc.pii), self.writers, tally)

    def close(self, dedup: Dedup, position: int) -> None:
        for writer in self.writers.values():
            writer.close()
        self.save_decisions(dedup)
        self.write_marker(position, {s: w.rows for s, w in self.writers.items()}, self.tallies)
        self.index += 1
        self._open()

    def save_decisions(self, dedup: Dedup) -> None:
        dedup.save(self.folder / shard_name("state", self.index, "npz"))
        with (self.folder / shard_name("clusters", self.index, "jsonl")).open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(c, ensure_ascii=False) + "\n" for c in self.clusters)

    def write_marker(self, position: int, rows: dict[str, int], tallies: dict[str, Tally], index: int = -1) -> None:
        index = self.index if index < 0 else index
        marker = {"index": index, "documents_read_after": position, "rows": rows,
                  "tallies": {k: t.to_dict() for k, t in tallies.items()}}
        meta.write_json(self.folder / shard_name("shard", index, "json"), marker)


def run(cfg: PrepareConfig, ctx: StageContext) -> dict:
    sources = cfg.all_sources()
    for source in sources:  # fail on a missing file before writing anything
        for pattern in source.paths:
            expand(paths.resolve(pattern))
    if cfg.ray or cfg.engine == "tasks":
        from medforge.corpus.engine import run_tasks

        return run_tasks(cfg, ctx, sources)
    dedup = Dedup(cfg)
    shards = Shards(ctx.out, cfg)
    markers = shards.finished() if cfg.resume else []
    skip = markers[-1]["documents_read_after"] if markers else 0
    if markers:
        shards.resume(markers, dedup)
        logger.info("resuming after %d finished shards (%d documents)", len(markers), skip)
    reader_counts = {s.label: Counts() for s in sources}

    def stream():
        position = 0
        batch = []
        for source in sources:
            for file, line, raw in documents(source, cfg, reader_counts[source.label]):
                position += 1
                if position <= skip:
                    continue
                batch.append((source, file, line, raw))
                if len(batch) == BATCH or position % cfg.shard_docs == 0:
                    yield batch
                    batch = []
        if batch:
            yield batch

    write(cfg, ctx.seed, _processed(cfg, stream(), dedup), dedup, shards, skip)
    return finish(cfg, ctx, sources, shards, reader_counts)


def write(cfg: PrepareConfig, seed: int, batches: Iterator[tuple[list, list[Processed]]], dedup: Dedup,
          shards: Shards, skip: int = 0) -> None:
    """Decide every processed document in the global order and write the shards (both engines)."""
    position = skip
    progress = bar(desc="prepare", unit=" docs", initial=skip)
    for batch, processed in batches:
        for (source, file, line, *_), doc in zip(batch, processed):
            dedup.current = position  # the document's global number (the task engine's pairs use it)
            position += 1
            _decide(cfg, seed, source, (source.label, file, line), doc, dedup, shards)
            if position % cfg.shard_docs == 0:
                shards.close(dedup, position)
        progress.update(len(batch))
    progress.close()
    shards.close(dedup, position)


def _decide(cfg: PrepareConfig, seed: int, source: SourceConfig, ref: Ref, doc: Processed, dedup: Dedup,
            shards: Shards) -> None:
    tally = shards.tallies[source.label]
    tally.counts["read"] += 1
    tally.repaired.update(doc.repairs)
    # an exact duplicate of a kept document is that, whatever was found in it: one process skips screening
    # it (it knows the keys kept so far), worker processes screen it; the counts must not differ
    if doc.key:  # none when a filter dropped it before
        index = dedup.exact_duplicate(doc.key)
        if index is not None:
            tally.dropped["exact_duplicate"] += 1
            shards.clusters.append({"kind": "exact", "removed": ref, "kept": dedup.refs[index], "similarity": 1.0,
                                    "kept_index": index})
            return
    tally.pii.update(kind for kind, _ in doc.pii)
    if doc.pii and len(tally.pii_examples) < cfg.examples:
        room = cfg.examples - len(tally.pii_examples)
        tally.pii_examples += [f"{kind}: {example}" for kind, example in doc.pii][:room]
    if doc.language:
        tally.languages[doc.language] += 1
    if doc.dropped:
        tally.dropped[doc.dropped] += 1
        return
    repeated = dedup.check(doc.key, doc.signature, ref, doc.redacted_key)
    if repeated:
        kind, index, similarity = repeated
        tally.dropped[f"{kind}_duplicate"] += 1
        shards.clusters.append({"kind": kind, "removed": ref, "kept": dedup.refs[index],
                                "similarity": round(similarity, 3), "kept_index": index})
        return
    shards.place(cfg, seed, source, ref, doc, tally, dedup.current)


def place(cfg: PrepareConfig, seed: int, source: SourceConfig, ref: Ref, text: str, words: int, has_pii: bool,
          writers: dict[str, SplitWriter], tally: Tally) -> None:
    """A document that is no duplicate: its split, its copies under the source's weight, its rows."""
    split = assign(text, seed, cfg.validation_fraction, cfg.test_fraction)
    n = copies(text, seed, source.weight) if split == "train" else 1
    if n == 0:
        tally.dropped["sampled_out"] += 1
        return
    for _ in range(n):
        writers[split].add(text, *ref)
    tally.counts[f"kept_{split}"] += 1
    tally.counts["train_rows"] += n if split == "train" else 0
    tally.counts["words"] += words
    tally.counts["characters"] += len(text)
    tally.counts["pii_documents_kept"] += has_pii and cfg.pii_policy == "report"


def finish(cfg: PrepareConfig, ctx, sources: list[SourceConfig], shards: Shards, reader_counts: dict) -> dict:
    totals: dict[str, Tally] = {s.label: Tally() for s in sources}
    rows: Counter = Counter()
    for marker in shards.finished():
        rows.update(marker["rows"])
        for label, data in marker["tallies"].items():
            totals[label].add(Tally(data), cfg.examples)
    per_source = {}
    for source in sources:
        tally, counts = totals[source.label], reader_counts[source.label]
        # lines a reader could not turn into documents are documents read and dropped
        tally.counts["read"] += sum(counts.dropped.values())
        tally.dropped.update(counts.dropped)
        tally.repaired.update(counts.repaired)
        kept = sum(tally.counts[f"kept_{s}"] for s in SPLITS)
        if tally.counts["read"] != kept + sum(tally.dropped.values()):
            raise AssertionError(f"{source.label}: documents read != kept + dropped")
        per_source[source.label] = {**tally.to_dict(), "files": counts.files, "skipped_files": counts.skipped_files,
                                    "first_positions": counts.first_positions, "weight": source.weight,
                                    "details": source.details, "hub_dataset": source.hub_dataset}
    report = write_report(ctx.out, cfg, per_source, dict(rows), shards.folder)
    kept = report["totals"]["kept"]
    if kept == 0:
        raise InputError(f"empty corpus: no document left in {', '.join(per_source)} "
                         f"({report['totals']['read']} read, dropped: {report['totals']['dropped']}); "
                         f"see {ctx.out / 'corpus_report.md'}")
    if rows["train"] == 0:
        raise InputError(f"every document went to validation or test ({kept} kept); lower "
                         "'prepare.validation_fraction' or add documents")
    with_pii = report["totals"]["pii_documents_kept"]
    if with_pii / kept > cfg.pii_max_fraction and not cfg.pii_allow:
        raise InputError(f"personal data gate: {with_pii} of {kept} kept documents hold personal data "
                         f"({', '.join(f'{k} {v}' for k, v in report['totals']['pii'].items())}); see the masked "
                         f"examples in {ctx.out / 'corpus_report.md'}; set 'prepare.pii_policy' to redact or drop, "
                         "or 'prepare.pii_allow: true' if this data may be used")
    if rows["validation"] == 0:
        logger.warning("the validation split is empty: held-out loss cannot be measured; "
                       "raise 'prepare.validation_fraction' or add documents")
    logger.info("corpus: %d documents read, %d kept (train %d rows, validation %d, test %d); dropped %s",
                report["totals"]["read"], kept, rows["train"], rows["validation"], rows["test"],
                report["totals"]["dropped"])
    return {"totals": {k: v for k, v in report["totals"].items() if not isinstance(v, (dict, list))},
            "splits": report["splits"]}
