"""Imported by the worker processes' fork server (``executors.PRELOAD``) for what importing does: it builds
the state every preparation worker otherwise builds on its first documents, once in the server, so that
each worker forked from it starts with it: MinHash's power tables (16 MB; 20-70 ms here), the number
trigger's class of digits (10-50 ms) and the language identifier (its model memory-mapped, 50 ms). A
failure only leaves that work to the workers."""

from __future__ import annotations

import logging

from medforge.corpus import dedup, langid, pii

try:
    dedup.MinHasher()._tables()  # the default shingle's; another shingle builds its own in each worker
    pii._bmp_numbers()
    langid.identifier()
except Exception as exc:  # noqa: BLE001  # the server must start whatever happens here
    logging.getLogger(__name__).info("worker warm-up skipped: %s", exc)
