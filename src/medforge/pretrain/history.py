"""What a pre-training run records as it goes: metrics.jsonl (and TensorBoard), and the throughput of each
logging window."""

from __future__ import annotations

import json
import time

from medforge.errors import ConfigError


class History:
    """metrics.jsonl (and TensorBoard event files, if asked), cut back to the resumed step so that
    they read as one uninterrupted run."""

    def __init__(self, path, resumed_step: int, tensorboard_dir=None):
        self.path = path
        self.writer = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ConfigError("pretrain.tensorboard needs tensorboard: pip install tensorboard "
                                  "(or medforge[tb])") from None
            # purge_step: TensorBoard drops what an interrupted attempt logged after the checkpoint
            self.writer = SummaryWriter(str(tensorboard_dir), purge_step=resumed_step + 1 if resumed_step else None)
        kept = []
        if resumed_step and path.exists():
            kept = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            kept = [row for row in kept if row["step"] <= resumed_step]
        self.rows = kept
        path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")

    def add(self, row: dict) -> None:
        self.rows.append(row)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, row["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Meter:
    """Tokens, FLOPs and padding of one logging window, turned into rates when the window is read."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.tokens, self.flops, self.real, self.slots, self.start = 0, 0.0, 0, 0, time.perf_counter()

    def add(self, tokens, flops, local_real, local_slots: int) -> None:
        """``tokens`` and ``flops``: the step's real tokens over every process; ``local_*``: this process's
        real tokens and token slots (for the padding fraction). Numbers or device tensors: they are read
        only when the window is."""
        self.tokens += tokens
        self.flops += flops
        self.real += local_real
        self.slots += local_slots

    def read(self) -> dict:
        """The window's rates; starts the next window."""
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        tokens, flops, real = float(self.tokens), float(self.flops), float(self.real)
        rates = {"tokens_per_s": tokens / elapsed, "tflops": flops / elapsed / 1e12,
                 "padding_fraction": 1 - real / max(self.slots, 1)}
        self.reset()
        return rates
