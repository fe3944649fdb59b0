"""Runs stages in order, each into ``RUN_DIR/<stage>/``, skipping those already done.

A stage's key hashes its resolved config, the run seed, the fingerprints of its external
input files and the identity of each run of the stages it reads (their key and finish
time). A finished stage leaves a marker holding its key; a rerun skips a stage whose marker
matches and reruns it when anything changed. Through the chained identities, a stage that
ran again (changed, forced or interrupted) makes every stage after it run again too.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import time
import typing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medforge import config as cfglib
from medforge import log, meta
from medforge.corpus.config import PrepareConfig
from medforge.errors import ConfigError, MedforgeError
from medforge.evaluate.config import EvaluateConfig
from medforge.export.config import ExportConfig
from medforge.pretrain.config import PretrainConfig
from medforge.stage import StageContext
from medforge.tokenizer.config import TokenizerConfig

MARKER = "_COMPLETED.json"
STARTED = "_STARTED.json"  # the key of the attempt in progress: a rerun with the same key may resume it
logger = log.get("pipeline")


@dataclass(frozen=True)
class Stage:
    name: str  # config section and CLI subcommand
    dirname: str  # folder under RUN_DIR
    needs: tuple[str, ...]  # stages whose folders this one reads
    package: str  # its entry is medforge.<package>.stage:run, imported only when it runs (keeps --help fast)
    help: str
    distributed: bool = False  # under torchrun/accelerate every process runs it; otherwise rank 0 only

    @property
    def entry(self) -> str:
        return f"medforge.{self.package}.stage:run"


STAGES: tuple[Stage, ...] = (
    Stage("prepare", "prepare", (), "corpus",
          "Read, clean, screen, deduplicate and split the corpus into Parquet shards, with a corpus report."),
    Stage("tokenizer", "tokenizer", ("prepare",), "tokenizer",
          "Train a tokenizer on the prepared training split."),
    Stage("pretrain", "pretrain", ("prepare", "tokenizer"), "pretrain",
          "Pack the corpus and pre-train a masked language model.", distributed=True),
    Stage("evaluate", "evaluate", ("pretrain",), "evaluate",
          "Fine-tune on NER tasks over several seeds; score them (seqeval strict IOB2, mean ± std)."),
    Stage("export", "model", ("prepare", "pretrain", "evaluate"), "export",
          "Write the model as a Hugging Face folder with a model card."),
)
STAGE_BY_NAME = {s.name: s for s in STAGES}


@dataclass
class PipelineConfig:
    run_dir: str = cfglib.opt("runs/medforge", "Folder that receives one sub-folder per stage.")
    seed: int = cfglib.opt(42, "Seed for splits, initialisation, masking and data order.")
    base_model: str = cfglib.opt("", "The model this pipeline starts from (continual pre-training, distillation); "
                                     "other settings refer to it as ${base_model}, so that one override moves them "
                                     "all (any top-level setting can be referred to this way).")
    prepare: PrepareConfig = cfglib.opt(PrepareConfig(), "")
    tokenizer: TokenizerConfig = cfglib.opt(TokenizerConfig(), "")
    pretrain: PretrainConfig = cfglib.opt(PretrainConfig(), "")
    evaluate: EvaluateConfig = cfglib.opt(EvaluateConfig(), "")
    export: ExportConfig = cfglib.opt(ExportConfig(), "")


def load(path: str | Path, overrides: list[str] | None = None, profile: str | None = None) -> PipelineConfig:
    """The pipeline file, with a profile of its ``profiles`` section (e.g. a recipe's ``smoke``) and then the
    command-line overrides applied."""
    raw = cfglib.apply_profile(cfglib.load_yaml(path), profile, str(path))
    source = str(path) if profile is None else f"{path} (profile {profile})"
    if overrides:
        raw = cfglib.apply_overrides(raw, overrides)
        source = f"{path} (with command-line overrides)"
    return cfglib.from_dict(PipelineConfig, cfglib.interpolate(raw, source), source=source)


def stage_dir(run_dir: Path, stage: Stage) -> Path:
    return run_dir / stage.dirname


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_marker(folder: Path) -> dict | None:
    return _read_json(folder / MARKER)


def run_identity(marker: dict) -> str:
    return f"{marker['key']}@{marker['finished']}"


def stage_key(stage: Stage, stage_cfg: Any, seed: int, upstream_keys: dict[str, str]) -> tuple[str, dict]:
    inputs = {p: meta.fingerprint(p) for p in stage_cfg.input_paths()}
    config = {k: v for k, v in cfglib.to_dict(stage_cfg).items() if k not in getattr(stage_cfg, "operational", ())}
    key = meta.hash_json({"stage": stage.name, "config": config, "seed": seed,
                          "inputs": inputs, "upstream": upstream_keys})
    return key, inputs


def _load_entry(entry: str):
    module, _, func = entry.partition(":")
    return getattr(importlib.import_module(module), func)


class Processes:
    """One process, or all of a torchrun/accelerate launch: rank 0 writes, the others wait for it."""

    def __init__(self):
        self.state = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch
            from accelerate import PartialState  # sets up the process group (gloo on CPU, nccl on GPU)

            # without cpu=True on a machine without GPU, accelerate sees one process per rank
            self.state = PartialState(cpu=not torch.cuda.is_available())
            if self.state.num_processes < 2:
                raise MedforgeError("launched as several processes but accelerate formed no process group; "
                                    "check the torchrun/accelerate launch settings")

    @property
    def main(self) -> bool:
        return self.state is None or self.state.is_main_process

    def barrier(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()


def run(cfg: PipelineConfig, only: list[str] | None = None, force: bool = False) -> dict[str, str]:
    """Run the stages named in ``only`` (default: all) in pipeline order; return each stage's status."""
    run_dir = Path(cfg.run_dir)
    processes = Processes()
    selected = set(only or STAGE_BY_NAME)
    unknown = selected - set(STAGE_BY_NAME)
    if unknown:
        raise ConfigError(f"unknown stage(s) {sorted(unknown)}; stages are {list(STAGE_BY_NAME)}")
    keys: dict[str, str] = {}
    dirs: dict[str, Path] = {}
    status: dict[str, str] = {}
    for stage in STAGES:
        out = stage_dir(run_dir, stage)
        marker = read_marker(out)
        if stage.name not in selected:
            if marker:
                keys[stage.name], dirs[stage.name] = run_identity(marker), out
            continue
        stage_cfg = getattr(cfg, stage.name)
        # a section absent from the file holds defaults that were never validated (no prepare inputs, say):
        # checked here, before the stage's folder is touched
        getattr(stage_cfg, "validate", lambda source: None)(f"section '{stage.name}' of the pipeline file")
        upstream_keys = {n: keys[n] for n in stage.needs if n in keys}
        key, inputs = stage_key(stage, stage_cfg, cfg.seed, upstream_keys)
        if marker and marker.get("key") == key and not force:
            logger.info("stage %s: up to date in %s, skipped", stage.name, out)
            keys[stage.name], dirs[stage.name] = run_identity(marker), out
            status[stage.name] = "skipped"
            continue
        reason = "forced" if force and marker else "config or inputs changed" if marker else "not run yet"
        logger.info("stage %s: running (%s) -> %s", stage.name, reason, out)
        marker = _run_stage(stage, stage_cfg, cfg, out, key, inputs, upstream_keys,
                            {n: dirs[n] for n in stage.needs if n in dirs}, processes)
        keys[stage.name], dirs[stage.name] = run_identity(marker), out
        status[stage.name] = "ran"
    return status


def _run_stage(stage: Stage, stage_cfg: Any, cfg: PipelineConfig, out: Path, key: str, inputs: dict,
               upstream_keys: dict, upstream_dirs: dict, processes: Processes) -> dict:
    if processes.main:
        _prepare_folder(stage, stage_cfg, cfg, out, key)
    processes.barrier()
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    ctx = StageContext(run_dir=Path(cfg.run_dir), out=out, seed=cfg.seed, upstream=upstream_dirs)
    summary: dict = {}
    if stage.distributed or processes.main:
        summary = _load_entry(stage.entry)(stage_cfg, ctx) or {}
    processes.barrier()
    wall = time.perf_counter() - t0
    if processes.main:
        meta.write_json(out / "meta.json", {
            "stage": stage.name, "key": key, "seed": cfg.seed, "started": started.isoformat(),
            "wall_time_s": round(wall, 3), "versions": meta.versions(), "git": meta.git_commit(),
            "processes": int(os.environ.get("WORLD_SIZE", "1")),
            "input_fingerprints": inputs, "upstream_keys": upstream_keys, "summary": summary,
        })
        meta.write_json(out / MARKER, {"key": key, "finished": datetime.now(UTC).isoformat()})
        logger.info("stage %s: done in %.1f s", stage.name, wall)
    processes.barrier()  # the marker (last, so a stage without it is unfinished) is there for every process
    marker = read_marker(out)
    assert marker is not None, f"{out / MARKER} was just written"
    return marker


def _prepare_folder(stage: Stage, stage_cfg: Any, cfg: PipelineConfig, out: Path, key: str) -> None:
    if out.exists():
        if any(out.iterdir()) and not (out / "config.yaml").is_file():
            raise MedforgeError(f"{out} holds files that medforge did not write; move them away or "
                                "choose another 'run_dir'")
        started = _read_json(out / STARTED)
        resumable = getattr(stage_cfg, "resume", False) and not (out / MARKER).exists() and \
            started is not None and started.get("key") == key
        if resumable:
            logger.info("stage %s: an interrupted attempt with the same config is resumed", stage.name)
        else:  # a folder of this stage whose marker is stale or absent: its content is outdated
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    meta.write_json(out / STARTED, {"key": key})
    resolved = {"run_dir": cfg.run_dir, "seed": cfg.seed, stage.name: cfglib.to_dict(stage_cfg)}
    cfglib.dump_yaml(resolved, out / "config.yaml")


def describe_stage(stage: Stage) -> str:
    cls = typing.get_type_hints(PipelineConfig)[stage.name]
    return cfglib.format_help(cls, prefix=stage.name + ".")
