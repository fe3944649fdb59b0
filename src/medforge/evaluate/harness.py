"""Tasks x models x seeds: fine-tune every combination, resumably, then summarise and compare.

Layout under ``out``: ``<task>/<model>/seed-<s>/`` holds one run's ``results.json`` and its
predictions (CoNLL and JSONL). A run whose ``results.json`` exists with the same settings is not
redone, so an interrupted evaluation picks up where it stopped. ``<task>/<model>/best-model/`` keeps
the model of the seed with the best validation score when asked; ``<task>/<model>/search/`` holds
the hyperparameter search, when one is asked for (``search_trials``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from medforge import log, meta
from medforge.evaluate.compare import compare
from medforge.evaluate.report import summarize, write_reports
from medforge.evaluate.search import grid, search
from medforge.tasks.data import read_task
from medforge.tasks.kinds import kind_of
from medforge.tasks.spec import TaskSpec

logger = log.get("evaluate")
HP_FIELDS = ("epochs", "batch_size", "learning_rate", "warmup_ratio", "weight_decay", "label_all_subwords",
             "max_steps")


def settings_of(model_path: str, task: TaskSpec, hp) -> dict:
    return {"model": model_path, "task": dataclasses.asdict(task), "hp": {k: getattr(hp, k) for k in HP_FIELDS}}


def run_grid(models: dict[str, str], tasks: list[TaskSpec], seeds: list[int], hp, out: Path,
             keep_best_model: bool = False) -> dict:
    """Fine-tune and score every (task, model, seed); write the summary and comparison reports."""
    runs = []
    for task in tasks:
        data = None
        for name, path in models.items():
            best_file = out / task.name / name / "best.json"
            finetune = kind_of(task.type).call("finetune")  # imports torch and transformers only now
            chosen = hp
            if hp.search_trials:
                if data is None:
                    data = _read(task)
                chosen, record = search(finetune, path, data, hp, seeds[0], out / task.name / name / "search",
                                        settings_of(path, task, hp))
                logger.info("%s / %s: best of %d trials: %s (dev %s %.4f)", task.name, name, len(record["trials"]),
                            record["best"]["params"], record["metric"], record["best"]["dev"])
            elif hp.learning_rates:
                if data is None:
                    data = _read(task)
                chosen, record = grid(finetune, path, data, hp, seeds[0], out / task.name / name / "grid",
                                      settings_of(path, task, hp))
                logger.info("%s / %s: learning rate %g chosen on dev (%s %.4f)", task.name, name,
                            record["best"]["learning_rate"], record["metric"], record["best"]["dev"])
            for seed in seeds:
                folder = out / task.name / name / f"seed-{seed}"
                settings = settings_of(path, task, chosen)
                done = folder / "results.json"
                before = json.loads(done.read_text(encoding="utf-8")) if done.is_file() else {}
                if before.get("settings") == settings:
                    logger.info("%s / %s / seed %d: done before, kept", task.name, name, seed)
                    runs.append({**before, "model_name": name})
                    continue
                if data is None:
                    data = _read(task)
                shutil.rmtree(folder, ignore_errors=True)
                results, model, tokenizer = finetune(path, data, chosen, seed, folder, settings)
                runs.append({**results, "model_name": name})
                if keep_best_model:
                    _keep_if_best(best_file, results, model, tokenizer)
    summary = summarize(runs)
    comparisons = compare(summary, list(models), out)
    document = {"protocol": runs[0]["protocol"] if runs else None, "seeds": seeds, "models": models,
                "tasks": summary, "comparisons": comparisons}
    meta.write_json(out / "summary.json", document)
    write_reports(summary, comparisons, list(models), out)
    return document


def _read(task: TaskSpec):
    data = read_task(task)
    for note in data.notes:
        logger.warning("%s: %s", task.name, note)
    return data


def _keep_if_best(best_file: Path, results: dict, model, tokenizer) -> None:
    best = json.loads(best_file.read_text(encoding="utf-8")) if best_file.is_file() else None
    score = results["dev"][results["headline"]]
    if best is not None and best.get("settings") == results["settings"] and best["dev_score"] >= score:
        return
    target = best_file.parent / "best-model"
    tmp = best_file.parent / ".best-model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    meta.write_json(best_file, {"seed": results["seed"], "metric": results["headline"], "dev_score": score,
                                "settings": results["settings"]})
