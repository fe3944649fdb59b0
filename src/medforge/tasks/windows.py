"""Sentences of words -> model inputs, with labels on each word's first subword.

A sentence longer than ``max_length`` subwords is cut into windows of whole words, so that
every word gets exactly one prediction and nothing is truncated (HF's ``run_ner`` silently
drops the words past the limit). Windows overlap: each owns a run of words (labelled and
predicted there only) and also holds up to ``context`` subword tokens of the words on each side,
so that no word sits at a cut without context.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE = -100


@dataclass
class Window:
    sentence: int  # index of the sentence
    first_word: int  # index of the window's first word in the sentence
    input_ids: list[int]
    labels: list[int]  # label id on first subwords, IGNORE elsewhere
    word_positions: list[int]  # position of each word's first subword, in word order


def encode_sentences(tokenizer, sentences: list[list[str]], tags: list[list[str]] | None,
                     label2id: dict[str, int], max_length: int, context: int = 16,
                     all_subwords: bool = False) -> list[Window]:
    """Windows of whole words; labels on each word's first subword (and, with ``all_subwords``, its
    later pieces too, a ``B-`` tag continuing as ``I-``), predictions from the first subword."""
    budget = max_length - tokenizer.num_special_tokens_to_add()
    context = max(0, min(context, budget // 4))
    # words are text: a word "<s>" or "[SEP]" is spelled out, never turned into a control token
    counted = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False, split_special_tokens=True)
    windows: list[Window] = []
    for s_index, words in enumerate(sentences):
        sizes = [0] * len(words)
        for word in counted.word_ids(s_index):
            sizes[word] += 1
        # a sentence that fits needs no context; a longer one keeps room for it on both sides
        own = budget if sum(sizes) <= budget else budget - 2 * context
        start = 0
        while start < len(words):
            end, used = start, 0
            while end < len(words) and (used + sizes[end] <= own or end == start):
                used += sizes[end]
                end += 1
            left, spare = start, context
            while left > 0 and sizes[left - 1] <= spare:
                left -= 1
                spare -= sizes[left]
            right, spare = end, context
            while right < len(words) and sizes[right] <= spare:
                spare -= sizes[right]
                right += 1
            # truncation only bites when a single word is longer than the budget; its first piece stays
            enc = tokenizer(words[left:right], is_split_into_words=True, truncation=True, max_length=max_length,
                            split_special_tokens=True)
            labels, positions, previous = [], [], None
            for position, word in enumerate(enc.word_ids()):
                index = None if word is None else left + word
                if index is None or not start <= index < end:
                    labels.append(IGNORE)  # special token or context word
                elif word == previous:  # a later piece of the word
                    tag = tags[s_index][index] if tags is not None and all_subwords else None
                    labels.append(IGNORE if tag is None else label2id.get("I-" + tag[2:] if tag[:2] == "B-" else tag,
                                                                          label2id["O"]))
                else:
                    positions.append(position)
                    tag = tags[s_index][index] if tags is not None else None
                    labels.append(label2id.get(tag, label2id["O"]) if tag is not None else IGNORE)
                previous = word if word is not None else previous
            if len(positions) != end - start:
                raise AssertionError(f"sentence {s_index}: {end - start} words but {len(positions)} predictions")
            windows.append(Window(s_index, start, enc["input_ids"], labels, positions))
            start = end
    return windows


def pad_rows(rows: list[list[int]], value: int):
    """Rows of ids as one right-padded tensor, and the attention mask."""
    import torch

    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return out, mask


def collate(windows: list[Window], pad_id: int) -> dict:
    ids, mask = pad_rows([w.input_ids for w in windows], pad_id)
    labels, _ = pad_rows([w.labels for w in windows], IGNORE)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def length_grouped_batches(lengths: list[int], batch_size: int, generator, group: int = 50) -> list[list[int]]:
    """Shuffled batches of indices whose items have similar lengths: shuffle, cut into groups of
    ``group`` batches, sort each group by length, batch it, shuffle the batches. Padding then costs
    little, while every epoch still sees a new order."""
    import torch

    order = torch.randperm(len(lengths), generator=generator).tolist()
    batches: list[list[int]] = []
    span = batch_size * group
    for start in range(0, len(order), span):
        chunk = sorted(order[start:start + span], key=lambda i: lengths[i])
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def predict(model, windows, n_words: list[int], id2label: dict[int, str], batch_size: int, pad_id: int,
            device) -> list[list[str]]:
    """One tag per word, assembled from the windows of each sentence (evaluation and ``medforge tag``)."""
    import torch

    model.eval()
    out: list[list[str | None]] = [[None] * n for n in n_words]
    by_length = sorted(windows, key=lambda w: len(w.input_ids))  # little padding: 2.4x faster on BC5CDR dev
    for i in range(0, len(by_length), batch_size):
        chunk = by_length[i:i + batch_size]
        batch = collate(chunk, pad_id)
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"].to(device),
                           attention_mask=batch["attention_mask"].to(device)).logits
        best = logits.argmax(-1).cpu()
        for row, window in enumerate(chunk):
            for k, position in enumerate(window.word_positions):
                slot = window.first_word + k
                assert out[window.sentence][slot] is None, "a word was predicted twice"
                out[window.sentence][slot] = id2label[int(best[row, position])]
    model.train()
    assert all(tag is not None for sent in out for tag in sent), "a word got no prediction"
    return out  # type: ignore[return-value]
