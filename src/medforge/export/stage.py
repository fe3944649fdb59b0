"""The export stage: the run's model (and the evaluate stage's fine-tuned model) as a Hugging Face folder
with a model card, checked by a fresh process (``hf.export``)."""

from __future__ import annotations

from medforge.export.config import ExportConfig
from medforge.export.hf import Source, existing, export
from medforge.stage import StageContext


def run(cfg: ExportConfig, ctx: StageContext) -> dict:
    """The pipeline's export stage: the run's own model, card data and fine-tuned head."""
    pretrain = ctx.need("pretrain")
    source = Source(pretrain / "model", pretrain / "model", ctx.need("prepare"),
                    existing(ctx.run_dir / "tokenizer", "config.yaml"), pretrain, ctx.upstream.get("evaluate"))
    return export(source, ctx.out, cfg)
