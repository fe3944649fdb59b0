"""``medforge benchmark MODEL... --tasks ... | --suite NAME`` (the evaluate stage's fine-tuning and comparison,
for any models, outside a pipeline), ``medforge tasks {ls,validate}``, ``medforge suites ls`` and
``medforge leaderboard``."""

from __future__ import annotations

import dataclasses
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
    which = ev.add_mutually_exclusive_group(required=True)
    which.add_argument("--tasks", nargs="+", help="built-in task names (medforge tasks ls) or task YAML files")
    which.add_argument("--suite", help="a benchmark suite (medforge suites ls, or a suite YAML file): its tasks "
                                       "and its protocol; writes suite.{md,json,png} and adds the run to the "
                                       "leaderboard")
    ev.add_argument("--leaderboard", help="leaderboard file a suite run is added to (default: $MEDFORGE_LEADERBOARD, "
                                          "else ./leaderboard.jsonl)")
    ev.add_argument("--seeds", type=int, help="runs per task and model (default: the suite's, else 5)")
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

    suites = sub.add_parser("suites", help="list the built-in benchmark suites")
    suites.add_argument("action", choices=["ls"], help="ls: each suite's tasks, protocol and what it lacks")
    suites.add_argument("--data-root", help="folder the built-in tasks read from")
    suites.set_defaults(func=suites_command)

    board = sub.add_parser("leaderboard", help="print the leaderboard of suite runs",
                           description="Every finished suite run (medforge benchmark --suite) ranked by suite score, "
                                       "one table per suite and protocol: runs under different protocols are never "
                                       "ranked side by side.")
    board.add_argument("--suite", help="only this suite")
    board.add_argument("--file", help="leaderboard file (default: $MEDFORGE_LEADERBOARD, else ./leaderboard.jsonl)")
    board.add_argument("--csv", action="store_true", help="print CSV instead of Markdown")
    board.set_defaults(func=leaderboard_command)


# keys of the evaluate section that benchmark takes from its own options, never from --set
_HARNESS_OPTIONS = {"seeds": "--seeds N", "tasks": "--tasks TASK...", "task": "a task YAML file given to --tasks",
                    "model": "the MODEL arguments", "data_root": "--data-root DIR",
                    "resume": "nothing: finished runs with the same settings are always kept"}


def harness(args) -> int:
    from medforge.evaluate.config import EvaluateConfig
    from medforge.evaluate.harness import run_grid
    from medforge.tasks.spec import load_task

    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"benchmark: --seeds must be at least 1, got {args.seeds}")
    raw = cfglib.apply_overrides({}, args.set)
    for key in raw:
        if key in _HARNESS_OPTIONS:
            raise ConfigError(f"benchmark: --set {key}=... is not read by this command; use {_HARNESS_OPTIONS[key]}")
    hp = cfglib.from_dict(EvaluateConfig, raw, source="--set")
    for ref in args.models:
        paths.check_model_folder(paths.model_ref(ref))
    models = dict(zip(paths.short_names(args.models), (paths.model_ref(m) for m in args.models)))
    suite = None
    if args.suite:
        from medforge.evaluate import suite as suites

        suite = suites.load_suite(args.suite)
        specs = suites.task_specs(suite, args.data_root)
        suites.check_files(specs, suite)  # before any fine-tuning
        # the protocol, then what --set changes (a changed protocol is another protocol on the leaderboard)
        hp = dataclasses.replace(suites.apply_protocol(hp, suite), **{k: getattr(hp, k) for k in raw})
    else:
        specs = [load_task(t, args.data_root) for t in args.tasks]
    seeds = [args.seed + i for i in range(args.seeds or hp.seeds)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    document = run_grid(models, specs, seeds, hp, out)
    print((out / "comparison.md").read_text(encoding="utf-8"))
    if suite is not None:
        from medforge.evaluate import leaderboard
        from medforge.evaluate.suite import finish

        record = finish(document, suite, specs, hp, out)
        board = Path(args.leaderboard) if args.leaderboard else leaderboard.default_path()
        leaderboard.append(board, record, models)
        print((out / "suite.md").read_text(encoding="utf-8"))
        print(f"added to the leaderboard {board} (medforge leaderboard --suite {suite.name})")
    print(f"reports in {out}/ (comparison.md, .tex, .csv, .png; summary.json; "
          f"{'suite.md, .json, .png; ' if suite else ''}one folder per task/model/seed)")
    return 0 if document["tasks"] else 2


def suites_command(args) -> int:
    from medforge.evaluate.suite import builtin_names, load_suite, task_specs

    for name in builtin_names():
        suite = load_suite(name)
        specs = task_specs(suite, args.data_root)
        missing = [str(p) for s in specs for p in (s.path(x) for x in ("train", "dev", "test"))
                   if p is not None and not p.exists()]
        print(f"{name} ({suite.language}; after {suite.public_suite or 'no public suite'}; {suite.aggregation}): "
              f"{suite.description}")
        for group, tasks in suite.groups.items():
            print(f"  {group}: {', '.join(tasks)}")
        print(f"  protocol: {', '.join(f'{k} {v}' for k, v in suite.protocol.items())}")
        print(f"  lacks: {'; '.join(suite.lacks) or 'nothing'}")
        print(f"  files: {'present' if not missing else 'missing: ' + ', '.join(missing)}")
    return 0


def leaderboard_command(args) -> int:
    from medforge.evaluate import leaderboard

    entries = leaderboard.read(Path(args.file) if args.file else leaderboard.default_path())
    print(leaderboard.as_csv(entries, args.suite) if args.csv else leaderboard.markdown(entries, args.suite), end="")
    return 0


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
        kind = kind_of(report["type"])
        what = "a score per pair" if kind.regression else f"{len(report['labels'])} labels"
        print(f"{name}: valid {report['type']} task, {what}")
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
