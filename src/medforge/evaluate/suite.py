"""Benchmark suites as data: tasks grouped by type, an aggregation and a protocol, in one YAML file.

A suite answers "how does my model compare on the standard tasks?" with one number per model, computed
as the public suite computes it: BLURB averages the tasks of each type, then the types ("type_macro");
a plain macro average over tasks is the other choice. The score is computed per seed (every task's
headline test score with that seed) and reported as mean ± std over seeds. The built-in suites use
only the data sets ``../shared/data`` holds and list what the public suite has that they lack.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from medforge import config as cfglib
from medforge import meta
from medforge.config import opt
from medforge.errors import ConfigError, InputError
from medforge.tasks.spec import TaskSpec, load_task

AGGREGATIONS = ("type_macro", "macro")
# the evaluate settings a protocol may fix
PROTOCOL_KEYS = ("seeds", "epochs", "max_steps", "batch_size", "learning_rate", "learning_rates", "warmup_ratio",
                 "weight_decay", "label_all_subwords", "search_trials")


@dataclass
class Suite:
    name: str = opt("", "Suite name, used in reports and the leaderboard.")
    description: str = opt("", "One line: what the suite measures.")
    public_suite: str = opt("", "The published suite it follows (BLURB, DrBenchmark, ...), if any.")
    language: str = opt("", "Language code(s) of its tasks.")
    aggregation: str = opt("type_macro", "type_macro: average the tasks of each group, then the groups (BLURB); "
                                         "macro: average the tasks.")
    groups: dict[str, list[str]] = opt({}, "Task type -> tasks (built-in names or task YAML files).")
    lacks: list[str] = opt([], "Tasks of the public suite this one does not have (no data here).")
    protocol: dict[str, Any] = opt({}, f"Fine-tuning protocol, fixed for every model: {', '.join(PROTOCOL_KEYS)}.")
    source: str = field(default="", metadata={"help": "where it was read from"})

    def validate(self, source: str = "") -> None:
        source = source or self.source
        if not self.groups or not all(isinstance(t, list) and t for t in self.groups.values()):
            raise ConfigError(f"{source}: a suite needs 'groups', each a list of at least one task")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"{source}: 'aggregation' must be one of {', '.join(AGGREGATIONS)}, got "
                              f"{self.aggregation!r}")
        unknown = set(self.protocol) - set(PROTOCOL_KEYS)
        if unknown:
            raise ConfigError(f"{source}: unknown protocol keys {sorted(unknown)}; keys are {', '.join(PROTOCOL_KEYS)}")
        names = self.task_names()
        if len(set(names)) != len(names):
            raise ConfigError(f"{source}: a task is listed twice in 'groups'")
        self.settings(source)  # types and ranges checked as the evaluate section's

    def settings(self, source: str = ""):
        """The protocol as evaluate settings (checked like a pipeline's evaluate section)."""
        from medforge.evaluate.config import EvaluateConfig

        return cfglib.from_dict(EvaluateConfig, self.protocol, source=source or self.source, prefix="protocol.")

    def task_refs(self) -> list[str]:
        """The tasks as written: built-in names or task files (relative to the suite's file)."""
        return [t for tasks in self.groups.values() for t in tasks]

    def task_names(self) -> list[str]:
        return [task_name(t) for t in self.task_refs()]

    def named_groups(self) -> dict[str, list[str]]:
        return {g: [task_name(t) for t in tasks] for g, tasks in self.groups.items()}

    def group_of(self, task: str) -> str:
        return next(g for g, tasks in self.named_groups().items() if task in tasks)


def task_name(ref: str) -> str:
    """A task's name in a suite: a built-in's name, or a task file's stem."""
    return Path(ref).stem if ref.endswith((".yaml", ".yml")) else ref


def builtin_dir() -> Path:
    return Path(str(resources.files("medforge") / "suites"))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def load_suite(ref: str) -> Suite:
    path = Path(ref).expanduser()
    if not path.is_file():
        if ref not in builtin_names():
            raise ConfigError(f"suite {ref!r}: no such file and no built-in suite of that name; built-in suites: "
                              f"{', '.join(builtin_names())} (medforge suites ls)")
        path = builtin_dir() / f"{ref}.yaml"
    suite = cfglib.from_dict(Suite, cfglib.load_yaml(path), source=str(path))
    return replace(suite, source=str(path), name=suite.name or path.stem)


def task_specs(suite: Suite, data_root: str | None = None) -> list[TaskSpec]:
    """The suite's tasks, each renamed to its name in the suite; a task file is read relative to the suite."""
    specs = []
    for ref in suite.task_refs():
        local = Path(suite.source).parent / ref
        spec = load_task(str(local) if local.is_file() else ref, data_root)
        specs.append(replace(spec, name=task_name(ref)))
    return specs


def check_files(specs: list[TaskSpec], suite: Suite) -> None:
    """Every task's files, before any fine-tuning: a missing one fails the suite naming it."""
    for spec in specs:
        if spec.format == "hub":
            continue
        for split in ("train", "dev", "test"):
            path = spec.path(split)
            if path is not None and not path.exists():
                raise InputError(f"suite {suite.name}: task {spec.name} ({split}) needs {path}, which does not exist; "
                                 f"point --data-root (or $MEDFORGE_DATA_ROOT) at the folder holding "
                                 f"{getattr(spec, split)}")


def apply_protocol(hp, suite: Suite):
    """The evaluate settings with the suite's protocol in place, its number of seeds included."""
    fixed = suite.settings()
    return replace(hp, **{k: getattr(fixed, k) for k in suite.protocol})


def protocol_record(suite: Suite, specs: list[TaskSpec], hp, seeds: list[int]) -> dict:
    """What makes two suite runs comparable: the tasks as defined and read, and every fine-tuning setting."""
    from medforge.evaluate.harness import HP_FIELDS

    settings = {k: getattr(hp, k) for k in (*HP_FIELDS, "learning_rates", "search_trials")}
    tasks = {spec.name: {k: v for k, v in cfglib.to_dict(spec).items() if k != "data_root"} for spec in specs}
    record = {"suite": suite.name, "aggregation": suite.aggregation, "groups": suite.named_groups(),
              "seeds": len(seeds), "settings": settings, "tasks": tasks}
    return {**record, "hash": meta.hash_json(record)[:12]}


def aggregate(scores: dict[str, float], suite: Suite) -> float:
    """One number from the tasks' headline scores, as the suite aggregates them."""
    if suite.aggregation == "macro":
        return statistics.fmean(scores[t] for t in suite.task_names())
    return statistics.fmean(statistics.fmean(scores[t] for t in tasks) for tasks in suite.named_groups().values())


def suite_scores(document: dict, suite: Suite) -> dict:
    """Per model: the suite score per seed, its mean ± std, the group and task means."""
    from medforge.evaluate.stats import mean_std

    out = {}
    for model in document["models"]:
        entries = {t: document["tasks"][t][model] for t in suite.task_names()}
        per_seed = []
        for seed in document["seeds"]:
            scores = {t: e["test"][e["headline"]]["values"][e["seeds"].index(seed)] for t, e in entries.items()}
            per_seed.append(aggregate(scores, suite))
        tasks = {t: {"metric": e["headline"], "type": e["type"], **e["test"][e["headline"]]}
                 for t, e in entries.items()}
        groups = {g: statistics.fmean(tasks[t]["mean"] for t in ts) for g, ts in suite.named_groups().items()}
        out[model] = {"score": mean_std(per_seed), "groups": groups, "tasks": tasks}
    return out


def report(suite: Suite, scores: dict, protocol: dict) -> str:
    from medforge.evaluate.report import metric_label, pct, spread

    groups = list(suite.groups)
    tasks = suite.task_names()
    how = ("mean of the task-type averages" if suite.aggregation == "type_macro" else "mean of the tasks")
    lines = [f"# Suite {suite.name}", "", suite.description, "",
             f"Suite score: {how}, computed per seed, mean ± std over {protocol['seeds']} seeds. "
             f"Protocol {protocol['hash']}: {', '.join(f'{k} {v}' for k, v in protocol['settings'].items())}.", "",
             "| model | suite score | " + " | ".join(groups) + " |", "|---|---|" + "---|" * len(groups)]
    for model, s in scores.items():
        lines.append(f"| {model} | {pct(s['score']['mean'])}{spread(s['score'])} | " +
                     " | ".join(pct(s["groups"][g]) for g in groups) + " |")
    first = next(iter(scores.values()))["tasks"]
    lines += ["", "| task | group | metric | " + " | ".join(scores) + " |", "|---|---|---|" + "---|" * len(scores)]
    for t in tasks:
        cells = [f"{pct(s['tasks'][t]['mean'])}{spread(s['tasks'][t])}" for s in scores.values()]
        lines.append(f"| {t} | {suite.group_of(t)} | {metric_label(first[t]['type'], first[t]['metric'])} | " +
                     " | ".join(cells) + " |")
    if suite.lacks:
        lines += ["", f"Not in this suite (no data here), unlike {suite.public_suite or 'the public suite'}: "
                  f"{', '.join(suite.lacks)}. Scores are not comparable with the published suite's."]
    return "\n".join(lines) + "\n"


def plot(scores: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(3.5, 1.2 * len(scores)), 3.2))
    means = [100 * s["score"]["mean"] for s in scores.values()]
    stds = [100 * s["score"]["std"] for s in scores.values()]
    ax.bar(list(scores), means, yerr=stds, capsize=4)
    ax.set_ylabel("suite score (%)")
    ax.set_title("mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def finish(document: dict, suite: Suite, specs: list[TaskSpec], hp, out: Path) -> dict:
    """The suite's score from a finished grid of runs: suite.{json,md,png} in ``out``; returns the record."""
    protocol = protocol_record(suite, specs, hp, document["seeds"])
    scores = suite_scores(document, suite)
    record = {"name": suite.name, "public_suite": suite.public_suite, "aggregation": suite.aggregation,
              "groups": suite.named_groups(), "lacks": suite.lacks, "protocol": protocol, "scores": scores}
    meta.write_json(out / "suite.json", record)
    (out / "suite.md").write_text(report(suite, scores, protocol), encoding="utf-8")
    plot(scores, out / "suite.png")
    return record
