"""Mean ± std over seeds, and the two significance tests of a paired model comparison.

- ``paired_bootstrap``: resamples test sentences (with replacement), each drawn sentence carrying the
  predictions of every seed of both models, and recomputes the difference of the models' mean
  (over seeds) strict entity F1 on each resample; two-sided p-value by the shift method (how often
  the resampled difference strays from the observed one by as much as the observed one strays
  from 0). Treating each seed's copy of a sentence as an independent example instead would make
  the interval about sqrt(seeds) too narrow: seeds add no test sentences.
- ``permutation_test``: over per-seed scores; exact (every relabelling of the pooled runs) when
  there are at most 200,000 of them, otherwise a seeded random sample.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Iterable

import numpy as np
from seqeval.scheme import IOB2, Entities


def mean_std(values: list[float]) -> dict:
    """Sample standard deviation (n - 1), as papers report it; 0 for a single run."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values), "values": list(values)}


def sentence_counts(gold: list[list[str]], pred: list[list[str]]) -> np.ndarray:
    """Per sentence: (true positives, predicted entities, gold entities) under seqeval strict IOB2."""
    rows = []
    for g, p in zip(gold, pred, strict=True):
        ge = set(Entities([g], IOB2).entities[0])
        pe = set(Entities([p], IOB2).entities[0])
        rows.append((len(ge & pe), len(pe), len(ge)))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def f1_from_counts(counts: np.ndarray) -> np.ndarray:
    """Micro F1 from summed counts (last axis: tp, predicted, gold)."""
    tp, npred, ngold = counts[..., 0], counts[..., 1], counts[..., 2]
    denominator = npred + ngold
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def resample_weights(n: int, samples: int, seed: int) -> np.ndarray:
    """(samples, n): how many times each of n examples is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(samples, n))
    weights = np.zeros((samples, n), dtype=np.int64)
    np.add.at(weights, (np.arange(samples)[:, None], picks), 1)
    return weights


def paired_bootstrap(gold: list[list[str]], preds_a: list[list[list[str]]], preds_b: list[list[list[str]]],
                     samples: int = 1000, seed: int = 0) -> dict:
    """Mean-over-seeds F1(b) - F1(a) on the test sentences, its 95% interval and two-sided p-value.
    ``preds_a[s]`` and ``preds_b[s]`` are the predictions of seed s (one list of tags per sentence)."""
    if not preds_a or len(preds_a) != len(preds_b):
        raise ValueError("paired_bootstrap needs the same number (at least one) of seeds for both models")
    a = np.stack([sentence_counts(gold, p) for p in preds_a])  # (seeds, sentences, 3)
    b = np.stack([sentence_counts(gold, p) for p in preds_b])
    delta = float(f1_from_counts(b.sum(1)).mean() - f1_from_counts(a.sum(1)).mean())
    weights = resample_weights(len(gold), samples, seed)  # one draw of sentences for all seeds of both models
    resampled_a = f1_from_counts(np.einsum("rn,snc->src", weights, a)).mean(0)
    resampled_b = f1_from_counts(np.einsum("rn,snc->src", weights, b)).mean(0)
    return {**_bootstrap_result(delta, resampled_b - resampled_a), "resampled": "sentences (all seeds together)",
            "seeds": len(preds_a)}


def _bootstrap_result(delta: float, deltas: np.ndarray) -> dict:
    """Two-sided p-value by the shift method, and the 95% percentile interval of the difference."""
    p_value = float(np.mean(np.abs(deltas - delta) >= abs(delta) - 1e-12)) if delta else 1.0
    low, high = np.percentile(deltas, [2.5, 97.5])
    return {"delta": float(delta), "ci95": [float(low), float(high)], "p_value": p_value, "samples": len(deltas)}


def paired_bootstrap_metric(score, preds_a: list[list], preds_b: list[list], n: int, samples: int = 1000,
                            seed: int = 0) -> dict:
    """The same test for any metric: ``score(pred, indices)`` computes it on a resample of the n examples;
    each resample draws examples once, for every seed of both models."""
    if not preds_a or len(preds_a) != len(preds_b):
        raise ValueError("paired_bootstrap_metric needs the same number (at least one) of seeds for both models")

    def difference(indices) -> float:
        return float(np.mean([score(p, indices) for p in preds_b]) - np.mean([score(p, indices) for p in preds_a]))

    rng = np.random.default_rng(seed)
    deltas = np.array([difference(idx) for idx in rng.integers(0, n, size=(samples, n)).tolist()])
    return {**_bootstrap_result(difference(range(n)), deltas), "resampled": "examples (all seeds together)",
            "seeds": len(preds_a)}


def permutation_test(scores_a: list[float], scores_b: list[float], limit: int = 200_000, seed: int = 0) -> dict:
    """Two-sided test that two sets of per-seed scores share one distribution (difference of means)."""
    pooled = list(scores_a) + list(scores_b)
    n, k = len(pooled), len(scores_a)
    observed = statistics.fmean(scores_b) - statistics.fmean(scores_a)
    total = sum(pooled)

    def delta(group_a: tuple[int, ...]) -> float:
        sum_a = sum(pooled[i] for i in group_a)
        return (total - sum_a) / (n - k) - sum_a / k

    exact = math.comb(n, k) <= limit
    splits: Iterable[tuple[int, ...]]
    if exact:
        splits = itertools.combinations(range(n), k)
    else:
        rng = random.Random(seed)
        splits = (tuple(rng.sample(range(n), k)) for _ in range(limit))
    deltas = [delta(s) for s in splits]
    extreme = sum(abs(d) >= abs(observed) - 1e-12 for d in deltas)
    # the floor: even the most extreme relabelling has itself and its mirror image (with equal groups)
    largest = max(abs(d) for d in deltas)
    floor = sum(abs(d) >= largest - 1e-12 for d in deltas) / len(deltas) if exact else 1 / len(deltas)
    return {"delta": observed, "p_value": extreme / len(deltas), "exact": exact, "permutations": len(deltas),
            "min_p_value": floor}
