"""fairseq RoBERTa checkpoints (``model.pt`` + ``dict.txt`` + BPE files) to a Hugging Face folder.

bio-lm and CamemBERT shipped fairseq tarballs. The layout read here is fairseq's own:
``model.pt`` holds ``model`` (the state dict, under ``encoder.`` since fairseq 0.10, ``decoder.``
before) and ``cfg`` (0.10+) or ``args`` (older); ``dict.txt`` holds one ``symbol count`` per line,
after the four symbols every fairseq dictionary starts with (``<s> <pad> </s> <unk>``); the
masked-LM task appends ``<mask>``. The BPE is GPT-2's (``encoder.json`` + ``vocab.bpe``, where
dictionary symbols are GPT-2 ids) or SentencePiece (``sentencepiece.bpe.model``, symbols are
pieces).

The result is checked twice before it is written: logits of the HF model equal those of an
independent forward pass of fairseq's architecture run on the checkpoint's own tensors, and the HF
tokenizer gives the ids that the original BPE and dictionary give on sample texts.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from medforge.errors import InputError, MedforgeError

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
MASK = "<mask>"
SAMPLES = ("The patient was admitted with fever and cough.", "Aspirin 100 mg once daily; no known allergy.",
           "Le patient présente une pneumopathie aiguë.", "  Fièvre :\t39 °C,   toux  sèche. ")


def load_checkpoint(path: Path) -> dict:
    """``model.pt`` without executing pickled code: tensors, containers and argparse.Namespace only."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; a fairseq checkpoint folder holds model.pt and dict.txt") from None
    except Exception as exc:  # the unpickler refuses anything it does not know, or the file is damaged
        raise InputError(f"{path}: cannot be read as a fairseq checkpoint with weights_only loading ({exc}); "
                         "only checkpoints of tensors and plain settings are accepted") from None


def read_dictionary(path: Path) -> list[str]:
    """fairseq's symbols in id order: the four specials, the file's symbols, then ``<mask>``."""
    if not path.is_file():
        raise InputError(f"{path}: file not found; the fairseq dictionary is needed for the ids")
    symbols = list(SPECIALS)
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.rstrip().rsplit(" ", 1)
        if len(parts) == 2 and parts[1] == "#fairseq:overwrite":
            parts = parts[0].rsplit(" ", 1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise InputError(f"{path}:{lineno}: expected '<symbol> <count>', got {line!r}")
        symbols.append(parts[0])
    return symbols + [MASK]


def settings(checkpoint: dict) -> dict:
    if isinstance(checkpoint.get("cfg"), dict) and checkpoint["cfg"].get("model"):
        model = checkpoint["cfg"]["model"]
        return dict(model) if isinstance(model, dict) else vars(model)
    if checkpoint.get("args") is not None:
        return vars(checkpoint["args"])
    raise MedforgeError("the checkpoint holds neither 'cfg' nor 'args'; it is not a fairseq checkpoint")


@dataclass
class Architecture:
    prefix: str
    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    activation: str
    emb_norm: str


def architecture(weights: dict, model_settings: dict, where: Path) -> Architecture:
    prefix = next((p for p in ("encoder.sentence_encoder.", "decoder.sentence_encoder.")
                   if p + "embed_tokens.weight" in weights), None)
    if prefix is None:
        raise MedforgeError(f"{where}: no '*.sentence_encoder.embed_tokens.weight'; not a fairseq RoBERTa checkpoint")
    for flag, wanted in (("encoder_normalize_before", False), ("untie_weights_roberta", False),
                         ("no_scale_embedding", True)):
        if flag in model_settings and bool(model_settings[flag]) != wanted:
            raise MedforgeError(f"{where}: {flag}={model_settings[flag]} has no Hugging Face RoBERTa equivalent")
    vocab, hidden = weights[prefix + "embed_tokens.weight"].shape
    layers = 1 + max(int(m.group(1)) for k in weights if (m := re.match(re.escape(prefix) + r"layers\.(\d+)\.", k)))
    heads = model_settings.get("encoder_attention_heads")
    if not heads:
        raise MedforgeError(f"{where}: the settings do not say encoder_attention_heads")
    emb_norm = next((n for n in ("layernorm_embedding", "emb_layer_norm") if prefix + n + ".weight" in weights), None)
    if emb_norm is None:
        raise MedforgeError(f"{where}: no embedding LayerNorm; only RoBERTa-style encoders are converted")
    return Architecture(prefix, layers, hidden, int(heads), weights[prefix + "layers.0.fc1.weight"].shape[0], vocab,
                        weights[prefix + "embed_positions.weight"].shape[0],
                        model_settings.get("activation_fn", "gelu"), emb_norm)


def _qkv(weights: dict, layer: str) -> dict[str, torch.Tensor]:
    """q, k, v projections; fairseq before 0.10 stored them as one ``in_proj``."""
    if layer + "self_attn.in_proj_weight" in weights:
        w = weights[layer + "self_attn.in_proj_weight"].chunk(3)
        b = weights[layer + "self_attn.in_proj_bias"].chunk(3)
        return {f"{n}.{kind}": t for n, ws, bs in zip("qkv", w, b) for kind, t in (("weight", ws), ("bias", bs))}
    return {f"{n}.{kind}": weights[f"{layer}self_attn.{n}_proj.{kind}"] for n in "qkv" for kind in ("weight", "bias")}


def hf_state_dict(weights: dict, arch: Architecture) -> dict[str, torch.Tensor]:
    p, head = arch.prefix, arch.prefix.replace("sentence_encoder.", "lm_head.")
    out = {"roberta.embeddings.word_embeddings.weight": weights[p + "embed_tokens.weight"],
           "roberta.embeddings.position_embeddings.weight": weights[p + "embed_positions.weight"],
           "roberta.embeddings.token_type_embeddings.weight": torch.zeros(1, arch.hidden),
           "roberta.embeddings.LayerNorm.weight": weights[f"{p}{arch.emb_norm}.weight"],
           "roberta.embeddings.LayerNorm.bias": weights[f"{p}{arch.emb_norm}.bias"],
           "lm_head.dense.weight": weights[head + "dense.weight"], "lm_head.dense.bias": weights[head + "dense.bias"],
           "lm_head.layer_norm.weight": weights[head + "layer_norm.weight"],
           "lm_head.layer_norm.bias": weights[head + "layer_norm.bias"],
           "lm_head.decoder.weight": weights[head + "weight"], "lm_head.bias": weights[head + "bias"],
           "lm_head.decoder.bias": weights[head + "bias"]}
    names = {"q": "query", "k": "key", "v": "value"}
    for i in range(arch.layers):
        src, dst = f"{p}layers.{i}.", f"roberta.encoder.layer.{i}."
        for key, tensor in _qkv(weights, src).items():
            proj, kind = key.split(".")
            out[f"{dst}attention.self.{names[proj]}.{kind}"] = tensor
        for ours, theirs in (("attention.output.dense", "self_attn.out_proj"),
                             ("attention.output.LayerNorm", "self_attn_layer_norm"), ("intermediate.dense", "fc1"),
                             ("output.dense", "fc2"), ("output.LayerNorm", "final_layer_norm")):
            for kind in ("weight", "bias"):
                out[f"{dst}{ours}.{kind}"] = weights[f"{src}{theirs}.{kind}"]
    return {k: v.float().contiguous() for k, v in out.items()}


def _activation(name: str):
    if name == "gelu":
        return torch.nn.functional.gelu
    if name == "gelu_accurate":  # fairseq's tanh approximation
        return lambda x: torch.nn.functional.gelu(x, approximate="tanh")
    if name == "relu":
        return torch.relu
    raise MedforgeError(f"activation_fn {name!r} is not supported by the conversion")


@torch.no_grad()
def reference_logits(weights: dict, arch: Architecture, ids: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """fairseq's RoBERTa forward written from its definition (post-LayerNorm blocks, learned positions
    counted from ``pad + 1`` over non-padding tokens, a tied LM head), on the checkpoint's tensors."""
    w = {k: v.float() for k, v in weights.items()}
    p, head = arch.prefix, arch.prefix.replace("sentence_encoder.", "lm_head.")
    act = _activation(arch.activation)
    keep = ids.ne(pad)
    positions = torch.cumsum(keep, dim=1) * keep + pad
    x = w[p + "embed_tokens.weight"][ids] + w[p + "embed_positions.weight"][positions]
    x = torch.nn.functional.layer_norm(x, (arch.hidden,), w[f"{p}{arch.emb_norm}.weight"],
                                       w[f"{p}{arch.emb_norm}.bias"], 1e-5)
    x = x * keep.unsqueeze(-1)  # fairseq zeroes padded positions before the first block
    batch, length, d = x.shape
    dh = d // arch.heads
    bias = torch.zeros(batch, 1, 1, length).masked_fill(~keep[:, None, None, :], float("-inf"))
    for i in range(arch.layers):
        src = f"{p}layers.{i}."
        qkv = {k: v.float() for k, v in _qkv(weights, src).items()}

        def split(t):
            return t.view(batch, length, arch.heads, dh).transpose(1, 2)

        q = split(x @ qkv["q.weight"].T + qkv["q.bias"]) / math.sqrt(dh)
        k = split(x @ qkv["k.weight"].T + qkv["k.bias"])
        v = split(x @ qkv["v.weight"].T + qkv["v.bias"])
        attn = ((q @ k.transpose(-1, -2) + bias).softmax(-1) @ v).transpose(1, 2).reshape(batch, length, d)
        attn = attn @ w[src + "self_attn.out_proj.weight"].T + w[src + "self_attn.out_proj.bias"]
        x = torch.nn.functional.layer_norm(x + attn, (d,), w[src + "self_attn_layer_norm.weight"],
                                           w[src + "self_attn_layer_norm.bias"], 1e-5)
        ff = act(x @ w[src + "fc1.weight"].T + w[src + "fc1.bias"]) @ w[src + "fc2.weight"].T + w[src + "fc2.bias"]
        x = torch.nn.functional.layer_norm(x + ff, (d,), w[src + "final_layer_norm.weight"],
                                           w[src + "final_layer_norm.bias"], 1e-5)
    h = act(x @ w[head + "dense.weight"].T + w[head + "dense.bias"])
    h = torch.nn.functional.layer_norm(h, (d,), w[head + "layer_norm.weight"], w[head + "layer_norm.bias"], 1e-5)
    return h @ w[head + "weight"].T + w[head + "bias"]


def _unique(symbols: list[str]) -> list[str]:
    """HF vocabularies need distinct strings: a symbol repeated later (CamemBERT's dictionary lists
    ``<s>``, ``</s>`` and ``<unk>`` again) keeps its id under a name no text can produce."""
    seen, out = set(), []
    for i, s in enumerate(symbols):
        out.append(s if s not in seen else f"{s}NOTUSED{i}")
        seen.add(s)
    return out


def gpt2_backend(folder: Path, symbols: list[str]):
    """Byte-level BPE with fairseq's ids: dictionary symbols are GPT-2 ids, ``encoder.json`` names them."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    encoder = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
    by_id = {v: k for k, v in encoder.items()}
    names = [by_id.get(int(s), s) if s.isdigit() else s for s in symbols]
    vocab = {name: i for i, name in enumerate(_unique(names))}
    merges: list[tuple[str, str]] = []
    for line in (folder / "vocab.bpe").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#") and all(x in vocab for x in (*parts, "".join(parts))):
            merges.append((parts[0], parts[1]))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok, "gpt2"


def sentencepiece_backend(folder: Path, symbols: list[str]):
    """SentencePiece BPE with fairseq's ids: dictionary symbols are pieces."""
    import sentencepiece as spm
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers.tokenization_utils_base import generate_merges

    sp = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.bpe.model"))
    vocab = {name: i for i, name in enumerate(_unique(symbols))}
    missing = [sp.id_to_piece(i) for i in range(sp.get_piece_size())
               if not (sp.is_control(i) or sp.is_unknown(i)) and sp.id_to_piece(i) not in vocab]
    if missing:
        raise MedforgeError(f"{folder / 'dict.txt'}: {len(missing)} SentencePiece pieces are not in the dictionary "
                            f"(e.g. {missing[:5]}); fairseq reads them as <unk>, which a Hugging Face BPE tokenizer "
                            "cannot reproduce; convert with a dictionary that lists every piece, as CamemBERT's does")
    ranks = {sp.id_to_piece(i): i for i in range(sp.get_piece_size()) if sp.id_to_piece(i) in vocab}
    merges = [m for m in generate_merges(ranks) if "".join(m) in vocab]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True))
    # SentencePiece's default nmt_nfkc (tabs and line breaks become spaces), less its control-character rules,
    # then its remove_extra_whitespaces: runs of spaces folded, the ends stripped (else extra ▁ ids)
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex("[\t\n\r]"), " "),
                                           normalizers.Replace(Regex(" {2,}"), " "), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return tok, "sentencepiece"


def reference_ids(folder: Path, kind: str, symbols: list[str], text: str) -> list[int]:
    """The ids fairseq's own pipeline gives: the original BPE, then the dictionary (unknown -> <unk>)."""
    index: dict[str, int] = {}
    for i, s in enumerate(symbols):
        index.setdefault(s, i)
    if kind == "gpt2":
        from transformers import GPT2Tokenizer  # an independent implementation of GPT-2's BPE

        gpt2 = GPT2Tokenizer(str(folder / "encoder.json"), str(folder / "vocab.bpe"))
        pieces = [str(i) for i in gpt2(text, add_special_tokens=False)["input_ids"]]
    else:
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.bpe.model"))
        pieces = sp.encode(text, out_type=str)
    return [0] + [index.get(p, 3) for p in pieces] + [2]


def convert(folder: str | Path, out: str | Path, samples: tuple[str, ...] = SAMPLES) -> dict:
    """Convert ``folder`` (model.pt, dict.txt, BPE files) into the HF folder ``out``; return the checks' results."""
    from tokenizers import AddedToken, processors
    from transformers import AutoModelForMaskedLM, AutoTokenizer, PreTrainedTokenizerFast, RobertaConfig

    folder, out = Path(folder), Path(out)
    checkpoint = load_checkpoint(folder / "model.pt")
    weights = checkpoint.get("model")
    if not isinstance(weights, dict):
        raise InputError(f"{folder / 'model.pt'}: no 'model' state dict inside; not a fairseq checkpoint")
    arch = architecture(weights, settings(checkpoint), folder / "model.pt")
    symbols = read_dictionary(folder / "dict.txt")
    if len(symbols) > arch.vocab:
        raise InputError(f"{folder / 'dict.txt'}: {len(symbols)} symbols with <mask>, but the model has "
                         f"{arch.vocab} embeddings; this dictionary is not the model's")
    symbols += [f"madeupword{i:04d}" for i in range(arch.vocab - len(symbols))]  # fairseq's own padding names
    if (folder / "encoder.json").is_file() and (folder / "vocab.bpe").is_file():
        backend, kind = gpt2_backend(folder, symbols)
    elif (folder / "sentencepiece.bpe.model").is_file():
        backend, kind = sentencepiece_backend(folder, symbols)
    else:
        raise InputError(f"{folder}: no BPE files; expected encoder.json + vocab.bpe (GPT-2) or "
                         "sentencepiece.bpe.model")
    mask_id = symbols.index(MASK)
    backend.add_special_tokens([AddedToken(s, special=True, normalized=False, lstrip=s == MASK)
                                for s in (*SPECIALS, MASK)])
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    longest = arch.positions - 2  # positions start after the padding index (1)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=longest, bos_token="<s>",
                                      eos_token="</s>", cls_token="<s>", sep_token="</s>", unk_token="<unk>",
                                      pad_token="<pad>", mask_token=MASK)
    out.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    for text in samples:
        ours, theirs = tokenizer(text)["input_ids"], reference_ids(folder, kind, symbols, text)
        if ours != theirs:
            raise MedforgeError(f"{out}: the converted tokenizer gives {ours} for {text!r} where fairseq's BPE and "
                                f"dictionary give {theirs}")

    config = RobertaConfig(vocab_size=arch.vocab, hidden_size=arch.hidden, num_hidden_layers=arch.layers,
                           num_attention_heads=arch.heads, intermediate_size=arch.ffn, hidden_act=arch.activation
                           if arch.activation != "gelu_accurate" else "gelu_new",
                           max_position_embeddings=arch.positions,
                           type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                           architectures=["RobertaForMaskedLM"])
    model = AutoModelForMaskedLM.from_config(config).eval()
    missing, unexpected = model.load_state_dict(hf_state_dict(weights, arch), strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise MedforgeError(f"conversion mapped the weights wrongly: missing {missing}, unexpected {unexpected}")
    batch = tokenizer(list(samples) + [f"The {MASK} was given."], return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**batch).logits
    reference = reference_logits(weights, arch, batch["input_ids"])
    keep = batch["attention_mask"].bool()
    diff = float((logits[keep] - reference[keep]).abs().max())
    if diff > 1e-4:
        raise MedforgeError(f"{out}: converted logits differ by {diff:.2e} from fairseq's forward pass")
    model.save_pretrained(out, safe_serialization=True)
    return {"path": str(out), "bpe": kind, "vocab": arch.vocab, "layers": arch.layers, "mask_id": mask_id,
            "max_logit_diff": diff}
