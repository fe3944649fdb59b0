"""Where tasks run: in this process, in local worker processes, or on a Ray cluster (corpus preparation's
task engine, tokenizing for packing).

Every task is a module-level function of plain arguments that writes its result under the shared work
folder and returns a small summary, so the three differ only in where the call happens. Results come
back in call order whatever order the tasks finish in.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

from medforge.errors import ConfigError, MedforgeError

RAY_EXTRA = "pip install 'medforge[ray]' (or pip install ray) on the driver and on every node"
# what every worker imports anyway, and the state it builds first (``medforge.corpus.warm``): the fork server
# imports it once and forks the workers from itself
PRELOAD = ["numpy", "pyarrow", "pyarrow.parquet", "medforge.corpus.units", "medforge.corpus.warm"]


def pool_context() -> Any:
    """Worker processes forked from a server that imported numpy, pyarrow and the corpus code once (where the
    platform has one), not spawned: a spawned worker spent 0.45-0.65 s of a core on those imports, each one,
    and on 2 cores that is time taken from the other worker. Never ``fork``: this process may run threads."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


class Local:
    """Tasks in this process, or in a pool of ``workers`` processes kept for every ``map`` until ``close``: a
    spawned process pays Python's and the libraries' imports again (seconds), once per phase otherwise."""

    def __init__(self, workers: int = 1):
        self.workers = workers
        self.where = "this process" if workers == 1 else f"{workers} local processes"
        self.nodes_used = {"local"}
        self._pool: Any = None

    def map(self, fn: Callable, calls: Sequence[tuple]) -> list[Any]:
        if self.workers == 1 or len(calls) < 2:
            return [fn(*call) for call in calls]
        if self._pool is None:
            self._pool = pool_context().Pool(self.workers)
        return self._pool.starmap(fn, calls, chunksize=1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None


class RayCluster:
    """Tasks spread over the nodes of a running cluster (``ray start --head`` and ``ray start --address``).
    A task whose worker or node dies is run again elsewhere (``max_retries``); tasks write their files
    under a temporary name and rename them, so a rerun neither duplicates nor loses a document."""

    def __init__(self, address: str, max_retries: int = 5, setting: str = "prepare.ray"):
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(f"'{setting}' ({address}) needs Ray, which is not installed: {RAY_EXTRA}") from exc
        self.ray = ray
        self.max_retries = max_retries
        _reachable(address, setting)  # ray.init waits forever for an address nobody answers at
        if not ray.is_initialized():
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, configure_logging=False)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self.where = f"Ray cluster at {address}: {len(nodes)} nodes, {cpus} CPUs"
        self.nodes_used: set[str] = set()

    def map(self, fn: Callable, calls: Sequence[tuple]) -> list[Any]:
        ray = self.ray
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries, scheduling_strategy="SPREAD")(_on_node)
        refs = [remote.remote(fn, *call) for call in calls]
        try:
            done = ray.get(refs)
            self.nodes_used.update(node for node, _ in done)
            return [result for _, result in done]
        except ray.exceptions.RayTaskError as exc:  # the task's own error, e.g. a damaged input file
            cause = getattr(exc, "cause", None)
            if isinstance(cause, MedforgeError):
                raise cause from None
            raise

    def close(self) -> None:
        self.ray.shutdown()


def _reachable(address: str, setting: str, timeout: float = 10.0) -> None:
    """A HOST:PORT address (not 'auto') must accept a connection before Ray is asked to join it."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.removeprefix("ray://"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"'{setting}': nothing answers at {address} ({exc.strerror or exc}); start a cluster with "
                          "ray start --head --port PORT (and ray start --address HEAD:PORT on the other nodes), "
                          "then give HEAD:PORT") from None


def _on_node(fn: Callable, *args) -> tuple[str, Any]:
    import ray

    return ray.get_runtime_context().get_node_id(), fn(*args)


def make(workers: int, ray_address: str, setting: str = "prepare.ray") -> Local | RayCluster:
    return RayCluster(ray_address, setting=setting) if ray_address else Local(workers)
