"""The evaluate stage: the pipeline's model fine-tuned on its tasks over several seeds.

Writes the harness's layout (see ``harness``) and, for the export stage and the model card,
``results.json`` (the summary) and ``model/`` (the best seed's fine-tuned model on the first task).
"""

from __future__ import annotations

import shutil

from medforge import meta, paths
from medforge.evaluate.config import EvaluateConfig
from medforge.evaluate.harness import run_grid

MODEL_NAME = "model"


def run(cfg: EvaluateConfig, ctx) -> dict:
    model_path = str(paths.resolve(cfg.model)) if cfg.model else str(ctx.need("pretrain") / "model")
    tasks = cfg.task_specs()
    seeds = [ctx.seed + i for i in range(cfg.seeds)]
    document = run_grid({MODEL_NAME: model_path}, tasks, seeds, cfg, ctx.out, keep_best_model=True)
    document["best_model"] = {"task": tasks[0].name, "path": "model"}
    meta.write_json(ctx.out / "results.json", document)
    best = ctx.out / tasks[0].name / MODEL_NAME / "best-model"
    shutil.copytree(best, ctx.out / "model", dirs_exist_ok=True)
    summary = {}
    for task, by_model in document["tasks"].items():
        entry = by_model[MODEL_NAME]
        score = entry["test"][entry["headline"]]
        summary[task] = {"metric": entry["headline"], "test": score["mean"], "test_std": score["std"],
                         "seeds": len(seeds)}
    return summary
