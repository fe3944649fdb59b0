"""The evaluate stage: the pipeline's model fine-tuned on its tasks over several seeds.

Writes the harness's layout (see ``harness``) and, for the export stage and the model card,
``results.json`` (the summary) and ``model/`` (the best seed's fine-tuned model on the first task).
When pre-training distilled a teacher, the teacher is evaluated beside the student (same seeds,
significance tests) and ``student_vs_teacher.md`` puts size, speed and scores in one table.
"""

from __future__ import annotations

import shutil
import time

import yaml

from medforge import meta, paths
from medforge.evaluate.config import EvaluateConfig
from medforge.evaluate.harness import run_grid
from medforge.evaluate.report import metric_label, pct, spread
from medforge.stage import StageContext

MODEL_NAME = "model"
TEACHER_NAME = "teacher"


def distilled_from(ctx) -> str | None:
    pretrain = ctx.upstream.get("pretrain")
    if pretrain is None or not (pretrain / "config.yaml").is_file():
        return None
    section = yaml.safe_load((pretrain / "config.yaml").read_text(encoding="utf-8")).get("pretrain") or {}
    return (section.get("distill") or {}).get("teacher")


def size_and_speed(path: str, batch: int = 16, length: int = 128, repeats: int = 3) -> dict:
    """Parameters, depth, width, and forward sequences/s on this machine (best of ``repeats``)."""
    import torch
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(path).eval()
    length = min(length, model.config.max_position_embeddings - 2)
    ids = torch.randint(5, model.config.vocab_size, (batch, length), generator=torch.Generator().manual_seed(0))
    best = float("inf")
    with torch.no_grad():
        model(input_ids=ids)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(input_ids=ids)
            best = min(best, time.perf_counter() - start)
    return {"layers": model.config.num_hidden_layers, "hidden": model.config.hidden_size,
            "parameters": model.num_parameters(), "sequences_per_s": batch / best, "sequence_length": length}


def distillation_table(document: dict, sizes: dict) -> str:
    tasks = list(document["tasks"])
    lines = ["| model | layers | hidden | parameters | sequences/s (forward, this machine) | " +
             " | ".join(f"{t} {metric_label(e['type'], e['headline'])}"
                        for t, e in ((t, document['tasks'][t][MODEL_NAME]) for t in tasks)) + " |",
             "|---|---|---|---|---|" + "---|" * len(tasks)]
    for name, label in ((MODEL_NAME, "student"), (TEACHER_NAME, "teacher")):
        size = sizes[name]
        cells = []
        for t in tasks:
            entry = document["tasks"][t].get(name)
            score = entry["test"][entry["headline"]] if entry else None
            cells.append(f"{pct(score['mean'])}{spread(score)}" if score else "–")
        lines.append(f"| {label} | {size['layers']} | {size['hidden']} | {size['parameters'] / 1e6:.2f}M | "
                     f"{size['sequences_per_s']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(cfg: EvaluateConfig, ctx: StageContext) -> dict:
    model_path = str(paths.resolve(cfg.model)) if cfg.model else str(ctx.need("pretrain") / "model")
    tasks = cfg.task_specs()
    hp, suite = cfg, None
    if cfg.suite:
        from medforge.evaluate import suite as suites

        suite = suites.load_suite(cfg.suite)
        suites.check_files(tasks, suite)
        hp = suites.apply_protocol(cfg, suite)
    seeds = [ctx.seed + i for i in range(hp.seeds)]
    teacher = None if cfg.model else distilled_from(ctx)
    models = {MODEL_NAME: model_path, **({TEACHER_NAME: str(paths.model_ref(teacher))} if teacher else {})}
    document = run_grid(models, tasks, seeds, hp, ctx.out, keep_best_model=True)
    if suite is not None:
        document["suite"] = suites.finish(document, suite, tasks, hp, ctx.out)
    document["best_model"] = {"task": tasks[0].name, "path": "model"}
    if teacher:
        sizes = {name: size_and_speed(path) for name, path in models.items()}
        document["distillation"] = {"teacher": teacher, "sizes": sizes}
        (ctx.out / "student_vs_teacher.md").write_text(
            "# Student against teacher\n\n" + distillation_table(document, sizes) + "\n", encoding="utf-8")
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
