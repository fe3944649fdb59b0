"""Progress bars on a terminal only: in CI logs and pipes they would write a line per update."""

from __future__ import annotations

from tqdm.auto import tqdm

from medforge.log import is_main_process


def bar(iterable=None, **kwargs):
    # disable=None: tqdm draws only when the output is a terminal
    return tqdm(iterable, disable=None if is_main_process() else True, **kwargs)
