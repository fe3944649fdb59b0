"""``medforge export SOURCE --out DIR`` (beside the stage form, ``medforge export --config ...``)."""

from __future__ import annotations

from medforge import config as cfglib
from medforge.errors import ConfigError


def add_parser(sub, stage_help: str, stage_epilog: str, fmt) -> None:
    ex = sub.add_parser(
        "export", help=stage_help, formatter_class=fmt, epilog=stage_epilog,
        description="Two forms. The pipeline stage: medforge export --config PIPELINE.yaml [overrides]. "
                    "Standalone: medforge export SOURCE --out DIR, where SOURCE is a run folder (its encoder, "
                    "card data and fine-tuned head), a pretrain checkpoint-N folder, or a model folder. Either "
                    "way the folder is reloaded by plain transformers in a fresh process and its logits compared.")
    ex.add_argument("targets", nargs="*", help="with --config: dotted overrides; otherwise: the SOURCE folder")
    ex.add_argument("--config", help="pipeline YAML file (the stage form)")
    ex.add_argument("--out", help="standalone form: the folder to write (empty or absent)")
    ex.add_argument("--tokenizer", help="standalone form: tokenizer folder, when SOURCE holds none")
    ex.add_argument("--force", action="store_true", help="stage form: rerun even if up to date; standalone: write "
                                                         "into a non-empty --out")
    ex.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="card settings, e.g. model_name=my-model language=[fr] license=mit sample_texts=0")


def export_standalone(args) -> int:
    from medforge.export.config import ExportConfig
    from medforge.export.hf import export_command

    if len(args.targets) != 1 or not args.out:
        raise ConfigError("export: give one SOURCE and --out DIR (or --config PIPELINE.yaml for the stage form)")
    cfg = cfglib.from_dict(ExportConfig, cfglib.apply_overrides({}, args.set), source="--set")
    summary = export_command(args.targets[0], args.out, cfg, args.tokenizer, args.force)
    heads = f"; fine-tuned heads: {', '.join(summary['heads'])}" if summary["heads"] else ""
    print(f"exported to {summary['path']} (fresh-process reload: max logit difference "
          f"{summary['max_logit_diff']:.1e}){heads}")
    if summary.get("onnx_max_logit_diff") is not None:
        print(f"onnx/model.onnx checked with onnxruntime against PyTorch: max logit difference "
              f"{summary['onnx_max_logit_diff']:.1e}")
    return 0
