"""Tokenizer audit on held-out domain text: the table people use to justify a domain vocabulary.

Per tokenizer, over the word occurrences of the text (``\\w`` runs, hyphens and apostrophes
inside words kept; punctuation is not a word):
  fertility      subword pieces per word, each word tokenized as a word of its own
  split share    share of words cut into two or more pieces
  UNK rate       unknown tokens / tokens, encoding the text line by line
  chars/token    non-space characters / tokens, same encoding
plus the pairwise overlap of the vocabularies (Jaccard, word-boundary markers removed) and the
domain words each tokenizer fragments most.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from medforge import paths
from medforge.errors import InputError

WORD = re.compile(r"\w+(?:[-'’]\w+)*")
MARKERS = ("Ġ", "▁", "##")
BATCH = 256


@dataclass
class Audited:
    name: str
    tokenizer: object


def words_of(text: str) -> list[str]:
    return WORD.findall(text)


def bare(token: str) -> str:
    for marker in MARKERS:
        if token.startswith(marker):
            return token[len(marker):]
    return token


def _pieces_per_word(tokenizer, words: list[str]) -> dict[str, list[str]]:
    pieces: dict[str, list[str]] = {}
    distinct = sorted(set(words))
    for start in range(0, len(distinct), BATCH):
        chunk = distinct[start:start + BATCH]
        # one sequence per word: each is tokenized as a word of its own, with its word-start marker
        encoded = tokenizer([[w] for w in chunk], is_split_into_words=True, add_special_tokens=False)
        for word, ids in zip(chunk, encoded["input_ids"]):
            pieces[word] = tokenizer.convert_ids_to_tokens(ids)
    return pieces


def audit_one(tokenizer, lines: list[str], top: int = 20, min_count: int = 2) -> dict:
    tokenizer.model_max_length = 1 << 62  # whole documents are counted, never fed to a model
    counts = Counter(w for line in lines for w in words_of(line))
    n_words = sum(counts.values())
    if not n_words:
        raise InputError("the audit text holds no word")
    pieces = _pieces_per_word(tokenizer, list(counts))
    total_pieces = sum(len(pieces[w]) * c for w, c in counts.items())
    split = sum(c for w, c in counts.items() if len(pieces[w]) >= 2)
    n_tokens = n_unk = 0
    unk = tokenizer.unk_token_id
    for start in range(0, len(lines), BATCH):
        for ids in tokenizer(lines[start:start + BATCH], add_special_tokens=False)["input_ids"]:
            n_tokens += len(ids)
            n_unk += ids.count(unk) if unk is not None else 0
    chars = sum(len("".join(line.split())) for line in lines)
    frequent = [w for w, c in counts.items() if c >= min_count and len(w) > 3]
    fragmented = sorted(frequent, key=lambda w: (-len(pieces[w]), -counts[w], w))[:top]
    return {
        "words": n_words, "distinct_words": len(counts), "tokens": n_tokens,
        "fertility": total_pieces / n_words, "split_share": split / n_words,
        "unk_rate": n_unk / max(n_tokens, 1), "chars_per_token": chars / max(n_tokens, 1),
        "vocab_size": len(tokenizer),
        "most_fragmented": [{"word": w, "count": counts[w], "pieces": pieces[w]} for w in fragmented],
    }


def vocabulary(tokenizer) -> set[str]:
    specials = set(tokenizer.all_special_tokens)
    return {bare(t) for t in tokenizer.get_vocab() if t not in specials and not t.startswith("<unused")} - {""}


def overlap(tokenizers: list[Audited]) -> dict[str, dict[str, float]]:
    vocabs = {a.name: vocabulary(a.tokenizer) for a in tokenizers}
    return {a: {b: len(vocabs[a] & vocabs[b]) / max(len(vocabs[a] | vocabs[b]), 1) for b in vocabs} for a in vocabs}


def read_lines(path: str | Path) -> list[str]:
    local = paths.resolve(path)
    if not local.is_file():
        raise InputError(f"{local}: audit text not found")
    lines = [line.strip() for line in local.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{local}: the audit text is empty")
    return lines


def audit(tokenizers: list[Audited], lines: list[str], top: int = 20) -> dict:
    return {"tokenizers": {a.name: audit_one(a.tokenizer, lines, top) for a in tokenizers},
            "vocabulary_overlap": overlap(tokenizers)}


COLUMNS = ("fertility", "split_share", "unk_rate", "chars_per_token", "vocab_size")


def write_reports(result: dict, out: Path, text_name: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    rows = result["tokenizers"]
    with (out / "audit.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(("tokenizer",) + COLUMNS)
        for name, r in rows.items():
            writer.writerow((name,) + tuple(r[c] for c in COLUMNS))
    lines = [f"# Tokenizer audit on `{text_name}`", "",
             "| tokenizer | fertility | split share | UNK rate | chars/token | vocabulary |",
             "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['fertility']:.3f} | {100 * r['split_share']:.1f}% | {100 * r['unk_rate']:.2f}% "
                     f"| {r['chars_per_token']:.2f} | {r['vocab_size']} |")
    names = list(rows)
    lines += ["", "## Vocabulary overlap (Jaccard)", "", "| | " + " | ".join(names) + " |",
              "|---|" + "---|" * len(names)]
    for a in names:
        lines.append(f"| {a} | " + " | ".join(f"{result['vocabulary_overlap'][a][b]:.2f}" for b in names) + " |")
    for name, r in rows.items():
        lines += ["", f"## Most fragmented words: {name}", "", "| word | count | pieces |", "|---|---|---|"]
        lines += [f"| {f['word']} | {f['count']} | {' '.join(f['pieces'])} |" for f in r["most_fragmented"]]
    (out / "audit.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _chart(rows, out / "audit.png")


def _chart(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 1.6 * len(names) + 3), 3.5))
    for ax, key, label in ((axes[0], "fertility", "subwords per word"), (axes[1], "split_share", "words split")):
        values = [rows[n][key] for n in names]
        ax.bar(names, values, color="#4878a8")
        ax.set_title(label)
        for i, v in enumerate(values):
            ax.annotate(f"{v:.2f}", (i, v), ha="center", va="bottom", fontsize=8)
        ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
