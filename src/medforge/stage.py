"""What every stage function receives besides its own config: where it writes, the run's seed, and the
folders of the finished stages it reads. A stage is ``run(cfg: <Stage>Config, ctx: StageContext) -> dict``
(the summary kept in its ``meta.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medforge.errors import MedforgeError


@dataclass
class StageContext:
    """What a stage function gets besides its own config."""

    run_dir: Path
    out: Path
    seed: int
    upstream: dict[str, Path]

    def need(self, stage: str) -> Path:
        """The folder of a finished upstream stage, or a clear error saying how to produce it."""
        if stage not in self.upstream:
            raise MedforgeError(f"stage '{stage}' has not completed in {self.run_dir}; run it first "
                                f"(`medforge {stage} --config ...` or `medforge run ...`)")
        return self.upstream[stage]
