from __future__ import annotations

import numpy as np

from medforge.corpus.dedup import MinHasher, NearDuplicates, bands_for

BASE = ("Le patient, âgé de 67 ans, est admis pour une fièvre à 39 degrés évoluant depuis trois jours, associée à "
        "une toux productive et à une dyspnée d'effort. La radiographie thoracique montre une opacité basale droite. "
        "Un traitement par amoxicilline est débuté avec une évolution favorable en quarante-huit heures.")


def jaccard(a: str, b: str, k: int = 7) -> float:
    def grams(t):
        t = " ".join(t.lower().split())
        return {t[i:i + k] for i in range(len(t) - k + 1)}

    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y)


def test_signature_agreement_estimates_jaccard():
    hasher = MinHasher(256)
    near = BASE.replace("trois", "quatre").replace("droite", "gauche")
    other = BASE.replace("fièvre", "douleur").replace("toux productive", "céphalée intense").replace(
        "amoxicilline", "paracétamol").replace("opacité basale", "image normale")
    for b in (near, other):
        estimate = float(np.mean(hasher.signature(BASE) == hasher.signature(b)))
        assert abs(estimate - jaccard(BASE, b)) < 0.1, (estimate, jaccard(BASE, b))
    assert hasher.signature("short") is None or hasher.signature("short").shape == (256,)
    assert hasher.signature("abc") is None


def test_near_duplicates_are_caught_and_near_but_distinct_texts_survive():
    hasher, index = MinHasher(128), NearDuplicates(0.8, 128)
    index.add(hasher.signature(BASE))
    copy = BASE.replace("67 ans", "68 ans")  # one token changed
    assert jaccard(BASE, copy) > 0.9 and index.check(hasher.signature(copy))[0] == 0
    distinct = BASE.replace("fièvre à 39 degrés", "douleur thoracique").replace("toux productive", "syncope").replace(
        "opacité basale droite", "cardiomégalie").replace("amoxicilline", "aspirine")
    assert jaccard(BASE, distinct) < 0.65 and index.check(hasher.signature(distinct)) is None


def test_bands_follow_the_threshold():
    assert bands_for(0.8, 128) == (16, 8)
    high, low = bands_for(0.9, 128), bands_for(0.5, 128)
    assert high[1] > low[1]  # more rows per band: a stricter candidate test


def test_every_member_of_a_shared_bucket_is_a_candidate():
    """A near duplicate whose only fully shared band is held by an earlier, dissimilar document was never
    compared with its true match."""
    rng = np.random.default_rng(0)
    index = NearDuplicates(0.8, 128)
    rows = index.rows
    first = rng.integers(0, 2**32, 128, dtype=np.uint32)  # kept first: shares band 0 with the match only
    match = rng.integers(0, 2**32, 128, dtype=np.uint32)
    first[:rows] = match[:rows]
    assert float(np.mean(first == match)) < 0.5
    index.add(first)
    index.add(match)
    copy = match.copy()
    copy[rows + 1::rows] ^= 1  # one value off in every other band: only band 0 is shared whole
    assert float(np.mean(copy == match)) >= 0.8
    assert index.check(copy) == (1, float(np.mean(copy == match)))
