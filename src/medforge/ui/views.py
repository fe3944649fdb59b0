"""What each page shows, computed by the same code as the command line (``fill-mask``, ``tag``), as HTML
fragments with data attributes (what a browser test reads) and data for Gradio's own components.

Every function that can fail on user input returns an error box instead of raising: the page shows the
message, never a stack trace.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from medforge.errors import MedforgeError

MASK_SPELLINGS = ("<mask>", "[MASK]")
PALETTE = ("#fde68a", "#bfdbfe", "#bbf7d0", "#fecaca", "#ddd6fe", "#fbcfe8", "#fed7aa", "#a5f3fc", "#d9f99d")


def error_box(message: str) -> str:
    return f'<div class="mf-error" role="alert">{html.escape(message)}</div>'


@cache
def masked_model(folder: str):
    from medforge.infer.fill_mask import load

    return load(folder)


@cache
def tagger(folder: str):
    from medforge.infer.tag import load_windowed

    return load_windowed(folder)


@cache
def plain_tokenizer(folder: str):
    """The tokenizer as pre-training and fill-mask use it (not the word-split one NER fine-tuning uses)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def own_mask(text: str, mask_token: str) -> str:
    """``<mask>`` and ``[MASK]`` both mean the model's own mask token, whatever its family."""
    for spelling in MASK_SPELLINGS:
        text = text.replace(spelling, mask_token)
    return text


def fill_mask(folders: dict[str, Path], names: list[str], text: str, top_k: int) -> str:
    """Top-k per mask for each chosen model, side by side, probabilities as bars."""
    from medforge.infer.fill_mask import fill_mask as predict

    if not names:
        return error_box("choose at least one model")
    columns = []
    for name in names:
        try:
            tokenizer, model = masked_model(str(folders[name]))
            result = predict(tokenizer, model, [own_mask(text, tokenizer.mask_token)], top_k=int(top_k))[0]
        except MedforgeError as exc:
            columns.append(f'<div class="mf-model" data-model="{html.escape(name)}"><h4>{html.escape(name)}</h4>'
                           f"{error_box(str(exc))}</div>")
            continue
        masks = []
        for number, mask in enumerate(result["masks"], start=1):
            rows = "".join(
                f'<tr class="mf-prediction" data-token="{p["token"]}" data-token-str="{html.escape(p["token_str"])}" '
                f'data-score="{p["score"]:.6f}"><td>{html.escape(p["token_str"])}</td>'
                f'<td><div class="mf-bar" style="width:{max(1.0, 100 * p["score"]):.1f}%"></div></td>'
                f"<td>{100 * p['score']:.1f}%</td></tr>" for p in mask["predictions"])
            masks.append(f'<table class="mf-mask" data-position="{mask["position"]}"><caption>mask {number}'
                         f"</caption>{rows}</table>")
        columns.append(f'<div class="mf-model" data-model="{html.escape(name)}"><h4>{html.escape(name)}</h4>'
                       f"{''.join(masks)}</div>")
    return f'<div class="mf-columns">{"".join(columns)}</div>'


def tag(folder: Path, text: str) -> tuple[str, list[dict]]:
    """(highlighted HTML, entities as ``medforge tag`` writes them) for a text of any length."""
    from medforge.infer.tag import tag_text

    if not text.strip():
        return error_box("no text: paste a text or upload a .txt file"), []
    try:
        tokenizer, model, limit = tagger(str(folder))
        entities = tag_text(tokenizer, model, text, limit, 32)
    except MedforgeError as exc:
        return error_box(str(exc)), []
    types = sorted({e["type"] for e in entities})
    colours = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(types)}
    parts, at = [], 0
    for e in entities:
        parts.append(html.escape(text[at:e["start"]]))
        parts.append(f'<mark class="mf-entity" data-type="{html.escape(e["type"])}" data-start="{e["start"]}" '
                     f'data-end="{e["end"]}" style="background:{colours[e["type"]]}">{html.escape(e["text"])}'
                     f'<sub>{html.escape(e["type"])}</sub></mark>')
        at = e["end"]
    parts.append(html.escape(text[at:]))
    legend = " ".join(f'<span class="mf-legend" style="background:{colours[t]}">{html.escape(t)}</span>'
                      for t in types)
    summary = f'<p class="mf-count" data-count="{len(entities)}">{len(entities)} entities {legend}</p>'
    return f'{summary}<div class="mf-tagged">{"".join(parts)}</div>', entities


def downloads(entities: list[dict], text: str, folder: Path) -> list[str]:
    """The entities as ``medforge tag`` writes them: JSONL and brat ``.ann`` (with the text beside it)."""
    from medforge.infer.tag import write_entities

    folder.mkdir(parents=True, exist_ok=True)
    return [str(p) for p in write_entities(entities, text, folder / "entities")]


def tokenize(folders: dict[str, Path], names: list[str], text: str) -> str:
    """Pieces and ids under each tokenizer, side by side, with tokens per word."""
    if not text.strip():
        return error_box("no text: type a word or a sentence")
    words = text.split()
    columns = []
    for name in names:
        try:
            tokenizer = plain_tokenizer(str(folders[name]))
        except (MedforgeError, OSError, ValueError) as exc:
            columns.append(error_box(f"{name}: {exc}"))
            continue
        ids = tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        pieces = tokenizer.convert_ids_to_tokens(ids)
        per_word = [len(tokenizer(w, add_special_tokens=False, split_special_tokens=True)["input_ids"])
                    for w in words]
        cells = "".join(f'<span class="mf-piece" data-id="{i}" title="{i}">{html.escape(p)}</span>'
                        for p, i in zip(pieces, ids))
        rows = "".join(f"<tr><td>{html.escape(w)}</td><td>{n}</td></tr>" for w, n in zip(words, per_word))
        columns.append(f'<div class="mf-model mf-tokenizer" data-model="{html.escape(name)}" data-tokens="{len(ids)}">'
                       f"<h4>{html.escape(name)}</h4><p>{len(ids)} tokens, {len(ids) / len(words):.2f} per word</p>"
                       f'<div class="mf-pieces">{cells}</div><p class="mf-ids">{" ".join(map(str, ids))}</p>'
                       f"<table><tr><th>word</th><th>tokens</th></tr>{rows}</table></div>")
    return f'<div class="mf-columns">{"".join(columns)}</div>'


CSS = """
.mf-columns { display: flex; gap: 1.5em; flex-wrap: wrap; }
.mf-model { min-width: 16em; }
.mf-mask td { padding: 0 .4em; }
.mf-bar { background: #2563eb; height: .8em; min-width: 2px; }
.mf-mask { width: 100%; margin-bottom: .8em; }
.mf-mask td:nth-child(2) { width: 10em; }
.mf-error { border: 1px solid #dc2626; background: #fef2f2; color: #991b1b; padding: .6em; border-radius: 4px; }
.mf-entity { padding: 0 .2em; border-radius: 3px; }
.mf-entity sub { font-size: .65em; margin-left: .2em; }
.mf-legend { padding: 0 .4em; border-radius: 3px; margin-right: .3em; }
.mf-tagged { white-space: pre-wrap; line-height: 1.8; }
.mf-piece { border: 1px solid #94a3b8; border-radius: 3px; padding: 0 .25em; margin: .1em; display: inline-block; }
.mf-status td, .mf-status th, .mf-report td, .mf-report th { padding: .1em .6em; }
"""
