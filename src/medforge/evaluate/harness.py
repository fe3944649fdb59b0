"""Tasks x models x seeds: fine-tune every combination, resumably, then summarise and compare.

Layout under ``out``: ``<task>/<model>/seed-<s>/`` holds one run's ``results.json`` and its
predictions (CoNLL and JSONL). A run whose ``results.json`` exists with the same settings is not
redone, so an interrupted evaluation picks up where it stopped. ``<task>/<model>/best-model/`` keeps
the model of the seed with the best validation F1 when asked.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from medforge import log, meta
from medforge.evaluate.report import summarize, write_reports
from medforge.evaluate.stats import paired_bootstrap, permutation_test
from medforge.tasks.conll import read_predictions
from medforge.tasks.data import read_ner_task
from medforge.tasks.spec import TaskSpec

logger = log.get("evaluate")
HP_FIELDS = ("epochs", "batch_size", "learning_rate", "warmup_ratio", "weight_decay")


def settings_of(model_path: str, task: TaskSpec, hp) -> dict:
    return {"model": model_path, "task": dataclasses.asdict(task), "hp": {k: getattr(hp, k) for k in HP_FIELDS}}


def run_grid(models: dict[str, str], tasks: list[TaskSpec], seeds: list[int], hp, out: Path,
             keep_best_model: bool = False) -> dict:
    """Fine-tune and score every (task, model, seed); write the summary and comparison reports."""
    from medforge.evaluate.finetune import finetune_ner  # torch and transformers: only when fine-tuning

    runs = []
    for task in tasks:
        data = None
        for name, path in models.items():
            best_file = out / task.name / name / "best.json"
            for seed in seeds:
                folder = out / task.name / name / f"seed-{seed}"
                settings = settings_of(path, task, hp)
                done = folder / "results.json"
                if done.is_file() and json.loads(done.read_text(encoding="utf-8")).get("settings") == settings:
                    logger.info("%s / %s / seed %d: done before, kept", task.name, name, seed)
                    runs.append({**json.loads(done.read_text(encoding="utf-8")), "model_name": name})
                    continue
                if data is None:
                    data = read_ner_task(task)
                    for note in data.notes:
                        logger.warning("%s: %s", task.name, note)
                    for split, types in data.unseen_types().items():
                        if types:
                            logger.warning("%s: %s has entity types absent from train (%s): the model cannot "
                                           "predict them, and they count as missed", task.name, split, ", ".join(types))
                shutil.rmtree(folder, ignore_errors=True)
                results, model, tokenizer = finetune_ner(path, data, hp, seed, folder, settings)
                runs.append({**results, "model_name": name})
                if keep_best_model:
                    _keep_if_best(best_file, results, model, tokenizer)
    summary = summarize(runs)
    comparisons = compare(summary, runs, list(models), out)
    document = {"protocol": runs[0]["protocol"] if runs else None, "seeds": seeds, "models": models,
                "tasks": summary, "comparisons": comparisons}
    meta.write_json(out / "summary.json", document)
    write_reports(summary, comparisons, list(models), out)
    return document


def _keep_if_best(best_file: Path, results: dict, model, tokenizer) -> None:
    best = json.loads(best_file.read_text(encoding="utf-8")) if best_file.is_file() else None
    if best is not None and best["dev_f1"] >= results["dev"]["f1"]:
        return
    target = best_file.parent / "best-model"
    tmp = best_file.parent / ".best-model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    meta.write_json(best_file, {"seed": results["seed"], "dev_f1": results["dev"]["f1"]})


def compare(summary: dict, runs: list[dict], models: list[str], out: Path) -> dict:
    """Every model against the first: paired bootstrap over test sentences (all seeds' predictions,
    matched by seed) and a permutation test over the per-seed test F1."""
    if len(models) < 2:
        return {}
    comparisons = {}
    for task, by_model in summary.items():
        base = models[0]
        if base not in by_model:
            continue
        rows = []
        for other in models[1:]:
            if other not in by_model:
                continue
            shared = sorted(set(by_model[base]["seeds"]) & set(by_model[other]["seeds"]))
            gold, pred_a, pred_b = [], [], []
            for seed in shared:
                g, a = read_predictions(out / task / base / f"seed-{seed}" / "test.conll")
                _, b = read_predictions(out / task / other / f"seed-{seed}" / "test.conll")
                gold += g
                pred_a += a
                pred_b += b
            rows.append({"model": other, "baseline": base, "seeds": shared,
                         "bootstrap": paired_bootstrap(gold, pred_a, pred_b),
                         "permutation": permutation_test(by_model[base]["test"]["f1"]["values"],
                                                         by_model[other]["test"]["f1"]["values"])})
        comparisons[task] = rows
    return comparisons
