"""``medforge export-model SOURCE --out DIR``: the export stage's work on any run, checkpoint or model folder."""

from __future__ import annotations

from medforge import config as cfglib


def add_parser(sub, fmt) -> None:
    ex = sub.add_parser(
        "export-model", help="export a run, checkpoint or model folder as a Hugging Face folder with a card",
        formatter_class=fmt,
        description="SOURCE is a run folder (its encoder, card data and fine-tuned head), a pretrain checkpoint-N "
                    "folder, or a model folder. The folder written is reloaded by plain transformers in a fresh "
                    "process and its logits compared, as the export stage does.")
    ex.add_argument("source", help="run folder, checkpoint-N folder or model folder")
    ex.add_argument("--out", required=True, help="the folder to write (empty or absent)")
    ex.add_argument("--tokenizer", help="tokenizer folder, when SOURCE holds none")
    ex.add_argument("--force", action="store_true", help="write into a non-empty --out")
    ex.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="card settings, e.g. model_name=my-model language=[fr] license=mit sample_texts=0")
    ex.set_defaults(func=export_standalone)


def export_standalone(args) -> int:
    from medforge.export.config import ExportConfig
    from medforge.export.hf import export_command

    cfg = cfglib.from_dict(ExportConfig, cfglib.apply_overrides({}, args.set), source="--set")
    summary = export_command(args.source, args.out, cfg, args.tokenizer, args.force)
    heads = f"; fine-tuned heads: {', '.join(summary['heads'])}" if summary["heads"] else ""
    print(f"exported to {summary['path']} (fresh-process reload: max logit difference "
          f"{summary['max_logit_diff']:.1e}){heads}")
    if summary.get("onnx_max_logit_diff") is not None:
        print(f"onnx/model.onnx checked with onnxruntime against PyTorch: max logit difference "
              f"{summary['onnx_max_logit_diff']:.1e}")
    return 0
