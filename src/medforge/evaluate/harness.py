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
from medforge.errors import MedforgeError
from medforge.evaluate.report import summarize, write_reports
from medforge.evaluate.search import search
from medforge.evaluate.stats import paired_bootstrap, paired_bootstrap_metric, permutation_test
from medforge.tasks.conll import read_predictions
from medforge.tasks.data import read_task
from medforge.tasks.spec import TaskSpec

logger = log.get("evaluate")
HP_FIELDS = ("epochs", "batch_size", "learning_rate", "warmup_ratio", "weight_decay", "label_all_subwords",
             "max_steps")


def settings_of(model_path: str, task: TaskSpec, hp) -> dict:
    return {"model": model_path, "task": dataclasses.asdict(task), "hp": {k: getattr(hp, k) for k in HP_FIELDS}}


def run_grid(models: dict[str, str], tasks: list[TaskSpec], seeds: list[int], hp, out: Path,
             keep_best_model: bool = False) -> dict:
    """Fine-tune and score every (task, model, seed); write the summary and comparison reports."""
    # torch and transformers: imported only when fine-tuning
    from medforge.evaluate.classify import finetune_classification
    from medforge.evaluate.finetune import finetune_ner

    runs = []
    for task in tasks:
        data = None
        for name, path in models.items():
            best_file = out / task.name / name / "best.json"
            finetune = finetune_ner if task.type == "ner" else finetune_classification
            chosen = hp
            if hp.search_trials:
                if data is None:
                    data = _read(task)
                chosen, record = search(finetune, path, data, hp, seeds[0], out / task.name / name / "search",
                                        settings_of(path, task, hp))
                logger.info("%s / %s: best of %d trials: %s (dev %s %.4f)", task.name, name, len(record["trials"]),
                            record["best"]["params"], record["metric"], record["best"]["dev"])
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


def compare(summary: dict, models: list[str], out: Path) -> dict:
    """Every model against the first: paired bootstrap over test examples (each drawn example carries all
    seeds' predictions of both models) and a permutation test over the per-seed headline scores."""
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
            entry = by_model[base]
            shared = sorted(set(entry["seeds"]) & set(by_model[other]["seeds"]))
            gold, preds_a, preds_b = None, [], []
            for seed in shared:  # one list of predictions per seed: the bootstrap resamples test examples
                g, a = _predictions(out / task / base / f"seed-{seed}", entry["type"])
                g_other, b = _predictions(out / task / other / f"seed-{seed}", entry["type"])
                if gold is None:
                    gold = g
                if g != gold or g_other != gold:
                    raise MedforgeError(f"{out / task}: the test sets of seed {seed} and of the other runs differ; "
                                        "rerun the evaluation into an empty folder")
                preds_a.append(a)
                preds_b.append(b)
            if entry["type"] == "ner":
                bootstrap = paired_bootstrap(gold, preds_a, preds_b)
            else:
                # the label set the runs were scored on (frozen from train)
                labels = json.loads((out / task / base / f"seed-{shared[0]}" / "results.json")
                                    .read_text(encoding="utf-8"))["labels"]
                bootstrap = paired_bootstrap_metric(_scorer(entry["type"], entry["headline"], gold, labels),
                                                    preds_a, preds_b, len(gold))
            headline = entry["headline"]
            rows.append({"model": other, "baseline": base, "seeds": shared, "metric": headline,
                         "bootstrap": bootstrap,
                         "permutation": permutation_test(entry["test"][headline]["values"],
                                                         by_model[other]["test"][headline]["values"])})
        comparisons[task] = rows
    return comparisons


def _predictions(folder: Path, kind: str) -> tuple[list, list]:
    if kind == "ner":
        return read_predictions(folder / "test.conll")
    rows = [json.loads(line) for line in (folder / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    return [tuple(r["gold"]) for r in rows], [tuple(r["pred"]) for r in rows]


def _scorer(kind: str, metric: str, gold: list, labels: list[str]):
    from medforge.tasks.metrics import classification_scores, multilabel_scores

    def score(pred: list, indices) -> float:
        g = [gold[i] for i in indices]
        p = [pred[i] for i in indices]
        if kind == "multilabel":
            return multilabel_scores(g, p, labels)[metric]
        return classification_scores([x[0] for x in g], [x[0] for x in p], labels)[metric]

    return score
