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
