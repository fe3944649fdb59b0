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
    result = paired_bootstrap(gold, [gold], [gold])
    assert result["delta"] == 0 and result["p_value"] == 1.0


def test_bootstrap_a_clearly_better_model_is_significant_and_a_near_tie_is_not():
    rng = random.Random(2)
    gold = [["B-A", "I-A", "O", "B-B"] for _ in range(300)]
    empty = [["O"] * 4 for _ in gold]
    strong = [g if rng.random() < 0.9 else ["O"] * 4 for g in gold]
    result = paired_bootstrap(gold, [empty], [strong])
    assert result["delta"] > 0.8 and result["p_value"] < 0.01 and result["ci95"][0] > 0
    one_off = list(strong)
    one_off[0] = ["O"] * 4 if one_off[0] == gold[0] else gold[0]  # the two models differ on one sentence
    assert paired_bootstrap(gold, [strong], [one_off])["p_value"] > 0.3


def test_permutation_test_known_exact_answers():
    # 3 vs 3 fully separated: of the 20 relabellings only the observed one and its mirror are as extreme
    result = permutation_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert result["exact"] and result["permutations"] == 20 and result["p_value"] == pytest.approx(0.1)
    assert permutation_test([1.0, 2.0], [1.0, 2.0])["p_value"] == 1.0
    sampled = permutation_test([0.1] * 12 + [0.2], [0.9] * 13, limit=1000)
    assert not sampled["exact"] and sampled["p_value"] < 0.01


def test_bootstrap_resamples_sentences_not_seed_copies():
    """Seeds add no test sentences: three seeds that predict exactly alike must give the one-seed interval.
    Resampling each seed's copy of a sentence on its own made it about sqrt(3) too narrow."""
    rng = random.Random(3)
    gold = [random_tags(rng, rng.randint(2, 12)) for _ in range(400)]
    a = [g if rng.random() < 0.7 else random_tags(rng, len(g)) for g in gold]
    b = [g if rng.random() < 0.75 else random_tags(rng, len(g)) for g in gold]
    one = paired_bootstrap(gold, [a], [b])
    three = paired_bootstrap(gold, [a, a, a], [b, b, b])
    assert three["delta"] == pytest.approx(one["delta"]) and three["ci95"] == pytest.approx(one["ci95"])
    assert three["p_value"] == pytest.approx(one["p_value"]) and three["seeds"] == 3
    # the old computation, each copy an independent example, for contrast
    pooled = paired_bootstrap(gold * 3, [a * 3], [b * 3])
    width = one["ci95"][1] - one["ci95"][0]
    assert (pooled["ci95"][1] - pooled["ci95"][0]) < width / 1.5  # ~ width / sqrt(3): too narrow


def test_bootstrap_delta_is_the_difference_of_the_mean_seed_scores():
    rng = random.Random(4)
    gold = [random_tags(rng, 6) for _ in range(100)]
    seeds_a = [[random_tags(rng, 6) for _ in gold] for _ in range(2)]
    seeds_b = [[g if rng.random() < 0.5 else random_tags(rng, 6) for g in gold] for _ in range(2)]
    mean = lambda preds: sum(f1_score(gold, p, mode="strict", scheme=IOB2) for p in preds) / len(preds)  # noqa: E731
    assert paired_bootstrap(gold, seeds_a, seeds_b)["delta"] == pytest.approx(mean(seeds_b) - mean(seeds_a))


def test_metric_bootstrap_resamples_examples_for_all_seeds_together():
    from medforge.evaluate.stats import paired_bootstrap_metric

    rng = random.Random(5)
    gold = [rng.choice("xy") for _ in range(300)]
    a = [g if rng.random() < 0.6 else ("y" if g == "x" else "x") for g in gold]
    b = [g if rng.random() < 0.7 else ("y" if g == "x" else "x") for g in gold]

    def accuracy(pred, indices):
        indices = list(indices)
        return sum(pred[i] == gold[i] for i in indices) / len(indices)

    one = paired_bootstrap_metric(accuracy, [a], [b], len(gold), samples=300)
    three = paired_bootstrap_metric(accuracy, [a] * 3, [b] * 3, len(gold), samples=300)
    assert three["ci95"] == pytest.approx(one["ci95"]) and three["delta"] == pytest.approx(one["delta"])
