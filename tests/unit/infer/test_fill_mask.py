from __future__ import annotations

import pytest
import torch

from medforge.errors import InputError
from medforge.infer.fill_mask import fill_mask
from medforge.models.presets import build_mlm


@pytest.fixture(scope="module")
def model(tiny_tokenizer):
    torch.manual_seed(0)
    return build_mlm("roberta", "tiny", tiny_tokenizer, 64).eval()


def test_each_mask_gets_top_k_sorted_predictions(model, tiny_tokenizer):
    out = fill_mask(tiny_tokenizer, model, ["Le <mask> a une <mask>.", "The <mask>."], top_k=3, batch_size=1)
    assert [len(r["masks"]) for r in out] == [2, 1]
    for result in out:
        for mask in result["masks"]:
            scores = [p["score"] for p in mask["predictions"]]
            assert len(scores) == 3 and scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1


def test_batching_does_not_change_scores(model, tiny_tokenizer):
    texts = ["Le <mask>.", "The patient was treated with a long course of <mask> tablets."]
    one = fill_mask(tiny_tokenizer, model, texts, top_k=2, batch_size=1)
    two = fill_mask(tiny_tokenizer, model, texts, top_k=2, batch_size=2)
    for a, b in zip(one, two):
        for ma, mb in zip(a["masks"], b["masks"]):
            assert [p["token"] for p in ma["predictions"]] == [p["token"] for p in mb["predictions"]]
            assert [p["score"] for p in ma["predictions"]] == pytest.approx(
                [p["score"] for p in mb["predictions"]], abs=1e-5)


def test_text_without_mask_is_an_error(model, tiny_tokenizer):
    with pytest.raises(InputError, match="no <mask>"):
        fill_mask(tiny_tokenizer, model, ["nothing to fill"])


def test_targets_restrict_the_ranking_and_keep_full_vocabulary_scores(model, tiny_tokenizer):
    from medforge.infer.fill_mask import target_id

    free = fill_mask(tiny_tokenizer, model, ["The <mask>."], top_k=tiny_tokenizer.vocab_size)[0]["masks"][0]
    by_id = {p["token"]: p["score"] for p in free["predictions"]}
    words = [w for w in ("patient", "the", "fever", "a") if _single(tiny_tokenizer, w)]
    assert len(words) >= 2
    out = fill_mask(tiny_tokenizer, model, ["The <mask>."], top_k=5, targets=words)[0]["masks"][0]["predictions"]
    assert sorted(p["token"] for p in out) == sorted(target_id(tiny_tokenizer, w) for w in words)
    assert [p["score"] for p in out] == sorted((by_id[p["token"]] for p in out), reverse=True)
    with pytest.raises(InputError, match="target 'pneumopathiexyz' is .* tokens"):
        fill_mask(tiny_tokenizer, model, ["The <mask>."], targets=["pneumopathiexyz"])


def _single(tokenizer, word):
    try:
        from medforge.infer.fill_mask import target_id

        target_id(tokenizer, word)
        return True
    except InputError:
        return False


def test_top_k_below_one_is_an_error(model, tiny_tokenizer):
    for k in (0, -1):
        with pytest.raises(InputError, match="top-k must be at least 1"):
            fill_mask(tiny_tokenizer, model, ["The <mask>."], top_k=k)


def test_a_mask_past_the_model_length_is_predicted_in_a_window(model, tiny_tokenizer):
    """64 positions: the mask after ~200 tokens was cut away by truncation ("masks": [], exit 0)."""
    from medforge.infer.fill_mask import encode

    text = "The patient was treated with aspirin for a long time. " * 20 + "It was <mask> again. " + "Fine. " * 30
    out = fill_mask(tiny_tokenizer, model, [text, "The <mask> and the <mask>."], top_k=2)
    ids = encode(tiny_tokenizer, text)
    assert len(ids) > 64
    assert [m["position"] for m in out[0]["masks"]] == [ids.index(tiny_tokenizer.mask_token_id)]
    assert len(out[1]["masks"]) == 2


def test_special_token_strings_in_the_text_stay_text(model, tiny_tokenizer):
    """Only the mask marker is a control token: a literal <s> or </s> (HTML strike-through) is text."""
    from medforge.infer.fill_mask import encode

    ids = encode(tiny_tokenizer, "Dose <s>10 mg</s> 20 mg of <mask>.")
    inner = ids[1:-1]
    assert inner.count(tiny_tokenizer.mask_token_id) == 1
    assert tiny_tokenizer.bos_token_id not in inner and tiny_tokenizer.eos_token_id not in inner
    assert tiny_tokenizer.decode(inner).replace("<mask>", "").count("<s>") == 1
    plain = "The patient was treated with <mask>."
    assert encode(tiny_tokenizer, plain) == tiny_tokenizer(plain)["input_ids"]  # the usual case: unchanged


def test_a_model_without_a_trained_mlm_head_is_refused(tmp_path, tiny_tokenizer):
    from transformers import AutoModelForTokenClassification

    from medforge.errors import MedforgeError
    from medforge.infer.fill_mask import load

    base = build_mlm("roberta", "tiny", tiny_tokenizer, 64)
    base.save_pretrained(tmp_path / "mlm")
    tagger = AutoModelForTokenClassification.from_pretrained(tmp_path / "mlm", num_labels=3)
    tagger.save_pretrained(tmp_path / "ner")
    tiny_tokenizer.save_pretrained(tmp_path / "ner")
    with pytest.raises(MedforgeError, match="no trained masked-LM head"):
        load(str(tmp_path / "ner"))
