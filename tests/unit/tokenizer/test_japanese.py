from __future__ import annotations

import json
from itertools import islice

import pytest
from transformers import AutoTokenizer

from medforge.textnorm import fullwidth_normalizer
from medforge.tokenizer.config import TokenizerConfig
from medforge.tokenizer.japanese import preprocessor, segment
from medforge.tokenizer.train import train_tokenizer
from tests_shared import shared_data

pytest.importorskip("fugashi", reason="fugashi + unidic-lite (the 'ja' extra) are not installed")

# Written for this test: short clinical-style Japanese sentences.
SENTENCES = [
    "患者は肺炎のため入院した。", "発熱と咳嗽を認めた。", "胸部レントゲンで浸潤影を認めた。",
    "抗菌薬を投与したところ解熱した。", "ＣＲＰは１２ｍｇ／ｄＬであった。", "既往歴に糖尿病がある。",
    "腹部超音波検査で異常はなかった。", "退院後も外来で経過を観察した。", "血圧は安定していた。",
    "頭痛と嘔吐を主訴に来院した。",
]


def test_fullwidth_normalizer():
    norm = fullwidth_normalizer()
    assert norm.normalize_str("CRP 12mg/dL") == "ＣＲＰ １２ｍｇ／ｄＬ"  # spaces stay ASCII (word splits)
    assert norm.normalize_str("ｶﾙﾃ") == "カルテ"  # half-width katakana folded by NFKC


def test_segment_splits_words():
    assert segment("患者は肺炎のため入院した。").split() == ["患者", "は", "肺炎", "の", "ため", "入院", "し", "た", "。"]  # noqa: E501


def test_mecab_segmented_unigram_knows_word_boundaries(tmp_path):
    cfg = TokenizerConfig(algorithm="sp_unigram", family="bert", fullwidth=True, pre_segment="mecab",
                          vocab_size=200, vocab_multiple=8)
    train_tokenizer(iter(SENTENCES * 20), cfg, tmp_path, 0, SENTENCES[:3])
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["medforge_pre_segment"] == "mecab"
    prepare = preprocessor(tok)
    assert prepare is segment
    text = prepare("患者は肺炎のため入院した。")
    encoding = tok(text, add_special_tokens=False)
    words = text.split()
    # every token lies inside one MeCab word, so whole-word masking can use word_ids()
    for token_index, _word in enumerate(encoding.word_ids()):
        start, end = encoding.token_to_chars(token_index)
        assert " " not in text[start:end].strip()
    assert max(encoding.word_ids()) == len(words) - 1
    from medforge.data.pack import Encoder

    stored = Encoder(tok, "pack")(["患者は肺炎のため入院した。"])  # what packing stores: segmented by the encoder
    assert stored.column("ids").to_pylist() == [encoding["input_ids"]]
    assert sum(stored.column("starts").to_pylist()[0]) == len(words)  # whole-word masking sees MeCab's words


def test_mecab_on_real_case_reports(tmp_path):
    with shared_data("text/ja/medtxt-cr.txt").open(encoding="utf-8") as fh:
        texts = [line.strip() for line in islice(fh, 60) if line.strip()]
    cfg = TokenizerConfig(algorithm="sp_unigram", family="bert", fullwidth=True, pre_segment="mecab", vocab_size=1500)
    summary = train_tokenizer(iter(texts[:50]), cfg, tmp_path, 0, texts[50:])
    assert summary["vocab_size"] % 64 == 0 and summary["held_out_unk_rate"] < 0.1
