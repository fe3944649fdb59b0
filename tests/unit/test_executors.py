from __future__ import annotations

import multiprocessing
import os
import sys

import pytest

from medforge import executors


def _whoami(x: int) -> tuple[int, int, bool]:
    return x, os.getppid(), "pyarrow.parquet" in sys.modules


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(), reason="no fork server here")
def test_local_workers_come_from_a_fork_server_that_imported_the_libraries_once():
    """Workers are forked from a server that imported numpy, pyarrow and the corpus code: a spawned worker paid
    those imports again (0.45-0.65 s of a core each; 8 workers on 2 cores took 1.83 s to their first
    results, 0.46 s from the server)."""
    pool = executors.Local(2)
    try:
        results = pool.map(_whoami, [(i,) for i in range(6)])
    finally:
        pool.close()
    assert [r[0] for r in results] == list(range(6))  # call order, whatever finished first
    parents = {r[1] for r in results}
    assert os.getpid() not in parents and len(parents) == 1  # children of the one server, not of this process
    assert all(r[2] for r in results)  # the preloaded modules were there before the task imported anything


def _built_before_the_task() -> list[int]:
    from medforge.corpus import dedup, langid, pii

    return [f.cache_info().currsize for f in (dedup._power_tables, pii._bmp_numbers, langid.identifier)]


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(), reason="no fork server here")
def test_workers_start_with_what_every_preparation_worker_builds_first():
    """MinHash's power tables, the number trigger's class and the language identifier are built once in the fork
    server (``medforge.corpus.warm``), not in every worker."""
    pool = executors.Local(2)
    try:
        assert pool.map(_built_before_the_task, [(), ()]) == [[1, 1, 1], [1, 1, 1]]
    finally:
        pool.close()
