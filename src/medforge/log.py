"""Logging from the main process only, so that multi-process runs print each line once."""

from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s %(name)s: %(message)s"


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def setup(verbose: bool = False) -> None:
    if not sys.stderr.isatty():
        # the Hugging Face libraries read these at import: no bars in logs and pipes
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    root = logging.getLogger("medforge")
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO if is_main_process() else logging.WARNING)
    root.propagate = False


def get(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith("medforge") else f"medforge.{name}")
