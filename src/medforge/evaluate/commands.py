"""``medforge benchmark MODEL... --tasks ...`` (the evaluate stage's fine-tuning and comparison, for any
models, outside a pipeline) and ``medforge tasks {ls,validate}``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medforge import config as cfglib
from medforge import paths
from medforge.errors import ConfigError


def add_parsers(sub, fmt) -> None:
    ev = sub.add_parser(
        "benchmark", help="fine-tune and compare models on tasks over several seeds", formatter_class=fmt,
        description="Fine-tunes every model on every task with every seed (finished runs are kept, so an "
                    "interrupted benchmark resumes), scores them as the evaluate stage does, and compares every "
                    "model with the first (paired bootstrap over test examples, permutation test over seeds).",
        epilog=_settings_help())
    ev.add_argument("models", nargs="+", help="model folders or hub ids to compare, the first being the baseline")
    ev.add_argument("--tasks", nargs="+", required=True, help="built-in task names (medforge tasks ls) or task "
                                                              "YAML files")
    ev.add_argument("--seeds", type=int, default=5, help="runs per task and model (default: 5)")
    ev.add_argument("--seed", type=int, default=42, help="first seed (default: 42)")
    ev.add_argument("--out", default="evaluation", help="output folder (default: evaluation)")
    ev.add_argument("--data-root", help="folder the built-in tasks read from")
    ev.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="fine-tuning settings, e.g. learning_rate=5e-5 epochs=3 batch_size=32")
    ev.set_defaults(func=harness)

    tasks = sub.add_parser("tasks", help="list or validate downstream task definitions")
    actions = tasks.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("ls", help="the built-in tasks and whether their files are present")
    ls.add_argument("--data-root", help="folder the built-in tasks read from")
    validate = actions.add_parser("validate", help="read a task's files and report what they hold and what was "
                                                   "repaired")
    validate.add_argument("tasks", nargs="+", help="task YAML files or built-in names")
    validate.add_argument("--data-root", help="folder the built-in tasks read from")
    validate.add_argument("--json", action="store_true", help="print JSON")
    for p in (ls, validate):
        p.set_defaults(func=tasks_command)


# keys of the evaluate section that benchmark takes from its own options, never from --set
_HARNESS_OPTIONS = {"seeds": "--seeds N", "tasks": "--tasks TASK...", "task": "a task YAML file given to --tasks",
                    "model": "the MODEL arguments", "data_root": "--data-root DIR",
                    "resume": "nothing: finished runs with the same settings are always kept"}


def harness(args) -> int:
    from medforge.evaluate.config import EvaluateConfig
    from medforge.evaluate.harness import run_grid
    from medforge.tasks.spec import load_task

    if args.seeds < 1:
        raise ConfigError(f"benchmark: --seeds must be at least 1, got {args.seeds}")
    raw = cfglib.apply_overrides({}, args.set)
    for key in raw:
        if key in _HARNESS_OPTIONS:
            raise ConfigError(f"benchmark: --set {key}=... is not read by this command; use {_HARNESS_OPTIONS[key]}")
    hp = cfglib.from_dict(EvaluateConfig, raw, source="--set")
    for ref in args.models:
        paths.check_model_folder(paths.model_ref(ref))
    models = dict(zip(paths.short_names(args.models), (paths.model_ref(m) for m in args.models)))
    specs = [load_task(t, args.data_root) for t in args.tasks]
    seeds = [args.seed + i for i in range(args.seeds)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    document = run_grid(models, specs, seeds, hp, out)
    print((out / "comparison.md").read_text(encoding="utf-8"))
    print(f"reports in {out}/ (comparison.md, .tex, .csv, .png; summary.json; one folder per task/model/seed)")
    return 0 if document["tasks"] else 2


def tasks_command(args) -> int:
    from medforge.tasks.data import read_task
    from medforge.tasks.kinds import kind_of
    from medforge.tasks.spec import builtin_names, load_task

    if args.action == "ls":
        print(f"{'task':<18} {'type':<15} {'lang':<5} files")
        for name in builtin_names():
            spec = load_task(name, args.data_root)
            files = [p for p in (spec.path(s) for s in ("train", "dev", "test")) if p is not None]
            # a brat task names folders (one .txt + .ann per document), the others files
            state = "present" if all(p.exists() for p in files) else f"missing under {spec.data_root}"
            print(f"{name:<18} {spec.type:<15} {spec.language:<5} {state}")
        return 0
    reports: dict[str, dict[str, Any]] = {}
    for ref in args.tasks:
        data = read_task(load_task(ref, args.data_root))
        reports[data.spec.name] = {"type": data.spec.type, "summary": data.summary(), "labels": data.labels,
                                   "notes": data.notes, "unseen": data.unseen()}
    if args.json:
        print(json.dumps(reports, indent=2, ensure_ascii=False))
        return 0
    for name, report in reports.items():
        print(f"{name}: valid {report['type']} task, {len(report['labels'])} labels")
        for split, s in report["summary"].items():
            print(f"  {split:<5} {kind_of(report['type']).describe_split(s)}")
        for note in report["notes"]:
            print(f"  note: {note}")
    return 0


def _settings_help() -> str:
    """The evaluate section's settings that benchmark reads from --set, with defaults and advice."""
    from medforge.evaluate.config import EvaluateConfig

    lines = ["fine-tuning settings (--set KEY=VALUE), as in a pipeline's evaluate section:"]
    for key, tp, default, help in cfglib.describe(EvaluateConfig):
        if key.split(".")[0] not in _HARNESS_OPTIONS:
            lines += [f"  {key} ({tp}, default: {default!r})"] + ([f"      {help}"] if help else [])
    return "\n".join(lines)
