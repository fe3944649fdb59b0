"""Command line: one subcommand per stage, ``run`` for the whole chain, and inference commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from medforge import __version__, log
from medforge.errors import MedforgeError

OVERRIDES_HELP = "dotted overrides such as pretrain.max_steps=50 (values are read as YAML)"
# where a stage has a second, standalone command (not part of a pipeline run)
STAGE_ALSO = {"evaluate": " Outside a pipeline, medforge benchmark MODEL... --tasks TASK... fine-tunes and compares "
                          "any models.",
              "export": " Outside a pipeline, medforge export-model SOURCE --out DIR exports a run, checkpoint or "
                        "model folder."}
# torchrun and accelerate launch turn any non-zero exit of a rank into their own status 1, so the time
# budget's status 3 never reaches a job script through them: the main process also writes its status here
STATUS_FILE_ENV = "MEDFORGE_STATUS_FILE"


def _pipeline():
    from medforge import pipeline  # light: configs only, no torch

    return pipeline


def build_parser() -> argparse.ArgumentParser:
    from medforge import config as cfglib

    pipeline = _pipeline()
    parser = argparse.ArgumentParser(prog="medforge", description="Build, evaluate and publish biomedical "
                                     "language models: corpus -> tokenizer -> pretrain -> evaluate -> export.")
    parser.add_argument("--version", action="version", version=f"medforge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter

    run = sub.add_parser("run", help="run the whole pipeline, skipping stages already done",
                         formatter_class=fmt, epilog=cfglib.format_help(pipeline.PipelineConfig))
    # optional for argparse only: its message for a missing one would also call the overrides required
    run.add_argument("config", nargs="?", help="pipeline YAML file (e.g. configs/demo.yaml)")
    run.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    run.add_argument("--force", action="store_true", help="rerun every stage even if up to date")
    run.add_argument("--profile", help="apply a profile of the file's 'profiles' section first (recipes have 'smoke')")
    run.set_defaults(func=lambda args: _stage(args, None))

    def stage_args(p):
        p.add_argument("--config", required=True, help="pipeline YAML file; this stage reads its own section")
        p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
        p.add_argument("--force", action="store_true", help="rerun the stage even if up to date")
        p.add_argument("--profile", help="apply a profile of the file's 'profiles' section first")

    for stage in pipeline.STAGES:
        if stage.name == "tokenizer":
            _tokenizer_parsers(sub, stage, pipeline, fmt, stage_args)
            continue
        p = sub.add_parser(stage.name, help=stage.help, description=stage.help + STAGE_ALSO.get(stage.name, ""),
                           formatter_class=fmt, epilog=pipeline.describe_stage(stage))
        stage_args(p)
        if stage.name == "prepare":
            p.add_argument("--ray", metavar="ADDRESS", help="run the per-file and per-band tasks on a Ray cluster "
                           "('auto' or HEAD:PORT); the same output as one process (sets prepare.ray)")
            p.add_argument("--part", metavar="I/N", help="process only part I of N of the input files (0-based), "
                           "e.g. a SLURM array task's share, and stop; a last run without --part (with "
                           "prepare.engine=tasks) reuses every part and writes the corpus")
        if stage.name == "pretrain":
            p.add_argument("--pack-part", metavar="I/N", help="only tokenize part I of N of the prepared corpus's "
                           "shard files for packing (0-based), e.g. a SLURM array task's share, and stop; the "
                           "pre-training run reuses every finished part")
        p.set_defaults(func=lambda args, name=stage.name: _stage(args, name))

    from medforge.evaluate.commands import add_parsers
    from medforge.export.commands import add_parser

    add_parsers(sub, fmt)
    add_parser(sub, fmt)

    ds = sub.add_parser("distill", help="run the pipeline with a student distilled from TEACHER",
                        description="The pipeline with pre-training replaced by distillation from TEACHER (its "
                                    "tokenizer is kept): the same as medforge run PIPELINE.yaml "
                                    "pretrain.distill.teacher=TEACHER tokenizer.base=TEACHER. The evaluate stage "
                                    "fine-tunes the teacher beside the student and writes student_vs_teacher.md.")
    ds.add_argument("--teacher", required=True, help="teacher masked LM folder (or hub id)")
    stage_args(ds)
    ds.set_defaults(func=_distill)

    fm = sub.add_parser("fill-mask", help="predict the masked words of a text")
    fm.add_argument("model", help="model folder (or hub id where a network is available)")
    fm.add_argument("text", nargs="*", help="texts holding the mask token, e.g. '<mask>'")
    fm.add_argument("--file", help="read texts from this file, one per line")
    fm.add_argument("--top-k", type=int, default=5, help="candidates per mask (default: 5)")
    fm.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fm.add_argument("--targets", nargs="+", help="rank only these words (each must be one vocabulary entry)")
    fm.set_defaults(func=_fill_mask)

    cf = sub.add_parser("convert-fairseq", help="convert a fairseq RoBERTa checkpoint to a Hugging Face folder",
                        description="Convert a fairseq RoBERTa/CamemBERT checkpoint folder (model.pt, dict.txt, and "
                                    "encoder.json + vocab.bpe or sentencepiece.bpe.model) to a Hugging Face folder; "
                                    "logits and token ids are checked against fairseq's definitions.")
    cf.add_argument("folder", help="the fairseq checkpoint folder")
    cf.add_argument("--out", required=True, help="output folder")
    cf.set_defaults(func=_convert_fairseq)

    sv = sub.add_parser("serve", help="a local web page over models and runs (fill-mask, NER, tokenizers, dashboard)",
                        description="A local Gradio app: fill-mask with several models side by side, NER highlighting "
                                    "with JSONL and brat downloads, tokenizers side by side, and a dashboard per run "
                                    "(stage status, corpus report, training curves, evaluation, model card). Needs "
                                    "the 'ui' extra. Binds to 127.0.0.1 unless --host says otherwise.")
    sv.add_argument("paths", nargs="+", help="run folders (RUN_DIR), exported models (RUN/model) or model folders")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    sv.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    sv.set_defaults(func=_serve)

    tg = sub.add_parser("tag", help="find entities in raw text files with a fine-tuned NER model",
                        description="Tag raw text files with a model fine-tuned by medforge evaluate: entities "
                                    "with character offsets, as OUT/<name>.jsonl and brat OUT/<name>.ann (+ .txt).")
    tg.add_argument("model", help="token-classification model folder, e.g. RUN/evaluate/model")
    tg.add_argument("files", nargs="+", help="UTF-8 text files")
    tg.add_argument("--out", default="tagged", help="output folder (default: tagged)")
    tg.add_argument("--max-length", type=int, help="window length in tokens (default: the tokenizer's, at most 512)")
    tg.add_argument("--batch-size", type=int, default=32, help="windows per forward pass (default: 32)")
    tg.set_defaults(func=_tag)
    return parser


def _tokenizer_parsers(sub, stage, pipeline, fmt, stage_args) -> None:
    group = sub.add_parser("tokenizer", help="train, audit or adapt tokenizers",
                           description="Tokenizers: train (the pipeline stage), audit, adapt.")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    train = actions.add_parser("train", help=stage.help, description=stage.help, formatter_class=fmt,
                               epilog=pipeline.describe_stage(stage))
    stage_args(train)
    train.set_defaults(func=lambda args: _stage(args, "tokenizer"))
    audit = actions.add_parser("audit", help="fertility, split share, UNK rate, overlap on domain text",
                               description="Compare tokenizers on held-out domain text; writes "
                                           "audit.{md,csv,json,png}.")
    audit.add_argument("tokenizers", nargs="+", help="tokenizer or model folders (or hub ids)")
    audit.add_argument("--text", required=True, help="held-out domain text, one document or sentence per line")
    audit.add_argument("--out", default="tokenizer-audit", help="folder for the reports (default: tokenizer-audit)")
    audit.add_argument("--top", type=int, default=20, help="most fragmented words listed per tokenizer (default: 20)")
    audit.set_defaults(func=_audit)
    adapt = actions.add_parser("adapt", help="add domain tokens to a base model's vocabulary",
                               description="Extend a base tokenizer with the K domain words that save the most "
                                           "tokens, and resize and initialise the model's embeddings.")
    adapt.add_argument("base", help="base model (or tokenizer) folder, or hub id")
    adapt.add_argument("--corpus", nargs="+", required=True, help="domain text files, one document per line")
    adapt.add_argument("--add", type=int, default=1000, help="new tokens to add, K (default: 1000)")
    adapt.add_argument("--min-count", type=int, default=5, help="ignore words rarer than this (default: 5)")
    adapt.add_argument("--out", required=True, help="output folder (must be empty or absent)")
    adapt.add_argument("--force", action="store_true", help="write into a non-empty --out")
    adapt.set_defaults(func=_adapt)


def _audit(args) -> int:
    from medforge.paths import model_ref, short_names
    from medforge.tokenizer.audit import Audited, audit, read_lines, write_reports
    from medforge.tokenizer.load import load_word_tokenizer

    lines = read_lines(args.text)
    names = short_names(args.tokenizers)
    audited = [Audited(name, load_word_tokenizer(model_ref(t, "tokenizer"))) for name, t in
               zip(names, args.tokenizers)]
    result = audit(audited, lines, top=args.top)
    write_reports(result, Path(args.out), args.text)
    print((Path(args.out) / "audit.md").read_text(encoding="utf-8").split("\n## Vocabulary")[0])
    print(f"reports in {args.out}/ (audit.md, audit.csv, audit.json, audit.png)")
    return 0


def _adapt(args) -> int:
    from medforge.tokenizer.adapt import adapt_cli

    return adapt_cli(args)


def _distill(args) -> int:
    args.overrides = [f"pretrain.distill.teacher={args.teacher}", f"tokenizer.base={args.teacher}", *args.overrides]
    return _stage(args, None)


def _tag(args) -> int:
    from medforge.infer.tag import tag_files

    counts = tag_files(args.model, args.files, Path(args.out), args.max_length, args.batch_size)
    for name, n in counts.items():
        print(f"{name}: {n} entities")
    print(f"written to {args.out}/ (.jsonl with character offsets, brat .ann and .txt)")
    return 0


def _convert_fairseq(args) -> int:
    from medforge.export.fairseq import convert

    result = convert(args.folder, args.out)
    print(f"converted to {result['path']} ({result['layers']} layers, vocabulary {result['vocab']}, "
          f"{result['bpe']} BPE): equal logits (max difference {result['max_logit_diff']:.1e}) and equal token ids")
    return 0


def _stage(args, name: str | None) -> int:
    pipeline = _pipeline()
    if getattr(args, "ray", None):
        args.overrides = [*args.overrides, f"prepare.ray={args.ray}"]
    cfg = pipeline.load(args.config, args.overrides, getattr(args, "profile", None))
    if getattr(args, "part", None):
        return _prepare_part(cfg, args.part)
    if getattr(args, "pack_part", None):
        return _pack_part(cfg, args.pack_part)
    status = pipeline.run(cfg, only=None if name is None else [name], force=args.force)
    if not log.is_main_process():
        return 0
    export_dir = pipeline.stage_dir(Path(cfg.run_dir), pipeline.STAGE_BY_NAME["export"])
    if name in (None, "export") and (export_dir / pipeline.MARKER).exists():
        print(f"model ready: {cfg.run_dir}/model  (try: medforge fill-mask {cfg.run_dir}/model "
              f"\"The patient was treated with <mask>.\")")
    print(" ".join(f"{stage}={state}" for stage, state in status.items()))
    return 0


def _serve(args) -> int:
    from medforge.ui.app import serve

    serve(args.paths, args.host, args.port)
    return 0


def _part(flag: str, part: str) -> tuple[int, int]:
    from medforge.errors import ConfigError

    try:
        index, count = (int(x) for x in part.split("/"))
    except ValueError:
        raise ConfigError(f"{flag} {part}: expected I/N, e.g. 0/16 for the first of 16 parts") from None
    return index, count


def _pack_part(cfg, part: str) -> int:
    from medforge import paths
    from medforge.errors import MedforgeError
    from medforge.pretrain.stage import tokenize_part

    pipeline = _pipeline()
    index, count = _part("--pack-part", part)
    cfg.pretrain.validate("section 'pretrain' of the pipeline file")
    run_dir = Path(cfg.run_dir)
    done = {}
    for name in ("prepare", "tokenizer"):
        folder = pipeline.stage_dir(run_dir, pipeline.STAGE_BY_NAME[name])
        if not (folder / pipeline.MARKER).exists() and not (name == "tokenizer" and cfg.pretrain.tokenizer):
            raise MedforgeError(f"--pack-part: the {name} stage has not finished in {folder}; run it first "
                                f"(medforge {name} --config ...)")
        done[name] = folder
    tokenizer = paths.model_ref(cfg.pretrain.tokenizer, "tokenizer") if cfg.pretrain.tokenizer else done["tokenizer"]
    result = tokenize_part(cfg.pretrain, run_dir, done["prepare"], tokenizer, index, count)
    print(f"pack part {index}/{count}: {result['files']['train']} train and {result['files']['validation']} "
          f"validation shard files tokenized in {result['seconds']} s -> {result['work']}")
    return 0


def _prepare_part(cfg, part: str) -> int:
    from medforge.corpus.engine import run_part

    index, count = _part("--part", part)
    cfg.prepare.validate("section 'prepare' of the pipeline file")
    done = run_part(cfg.prepare, cfg.run_dir, index, count)
    print(f"part {index}/{count}: {done['files']} files, {done['documents']} documents in {done['seconds']} s "
          f"-> {done['work']}")
    return 0


def _fill_mask(args) -> int:
    from medforge.errors import InputError
    from medforge.infer.fill_mask import fill_mask, load

    texts = list(args.text)
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise InputError(f"{path}: file not found")
        texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise InputError("no text given; pass texts as arguments or --file FILE")
    tokenizer, model = load(args.model)
    results = fill_mask(tokenizer, model, texts, top_k=args.top_k, targets=args.targets)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    for result in results:
        print(result["text"])
        for i, m in enumerate(result["masks"], start=1):
            print(f"  mask {i}: " + "  ".join(f"{p['token_str'].strip()!r} {p['score']:.3f}" for p in m["predictions"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    status = _main(argv)
    target = os.environ.get(STATUS_FILE_ENV)
    if target and log.is_main_process():
        tmp = Path(f"{target}.tmp")
        tmp.write_text(f"{status}\n", encoding="utf-8")
        os.replace(tmp, target)
    return status


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run" and args.config is None:
        print("medforge run: error: give the pipeline file, e.g. medforge run configs/demo.yaml "
              "[key.sub=value ...] (medforge run --help lists every key)", file=sys.stderr)
        return 2
    log.setup(verbose=args.verbose)
    try:
        return args.func(args)
    except MedforgeError as exc:
        print(f"medforge: {'error: ' if exc.exit_code == 2 else ''}{exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("medforge: interrupted; finished stages are kept, rerun to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped early (| head): not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
