"""Hyperparameter search on validation (Optuna, TPE), before the seeds are run at the best setting.

The space is centred on the configured values: learning rate from a tenth to ten times it (log
scale), warmup ratio 0-0.2, batch size half, same or double, epochs half to double. Each trial
fine-tunes with the first seed and is scored by the task's headline metric on dev (test is never
looked at). The study lives in ``search.db`` (SQLite) beside the runs, so an interrupted search
resumes and finished trials count toward the budget.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from medforge import log, meta
from medforge.errors import ConfigError

logger = log.get("evaluate")


def space(trial, hp) -> dict:
    return {
        "learning_rate": trial.suggest_float("learning_rate", hp.learning_rate / 10, hp.learning_rate * 10, log=True),
        "warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.2),
        "batch_size": trial.suggest_categorical("batch_size", sorted({max(1, hp.batch_size // 2), hp.batch_size,
                                                                      hp.batch_size * 2})),
        "epochs": trial.suggest_int("epochs", max(1, hp.epochs // 2), hp.epochs * 2),
    }


def search(finetune, model_path: str, data, hp, seed: int, folder: Path, settings: dict) -> tuple[object, dict]:
    """Run the missing trials of ``hp.search_trials``; return (hp at the best trial, the search record)."""
    try:
        import optuna
    except ImportError:
        raise ConfigError("'evaluate.search_trials' needs optuna: pip install optuna (or medforge[search])") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name="search", storage=f"sqlite:///{folder / 'search.db'}",
                                load_if_exists=True, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    if study.user_attrs.get("settings", settings) != settings:
        raise ConfigError(f"{folder}: holds a search made with other settings; delete the folder to search again")
    study.set_user_attr("settings", settings)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if done:
        logger.info("%s: %d search trials done before, kept", data.spec.name, len(done))

    def objective(trial):
        params = space(trial, hp)
        with tempfile.TemporaryDirectory() as scratch:
            results, _, _ = finetune(model_path, data, dataclasses.replace(hp, **params), seed, Path(scratch),
                                     settings)
        score = results["dev"][data.spec.headline]
        logger.info("%s trial %d: %s -> dev %s %.4f", data.spec.name, trial.number, params, data.spec.headline, score)
        return score

    missing = hp.search_trials - len(done)
    if missing > 0:
        study.optimize(objective, n_trials=missing)
    best = study.best_trial
    record = {"metric": data.spec.headline, "best": {"params": best.params, "dev": best.value, "trial": best.number},
              "trials": [{"number": t.number, "params": t.params, "dev": t.value, "state": t.state.name}
                         for t in study.trials]}
    meta.write_json(folder / "search.json", record)
    return dataclasses.replace(hp, **best.params), record



def grid(finetune, model_path: str, data, hp, seed: int, folder: Path, settings: dict) -> tuple[object, dict]:
    """Each of ``hp.learning_rates`` fine-tuned once with the first seed and scored on dev (as BLURB and
    DrBenchmark choose the rate per task); return (hp at the best rate, the record). Finished rates with the
    same settings are kept, so an interrupted grid resumes."""
    import json

    scores = {}
    for rate in hp.learning_rates:
        run = folder / f"lr-{rate:g}"
        trial = dataclasses.replace(hp, learning_rate=rate, learning_rates=[])
        wanted = {**settings, "hp": {**settings["hp"], "learning_rate": rate}}
        done = run / "results.json"
        before = json.loads(done.read_text(encoding="utf-8")) if done.is_file() else {}
        if before.get("settings") == wanted:
            results = before
        else:
            with tempfile.TemporaryDirectory() as scratch:
                results, _, _ = finetune(model_path, data, trial, seed, Path(scratch), wanted)
            run.mkdir(parents=True, exist_ok=True)
            meta.write_json(done, {"settings": wanted, "dev": results["dev"]})
        scores[rate] = results["dev"][data.spec.headline]
        logger.info("%s grid: learning rate %g -> dev %s %.4f", data.spec.name, rate, data.spec.headline,
                    scores[rate])
    best = max(scores, key=lambda r: (scores[r], -hp.learning_rates.index(r)))  # the first of equal scores
    record = {"metric": data.spec.headline, "best": {"learning_rate": best, "dev": scores[best]},
              "grid": {f"{r:g}": s for r, s in scores.items()}}
    meta.write_json(folder / "grid.json", record)
    return dataclasses.replace(hp, learning_rate=best, learning_rates=[]), record
