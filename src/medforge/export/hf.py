"""The export stage: the pre-trained model as a Hugging Face folder, with a model card.

Checked before it is called done: the config's special-token ids agree with the tokenizer,
and the folder reloaded with plain ``transformers`` gives the same logits as the trained model.
"""

from __future__ import annotations

import json

import torch
import yaml
from transformers import AutoModelForMaskedLM, AutoTokenizer

from medforge import log
from medforge.errors import MedforgeError
from medforge.export.card import build_card
from medforge.export.config import ExportConfig
from medforge.tokenizer.special import check_special_tokens

logger = log.get("export")
SAMPLE = "The patient was admitted with fever and cough."


def check_config_ids(model_config, tokenizer, where: str) -> None:
    # BERT layouts have no bos/eos: the model's bos/eos are its [CLS]/[SEP]
    expected = {"pad_token_id": tokenizer.pad_token_id,
                "bos_token_id": tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id,
                "eos_token_id": tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id}
    for name, in_tokenizer in expected.items():
        in_config = getattr(model_config, name, None)
        if in_config is not None and in_config != in_tokenizer:
            raise MedforgeError(f"{where}: config.json has {name}={in_config} but the tokenizer says "
                                f"{in_tokenizer}; the model would read the wrong token")
    if len(tokenizer) > model_config.vocab_size:
        raise MedforgeError(f"{where}: the tokenizer has {len(tokenizer)} tokens but the model only "
                            f"{model_config.vocab_size} embeddings")


@torch.no_grad()
def max_logit_diff(a, b, tokenizer) -> float:
    batch = tokenizer([SAMPLE, f"Le patient présente une {tokenizer.mask_token}."], return_tensors="pt", padding=True)
    return float((a(**batch).logits - b(**batch).logits).abs().max())


def run(cfg: ExportConfig, ctx) -> dict:
    source = ctx.need("pretrain") / "model"
    model = AutoModelForMaskedLM.from_pretrained(source).eval()
    tokenizer = AutoTokenizer.from_pretrained(source)
    check_special_tokens(tokenizer, str(source), vocab_size=model.config.vocab_size)
    check_config_ids(model.config, tokenizer, str(source))
    model.save_pretrained(ctx.out, safe_serialization=True)
    tokenizer.save_pretrained(ctx.out)

    corpus_stats = json.loads((ctx.need("prepare") / "stats.json").read_text(encoding="utf-8"))
    pretrain_dir = ctx.need("pretrain")
    pretrain_cfg = yaml.safe_load((pretrain_dir / "config.yaml").read_text(encoding="utf-8"))["pretrain"]
    summary = json.loads((pretrain_dir / "train_summary.json").read_text(encoding="utf-8"))
    results_path = ctx.upstream.get("evaluate")
    results = json.loads((results_path / "results.json").read_text(encoding="utf-8")) if results_path else None
    card = build_card(cfg.model_name, cfg.description, cfg.language, cfg.license, model.config,
                      tokenizer.mask_token, corpus_stats, pretrain_cfg, summary, results)
    card.save(ctx.out / "README.md")

    reloaded = AutoModelForMaskedLM.from_pretrained(ctx.out).eval()
    diff = max_logit_diff(model, reloaded, AutoTokenizer.from_pretrained(ctx.out))
    if diff > 1e-5:
        raise MedforgeError(f"{ctx.out}: the reloaded model's logits differ by {diff:.2e} from the trained model")
    logger.info("exported to %s (reload check: max logit difference %.1e)", ctx.out, diff)
    return {"path": str(ctx.out), "max_logit_diff": diff, "parameters": model.num_parameters()}
