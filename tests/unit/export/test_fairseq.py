"""fairseq RoBERTa -> HF conversion on checkpoints written in fairseq's state-dict layout."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from medforge import cli
from medforge.errors import InputError, MedforgeError
from medforge.export.fairseq import convert, read_dictionary

HIDDEN, HEADS, FFN, LAYERS, POSITIONS = 32, 4, 64, 2, 66
FIXTURE = Path(__file__).parent / "fixtures" / "fairseq-tiny"


def fairseq_weights(vocab: int, old: bool = False) -> dict[str, torch.Tensor]:
    """Random tensors under fairseq's names: 0.10+ (``encoder.``, q/k/v) or 0.9 (``decoder.``, in_proj)."""
    g = torch.Generator().manual_seed(0)

    def t(*shape):
        return torch.randn(*shape, generator=g) * 0.2

    top = "decoder." if old else "encoder."
    p = top + "sentence_encoder."
    norm = "emb_layer_norm" if old else "layernorm_embedding"
    w = {p + "embed_tokens.weight": t(vocab, HIDDEN), p + "embed_positions.weight": t(POSITIONS, HIDDEN),
         f"{p}{norm}.weight": 1 + t(HIDDEN), f"{p}{norm}.bias": t(HIDDEN),
         top + "lm_head.dense.weight": t(HIDDEN, HIDDEN), top + "lm_head.dense.bias": t(HIDDEN),
         top + "lm_head.layer_norm.weight": 1 + t(HIDDEN), top + "lm_head.layer_norm.bias": t(HIDDEN),
         top + "lm_head.bias": t(vocab)}
    w[top + "lm_head.weight"] = w[p + "embed_tokens.weight"]
    for i in range(LAYERS):
        layer = f"{p}layers.{i}."
        if old:
            w[layer + "self_attn.in_proj_weight"], w[layer + "self_attn.in_proj_bias"] = t(3 * HIDDEN, HIDDEN), t(3 * HIDDEN)  # noqa: E501
        else:
            for n in "qkv":
                w[f"{layer}self_attn.{n}_proj.weight"], w[f"{layer}self_attn.{n}_proj.bias"] = t(HIDDEN, HIDDEN), t(HIDDEN)  # noqa: E501
        for name, shape in (("self_attn.out_proj", (HIDDEN, HIDDEN)), ("fc1", (FFN, HIDDEN)), ("fc2", (HIDDEN, FFN))):
            w[layer + name + ".weight"], w[layer + name + ".bias"] = t(*shape), t(shape[0])
        for name in ("self_attn_layer_norm", "final_layer_norm"):
            w[layer + name + ".weight"], w[layer + name + ".bias"] = 1 + t(HIDDEN), t(HIDDEN)
    return w


def write_checkpoint(folder: Path, symbols: list[str], old: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dict.txt").write_text("".join(f"{s} {1000 - i}\n" for i, s in enumerate(symbols)), encoding="utf-8")
    vocab = 4 + len(symbols) + 1 + 3  # specials, symbols, <mask>, fairseq's padding to a multiple
    model = {"encoder_attention_heads": HEADS, "activation_fn": "gelu", "encoder_normalize_before": False}
    settings = {"args": argparse.Namespace(**model)} if old else {"cfg": {"model": model}}
    torch.save({**settings, "model": fairseq_weights(vocab, old)}, folder / "model.pt")


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory, sample_texts) -> Path:
    import sentencepiece as spm

    folder = tmp_path_factory.mktemp("spm")
    (folder / "text.txt").write_text("\n".join(sample_texts), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(folder / "text.txt"), model_prefix=str(folder / "sentencepiece.bpe"),
                                   vocab_size=300, model_type="bpe", character_coverage=1.0, minloglevel=2)
    return folder / "sentencepiece.bpe.model"


def spm_checkpoint(folder: Path, spm_model: Path, old: bool = False) -> Path:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    # as CamemBERT's dictionary: SentencePiece's specials listed again after fairseq's own
    write_checkpoint(folder, [sp.id_to_piece(i) for i in range(sp.get_piece_size())], old)
    (folder / "sentencepiece.bpe.model").write_bytes(spm_model.read_bytes())
    return folder


@pytest.mark.parametrize("old", [False, True], ids=["fairseq-0.10+", "fairseq-0.9"])
def test_sentencepiece_checkpoint_converts_with_equal_logits(tmp_path, spm_model, old):
    source = spm_checkpoint(tmp_path / "fairseq", spm_model, old)
    result = convert(source, tmp_path / "hf")
    assert result["max_logit_diff"] < 1e-4 and result["layers"] == LAYERS and result["bpe"] == "sentencepiece"
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    model = AutoModelForMaskedLM.from_pretrained(tmp_path / "hf")
    symbols = read_dictionary(source / "dict.txt")
    assert tokenizer.mask_token_id == symbols.index("<mask>") == result["mask_id"]
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (1, 0, 2)
    assert model.config.vocab_size == symbols.__len__() + 3 and tokenizer.model_max_length == POSITIONS - 2


def test_gpt2_bpe_checkpoint_converts_with_the_dictionary_ids(tmp_path, sample_texts):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(sample_texts, trainers.BpeTrainer(vocab_size=400, show_progress=False,
                                                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    source = tmp_path / "fairseq"
    source.mkdir()
    spec = json.loads(bpe.to_str())["model"]
    (source / "encoder.json").write_text(json.dumps(spec["vocab"]), encoding="utf-8")
    (source / "vocab.bpe").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in spec["merges"]) + "\n",
                                      encoding="utf-8")
    # fairseq orders its dictionary by frequency, not by GPT-2 id: the ids must follow the dictionary
    gpt2_ids = sorted(spec["vocab"].values(), key=lambda i: (i * 7919) % 401)
    write_checkpoint(source, [str(i) for i in gpt2_ids])
    result = convert(source, tmp_path / "hf")
    assert result["bpe"] == "gpt2" and result["max_logit_diff"] < 1e-4


def test_bad_inputs_are_refused_with_the_file_named(tmp_path, spm_model):
    source = spm_checkpoint(tmp_path / "fairseq", spm_model)
    (source / "dict.txt").write_text("▁the 10\nbroken\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"dict.txt:2: expected '<symbol> <count>'"):
        convert(source, tmp_path / "hf")
    torch.save({"model": {}, "hook": print}, source / "model.pt")  # pickled code is never run
    with pytest.raises(InputError, match="weights_only"):
        convert(source, tmp_path / "hf")


def test_a_dictionary_without_every_piece_is_refused(tmp_path, spm_model):
    source = spm_checkpoint(tmp_path / "fairseq", spm_model)
    lines = (source / "dict.txt").read_text(encoding="utf-8").splitlines()
    (source / "dict.txt").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(MedforgeError, match="1 SentencePiece pieces are not in the dictionary"):
        convert(source, tmp_path / "hf")


def test_pre_layernorm_checkpoints_are_refused(tmp_path, spm_model):
    source = spm_checkpoint(tmp_path / "fairseq", spm_model)
    checkpoint = torch.load(source / "model.pt", weights_only=True)
    checkpoint["cfg"]["model"]["encoder_normalize_before"] = True
    torch.save(checkpoint, source / "model.pt")
    with pytest.raises(MedforgeError, match="encoder_normalize_before=True"):
        convert(source, tmp_path / "hf")


def test_cli_converts_and_the_result_fills_masks(tmp_path, spm_model, capsys):
    source = spm_checkpoint(tmp_path / "fairseq", spm_model)
    assert cli.main(["convert-fairseq", str(source), "--out", str(tmp_path / "hf")]) == 0
    assert "equal logits" in capsys.readouterr().out
    assert cli.main(["fill-mask", str(tmp_path / "hf"), "The patient <mask>.", "--json"]) == 0


def fairseq_checkpoint(folder: Path) -> Path:
    """fairseq-train's checkpoint rebuilt from the fixture: its tensors (stored as safetensors, so that the
    repository holds no pickle) and its settings, with fairseq's own structure (args, cfg with
    argparse.Namespace inside, model)."""
    import shutil
    from collections import OrderedDict

    from safetensors.torch import load_file

    def revive(x):
        if isinstance(x, dict):
            return argparse.Namespace(**revive(x["__namespace__"])) if "__namespace__" in x else \
                {k: revive(v) for k, v in x.items()}
        return [revive(v) for v in x] if isinstance(x, list) else x

    folder.mkdir()
    settings = json.loads((FIXTURE / "settings.json").read_text(encoding="utf-8"))
    torch.save({**revive(settings), "model": OrderedDict(load_file(FIXTURE / "model.safetensors"))},
               folder / "model.pt")
    for name in ("dict.txt", "sentencepiece.bpe.model"):
        shutil.copyfile(FIXTURE / name, folder / name)
    return folder


def test_a_checkpoint_written_by_fairseq_itself_gives_fairseqs_ids_and_logits(tmp_path):
    """The fixture is fairseq 0.12.2's own output (tools/make_fairseq_fixture.py): fairseq-train's
    checkpoint, and the ids and logits fairseq's RobertaModel computed for three texts."""
    from safetensors.torch import load_file

    expected = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
    logits = load_file(FIXTURE / "expected.safetensors")
    result = convert(fairseq_checkpoint(tmp_path / "fairseq"), tmp_path / "hf")
    assert result["bpe"] == "sentencepiece"
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    model = AutoModelForMaskedLM.from_pretrained(tmp_path / "hf").eval()
    for i, (text, ids) in enumerate(zip(expected["texts"], expected["ids"])):
        batch = tokenizer(text, return_tensors="pt")
        assert batch["input_ids"][0].tolist() == ids
        with torch.no_grad():
            ours = model(**batch).logits[0]
        assert (ours - logits[f"logits.{i}"]).abs().max() < 1e-4


def test_sentencepiece_whitespace_folding_matches_sentencepiece(tmp_path, spm_model, sample_texts):
    """SentencePiece folds repeated spaces and strips the ends (remove_extra_whitespaces) and reads tabs and
    line breaks as spaces: the converted tokenizer gives its ids, not extra ▁ ones."""
    from medforge.export.fairseq import reference_ids

    source = spm_checkpoint(tmp_path / "fairseq", spm_model)
    convert(source, tmp_path / "hf")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    symbols = read_dictionary(source / "dict.txt")
    symbols += ["<mask>"]
    spaced = ["  " + t.replace(" ", "   ", 3) + "  " for t in sample_texts[:40]]
    spaced += ["\t" + t.replace(" ", "\t", 2) + "\n" for t in sample_texts[40:60]] + ["x  \u00a0 y", "   "]
    for text in spaced:
        assert tokenizer(text)["input_ids"] == reference_ids(source, "sentencepiece", symbols, text), repr(text)
