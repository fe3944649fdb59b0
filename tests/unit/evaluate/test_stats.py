import random

import pytest
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2

from medforge.evaluate.stats import f1_from_counts, mean_std, paired_bootstrap, permutation_test, sentence_counts


def test_mean_and_sample_std():
    assert mean_std([0.8, 0.9, 1.0]) == {"mean": pytest.approx(0.9), "std": pytest.approx(0.1), "n": 3,
                                         "values": [0.8, 0.9, 1.0]}
    assert mean_std([0.5])["std"] == 0.0


def random_tags(rng, n):
    return [rng.choice(["O", "O", "B-A", "I-A", "B-B", "I-B"]) for _ in range(n)]


def test_per_sentence_counts_sum_to_seqeval_strict_f1():
    rng = random.Random(1)
    gold = [random_tags(rng, rng.randint(1, 15)) for _ in range(200)]
    pred = [random_tags(rng, len(g)) for g in gold]
    f1 = f1_from_counts(sentence_counts(gold, pred).sum(0))
    assert f1 == pytest.approx(f1_score(gold, pred, mode="strict", scheme=IOB2))


def test_bootstrap_identical_models_are_not_different():
    gold = [["B-A", "O"], ["O", "B-B"]] * 20
    result = paired_bootstrap(gold, gold, gold)
    assert result["delta"] == 0 and result["p_value"] == 1.0


def test_bootstrap_a_clearly_better_model_is_significant_and_a_near_tie_is_not():
    rng = random.Random(2)
    gold = [["B-A", "I-A", "O", "B-B"] for _ in range(300)]
    empty = [["O"] * 4 for _ in gold]
    strong = [g if rng.random() < 0.9 else ["O"] * 4 for g in gold]
    result = paired_bootstrap(gold, empty, strong)
    assert result["delta"] > 0.8 and result["p_value"] < 0.01 and result["ci95"][0] > 0
    one_off = list(strong)
    one_off[0] = ["O"] * 4 if one_off[0] == gold[0] else gold[0]  # the two models differ on one sentence
    assert paired_bootstrap(gold, strong, one_off)["p_value"] > 0.3


def test_permutation_test_known_exact_answers():
    # 3 vs 3 fully separated: of the 20 relabellings only the observed one and its mirror are as extreme
    result = permutation_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert result["exact"] and result["permutations"] == 20 and result["p_value"] == pytest.approx(0.1)
    assert permutation_test([1.0, 2.0], [1.0, 2.0])["p_value"] == 1.0
    sampled = permutation_test([0.1] * 12 + [0.2], [0.9] * 13, limit=1000)
    assert not sampled["exact"] and sampled["p_value"] < 0.01
