"""``medforge tag``: a fine-tuned NER model run on raw text files.

Each file is cut into sentences and tokens with character offsets (``tasks.text``); long
sentences go through the same overlapping windows as evaluation, so every token gets one tag.
Entities are decoded from the IOB2 tags (an ``I-`` that continues nothing opens an entity) and
written with their character offsets, as JSONL and as brat ``.ann`` beside the text they index: the
file decoded as it is (CRLF and lone CR line ends kept, a UTF-8 byte-order mark removed), so that
``text[start:end]`` of the written ``.txt`` is the entity.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoModelForTokenClassification

from medforge import paths
from medforge.errors import InputError, MedforgeError
from medforge.models.presets import max_input_length
from medforge.progress import bar
from medforge.tasks.text import sentences_of, tokens_of
from medforge.tasks.windows import encode_sentences, predict
from medforge.tokenizer.load import load_word_tokenizer


def load(model: str):
    name = paths.model_ref(model)
    try:
        tokenizer = load_word_tokenizer(name)
        tagger = AutoModelForTokenClassification.from_pretrained(name).eval()
    except OSError as exc:
        raise MedforgeError(f"cannot load a token-classification model from {name!r}: {exc}") from None
    if not any(label.startswith("B-") for label in tagger.config.id2label.values()):
        raise MedforgeError(f"{name}: its labels ({', '.join(tagger.config.id2label.values())}) are not IOB2 "
                            "entity tags; give a model fine-tuned by medforge evaluate (evaluate/model)")
    return tokenizer, tagger


def decode(tags: list[str]) -> list[tuple[int, int, str]]:
    """(first token, last token + 1, type) of each entity."""
    spans, current = [], None
    for i, tag in enumerate(tags + ["O"]):
        continues = current is not None and tag == "I-" + current[2]
        if current is not None and not continues:
            spans.append((current[0], i, current[2]))
            current = None
        if tag != "O" and not continues:
            current = (i, None, tag[2:])
    return spans


def tag_text(tokenizer, model, text: str, max_length: int, batch_size: int) -> list[dict]:
    sentences = [s for s in (tokens_of(text, a, b) for a, b in sentences_of(text)) if s]
    if not sentences:
        return []
    label2id = {label: i for i, label in model.config.id2label.items()}
    windows = encode_sentences(tokenizer, [[t for _, _, t in s] for s in sentences], None, label2id, max_length)
    tags = predict(model, windows, [len(s) for s in sentences], model.config.id2label, batch_size,
                   tokenizer.pad_token_id, model.device)
    entities = []
    for number, (tokens, sentence_tags) in enumerate(zip(sentences, tags)):
        for first, last, kind in decode(sentence_tags):
            start, end = tokens[first][0], tokens[last - 1][1]
            entities.append({"start": start, "end": end, "type": kind, "text": text[start:end], "sentence": number})
    return entities


def load_windowed(model_ref: str, max_length: int | None = None):
    """(tokenizer, model, window length): sentences are windowed to that length, so transformers' warning
    about longer inputs does not apply."""
    tokenizer, model = load(model_ref)
    limit = min(max_length or min(tokenizer.model_max_length, 512), max_input_length(model.config))
    tokenizer.model_max_length = 1 << 62
    return tokenizer, model, limit


def write_entities(entities: list[dict], text: str, stem: Path) -> list[Path]:
    """``stem``.jsonl (offsets), brat ``stem``.ann and the ``stem``.txt they index (line ends kept)."""
    jsonl, ann, txt = stem.with_suffix(".jsonl"), stem.with_suffix(".ann"), stem.with_suffix(".txt")
    with jsonl.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in entities)
    with txt.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    ann.write_text("".join(f"T{i}\t{e['type']} {e['start']} {e['end']}\t{e['text']}\n"
                           for i, e in enumerate(entities, 1)), encoding="utf-8")
    return [jsonl, ann, txt]


def tag_files(model_ref: str, files: list[str], out: Path, max_length: int | None = None,
              batch_size: int = 32) -> dict:
    tokenizer, model, limit = load_windowed(model_ref, max_length)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in bar(files, desc="tag", unit="file"):
        path = Path(name)
        if not path.is_file():
            raise InputError(f"{path}: file not found")
        try:
            text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as err:
            raise InputError(f"{path}: not valid UTF-8 (byte {err.start}); re-encode the file as UTF-8") from None
        entities = tag_text(tokenizer, model, text, limit, batch_size)
        write_entities(entities, text, out / path.stem)
        counts[str(path)] = len(entities)
    return counts

