"""The task engine: preparation as tasks that can run on other machines, with the streaming engine's output.

1. one task per input file (``units``): read, normalise, filter, screen, hash; results to the work folder;
2. one task per LSH band (``bands``): every document's bucket number in that band;
3. here, in the global order (sources, then files, then positions): the decisions the streaming engine
   makes (exact duplicates, which near duplicate is kept), through the very same code, its near-duplicate
   index keyed by those bucket numbers; no text is read;
4. one task per shard (``placing``): the kept documents' split and sampling, the shard's Parquet files;
   then, here, the markers and the report.

Steps 1, 2 and 4 run wherever the executor runs them (this process, local processes, a Ray cluster, or
SLURM array tasks calling ``run_part``); step 3 reads no text and does no hashing. The work folder
(``RUN/prepare-work``) keeps finished units, so an interrupted run redoes only the files it had not
finished; it is removed when the stage completes.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from medforge import executors, log, paths
from medforge.corpus import units
from medforge.corpus.bands import BucketDedup, band_buckets
from medforge.corpus.config import PrepareConfig, SourceConfig
from medforge.corpus.dedup import bands_for
from medforge.corpus.placing import PlannedShards, write_shard
from medforge.corpus.readers import FORMATS, Counts, expand, unsupported
from medforge.corpus.store import SHARDS
from medforge.errors import ConfigError
from medforge.stage import StageContext

logger = log.get("prepare")
WORK = "prepare-work"


def plan(sources: list[SourceConfig], counts: dict[str, Counts] | None = None) -> list[units.Unit]:
    """Every input file as a unit, in the global order; unsupported files noted in ``counts``."""
    found: list[units.Unit] = []
    for source in sources:
        if source.hub_dataset:
            raise ConfigError(f"source '{source.label}': the task engine ('prepare.ray', 'prepare.engine: tasks', "
                              "--part) reads files; save the hub data set to Parquet or JSONL files first, or use "
                              "the streaming engine")
        for pattern in source.paths:
            if counts is not None:
                counts[source.label].skipped_files += [
                    {"file": str(p), "reason": f"unsupported file type '{p.suffix}' in an input folder "
                                               f"(readers: {', '.join(FORMATS)})"}
                    for p in unsupported(paths.resolve(pattern))]
            for path in expand(paths.resolve(pattern)):
                found.append(units.Unit(len(found), source, str(path)))
    return found


def work_folder(run_dir: str | Path) -> Path:
    folder = Path(run_dir) / WORK
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_part(cfg: PrepareConfig, run_dir: str, part: int, parts: int) -> dict:
    """The units of part ``part`` of ``parts`` (unit index modulo parts): one SLURM array task's share."""
    if not 0 <= part < parts:
        raise ConfigError(f"--part {part}/{parts}: the part must be in 0..{parts - 1}")
    todo = [u for u in plan(cfg.all_sources()) if u.index % parts == part]
    work = work_folder(run_dir)
    t0 = time.perf_counter()
    executor = executors.Local(cfg.workers)
    try:
        markers = executor.map(units.process_unit, [(cfg, u, str(work)) for u in todo])
    finally:
        executor.close()
    return {"files": len(todo), "documents": sum(m["documents"] for m in markers),
            "seconds": round(time.perf_counter() - t0, 1), "work": str(work)}


def run_tasks(cfg: PrepareConfig, ctx: StageContext, sources: list[SourceConfig]) -> dict:
    from medforge.corpus.stage import finish, write

    reader_counts = {s.label: Counts() for s in sources}
    todo = plan(sources, reader_counts)
    work = work_folder(ctx.run_dir)
    reused = sum(units.done(work, u, u.fingerprint(cfg)) is not None for u in todo)
    executor = executors.make(cfg.workers, cfg.ray)
    logger.info("task engine: %d files (%d done before) on %s", len(todo), reused, executor.where)
    try:
        t0 = time.perf_counter()
        markers = executor.map(units.process_unit, [(cfg, u, str(work)) for u in todo])
        t1 = time.perf_counter()
        sizes = [(u.index, m["documents"]) for u, m in zip(todo, markers)]
        found: list[str] = []
        if cfg.dedup_near:
            bands, rows = bands_for(cfg.near_threshold, cfg.num_perm)
            found = executor.map(band_buckets, [(str(work), sizes, b, rows) for b in range(bands)])
        t2 = time.perf_counter()
        for unit, marker in zip(todo, markers):
            units.merge_counts(reader_counts[unit.source.label], marker)
        shutil.rmtree(ctx.out / SHARDS, ignore_errors=True)  # the decisions are cheap: always written whole
        shards = PlannedShards(ctx.out, cfg, work)
        dedup = BucketDedup(cfg, found)
        write(cfg, ctx.seed, _batches(work, todo), dedup, shards)
        compared = dedup.compared
        del dedup  # its indexes, before the shard tasks run here
        t3 = time.perf_counter()
        shards.write_markers(executor.map(write_shard, shards.tasks(ctx.seed, todo, [n for _, n in sizes])))
    finally:
        executor.close()
    summary = finish(cfg, ctx, sources, shards, reader_counts)
    seconds = {"files": round(t1 - t0, 2), "bands": round(t2 - t1, 2), "decisions": round(t3 - t2, 2),
               "shards": round(time.perf_counter() - t3, 2)}
    logger.info("task engine: %s", ", ".join(f"{k} {v} s" for k, v in seconds.items()))
    shutil.rmtree(work, ignore_errors=True)
    return {**summary, "engine": {"where": executor.where, "files": len(todo), "files_reused": reused,
                                  "near_compared": compared, "nodes_used": len(executor.nodes_used),
                                  "seconds": seconds}}


def _batches(work: Path, todo: list[units.Unit]) -> Iterator[tuple[list, list]]:
    for unit in todo:
        for batch in units.documents(work, unit.index, text=False):
            yield [(unit.source, unit.path, position) for position, _ in batch], [doc for _, doc in batch]
