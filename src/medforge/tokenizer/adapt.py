"""Domain vocabulary for continual pre-training: K new tokens for the words that save the most.

New tokens go into the tokenizer's model itself, not in HF's "added tokens" (those are matched
before the model runs and break ``##``/``▁`` continuation):
  BPE        merges appended at the lowest priority build the word from its current pieces
  WordPiece  the word joins the vocabulary (greedy longest match finds it)
  Unigram    the word becomes a piece scored just above its current segmentation
In all three, a text whose new tokenization uses no new token is tokenized exactly as before:
appended merges fire only after all old ones; a longest match or a best segmentation that uses
only old tokens was already the old one. The model's embeddings grow, and each new row (and
MLM output bias) is the mean of the rows of the base pieces it replaces.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from medforge import log, meta
from medforge.errors import InputError, MedforgeError
from medforge.tokenizer.audit import audit_one, bare, read_lines, words_of
from medforge.tokenizer.load import load_word_tokenizer

logger = log.get("adapt")
EXTENDABLE = ("BPE", "WordPiece", "Unigram")


@dataclass
class Candidate:
    word: str
    count: int
    pieces: list[str]  # base tokens of the word, as a word following a space

    @property
    def saved(self) -> int:
        return self.count * (len(self.pieces) - 1)


def candidates(tokenizer, lines: list[str], min_count: int) -> list[Candidate]:
    """Words split into 2+ pieces, best first by tokens saved (frequency x pieces saved)."""
    counts = Counter(w for line in lines for w in words_of(line))
    frequent = sorted(w for w, c in counts.items() if c >= min_count)
    backend = tokenizer.backend_tokenizer
    found = []
    for start in range(0, len(frequent), 256):
        chunk = frequent[start:start + 256]
        encoded = tokenizer([[w] for w in chunk], is_split_into_words=True, add_special_tokens=False)
        for word, ids in zip(chunk, encoded["input_ids"]):
            if len(ids) < 2 or tokenizer.unk_token_id in ids:
                continue
            normalized = backend.normalizer.normalize_str(word) if backend.normalizer else word
            if backend.pre_tokenizer and len(backend.pre_tokenizer.pre_tokenize_str(normalized)) != 1:
                continue  # the pre-tokenizer cuts it (punctuation): no single token can cover it
            found.append(Candidate(word, counts[word], tokenizer.convert_ids_to_tokens(ids)))
    return sorted(found, key=lambda c: (-c.saved, c.word))


def extend(backend_json: dict, ranked: list[Candidate], base_vocab: dict[str, int],
           budget: int) -> tuple[dict[str, list[int]], list[Candidate]]:
    """Add words, best first, to the model in ``backend_json`` (in place) while at most ``budget``
    new tokens are needed (a BPE word also needs its intermediate merges).

    Returns each new token with the base ids it is made of (to initialise its embedding), and
    the words added.
    """
    model = backend_json["model"]
    kind = model["type"]
    next_id = 1 + max(max(base_vocab.values()), *(t["id"] for t in backend_json.get("added_tokens", [])))
    made: dict[str, list[int]] = {}
    chosen: list[Candidate] = []
    if kind == "BPE":
        vocab, merges = model["vocab"], model["merges"]
        known = {tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges}
        for cand in ranked:
            prefixes = ["".join(cand.pieces[:j]) for j in range(2, len(cand.pieces) + 1)]
            needed = [p for p in prefixes if p not in vocab]
            if not needed or len(made) + len(needed) > budget:
                continue
            chosen.append(cand)
            current, parts = cand.pieces[0], [base_vocab[cand.pieces[0]]]
            for piece in cand.pieces[1:]:
                parts = parts + [base_vocab[piece]]
                merged = current + piece
                if (current, piece) not in known:
                    merges.append([current, piece] if not merges or isinstance(merges[0], list)
                                  else f"{current} {piece}")
                    known.add((current, piece))
                if merged not in vocab:
                    vocab[merged] = next_id
                    made[merged] = parts
                    next_id += 1
                current = merged
    elif kind == "WordPiece":
        vocab = model["vocab"]
        for cand in ranked:
            word = "".join(bare(p) if i else p for i, p in enumerate(cand.pieces))
            if word not in vocab and len(made) < budget:
                chosen.append(cand)
                vocab[word] = next_id
                made[word] = [base_vocab[p] for p in cand.pieces]
                next_id += 1
    else:
        pieces = model["vocab"]
        scores = {p: s for p, s in pieces}
        if len(pieces) != next_id:
            raise MedforgeError("this Unigram tokenizer has added tokens beyond its pieces; it cannot be extended")
        for cand in ranked:
            word = "".join(cand.pieces)
            if word not in scores and len(made) < budget:
                chosen.append(cand)
                # just above the old best segmentation, so exactly this word switches to it
                score = sum(scores[p] for p in cand.pieces) + 1.0
                pieces.append([word, score])
                scores[word] = score
                made[word] = [base_vocab[p] for p in cand.pieces]
    return made, chosen


@torch.no_grad()
def init_embeddings(model, made: dict[str, list[int]], new_vocab: dict[str, int]) -> None:
    """Resize, then set each new input row, output row (if untied) and output bias to the mean of its parts."""
    model.resize_token_embeddings(len(new_vocab), mean_resizing=False)  # every new row is set below
    inputs = model.get_input_embeddings().weight
    output = model.get_output_embeddings()
    tied = output is not None and output.weight.data_ptr() == inputs.data_ptr()
    bias = getattr(output, "bias", None) if output is not None else None
    for token, parts in made.items():
        new, idx = new_vocab[token], torch.tensor(parts)
        inputs[new] = inputs[idx].mean(0)
        if output is not None and not tied:
            output.weight[new] = output.weight[idx].mean(0)
        if bias is not None:
            bias[new] = bias[idx].mean(0)


def adapt(base: str, lines: list[str], k: int, out: Path, min_count: int = 5) -> dict:
    """Write the adapted tokenizer (and model, if ``base`` has one) to ``out``; return the report."""
    # the plain load is what gets extended; the word-level one may have add_prefix_space switched on
    plain = AutoTokenizer.from_pretrained(base)
    if getattr(plain, "backend_tokenizer", None) is None:
        raise MedforgeError(f"{base}: only fast tokenizers (tokenizer.json) can be extended")
    backend_json = json.loads(plain.backend_tokenizer.to_str())
    if backend_json["model"]["type"] not in EXTENDABLE:
        raise MedforgeError(f"{base}: a {backend_json['model']['type']} tokenizer cannot be extended; adapt "
                            f"supports {', '.join(EXTENDABLE)}")
    tokenizer = load_word_tokenizer(base)
    ranked = candidates(tokenizer, lines, min_count)
    if not ranked:
        raise InputError(f"no word of the corpus occurs {min_count}+ times and is split by {base}; "
                         "lower --min-count or give more text")
    made, chosen = extend(backend_json, ranked, plain.get_vocab(), k)
    plain.save_pretrained(out)
    Tokenizer.from_str(json.dumps(backend_json)).save(str(out / "tokenizer.json"))
    adapted = AutoTokenizer.from_pretrained(out)
    new_vocab = adapted.get_vocab()
    missing = [t for t in made if t not in new_vocab]
    if missing:
        raise MedforgeError(f"{out}: the saved tokenizer lost new tokens {missing[:5]}")

    has_model = (Path(base) / "config.json").is_file() if Path(base).exists() else True
    if has_model:
        from transformers import AutoModelForMaskedLM

        model = AutoModelForMaskedLM.from_pretrained(base)
        init_embeddings(model, made, new_vocab)
        model.save_pretrained(out, safe_serialization=True)

    before = audit_one(tokenizer, lines, top=0)
    after = audit_one(load_word_tokenizer(str(out)), lines, top=0)
    report = {"base": base, "requested": k, "words_added": len(chosen), "tokens_added": len(made),
              "vocab_size": {"before": len(tokenizer), "after": len(adapted)},
              "fertility": {"before": before["fertility"], "after": after["fertility"]},
              "split_share": {"before": before["split_share"], "after": after["split_share"]},
              "model_resized": has_model,
              "words": [{"word": c.word, "count": c.count, "pieces_before": c.pieces} for c in chosen]}
    meta.write_json(out / "adapt_report.json", report)
    return report


def adapt_cli(args) -> int:
    from medforge.paths import model_ref

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        if not args.force:
            raise MedforgeError(f"{out} is not empty; choose another --out or pass --force")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [line for path in args.corpus for line in read_lines(path)]
    report = adapt(model_ref(args.base), lines, args.add, out, args.min_count)
    f, s = report["fertility"], report["split_share"]
    print(f"added {report['tokens_added']} tokens for {report['words_added']} words: vocabulary "
          f"{report['vocab_size']['before']} -> {report['vocab_size']['after']}; fertility {f['before']:.3f} -> "
          f"{f['after']:.3f}; words split {100 * s['before']:.1f}% -> {100 * s['after']:.1f}%")
    print(f"written to {out}" + ("" if report["model_resized"] else " (tokenizer only: the base has no model)"))
    return 0
