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


def one_permutation_minhash(text: str, num_perm: int = 128, shingle: int = 7):
    """The signature spelled out one shingle at a time in plain Python integers: the reference the batched
    numpy computation must match bit for bit."""
    from medforge.rng import mix64

    mask64 = (1 << 64) - 1
    codes = [ord(c) for c in " ".join(text.lower().split())]
    if len(codes) < shingle:
        return None
    sig = [None] * num_perm
    shift = 64 - (num_perm.bit_length() - 1)
    for i in range(len(codes) - shingle + 1):
        h = sum(codes[i + j] * pow(0x100000001B3, j, 1 << 64) for j in range(shingle)) & mask64
        h = int(mix64(np.uint64(h)))
        b, v = h >> shift, h & 0xFFFFFFFF
        sig[b] = v if sig[b] is None else min(sig[b], v)
    filled = [i for i in range(num_perm) if sig[i] is not None]
    out = []
    for i in range(num_perm):
        if sig[i] is not None:
            out.append(sig[i])
            continue
        nxt = next((f for f in filled if f >= i), filled[0])
        out.append((sig[nxt] + ((nxt - i) % num_perm) * 0x9E3779B1) & 0xFFFFFFFF)
    return np.array(out, dtype=np.uint32)


def test_batched_signatures_equal_the_shingle_by_shingle_definition():
    import random

    rng = random.Random(0)
    words = "fièvre toux patient 患者 dyspnée X a bb ccc radiographie thoracique".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.choice([0, 1, 2, 3, 8, 40, 120]))) for _ in range(60)]
    texts += ["", "abcdef", "abcdefg", "   spaced   out   ", "ÉNORME Œdème"]
    batched = MinHasher(128).signatures(texts)
    assert sum(s is None for s in batched) >= 5 and sum(s is not None for s in batched) >= 30
    for text, got in zip(texts, batched):
        want = one_permutation_minhash(text)
        assert (got is None and want is None) or np.array_equal(got, want), text
    small_groups = MinHasher(128).signatures(texts, chars=300)  # bounded memory: many groups, same values
    assert all((a is None and b is None) or np.array_equal(a, b) for a, b in zip(batched, small_groups))


def test_band_keys_reused_only_for_the_same_signature():
    """check's band keys are reused by add only for the very same array: adding another signature right
    after a check must index that one."""
    rng = np.random.default_rng(0)
    index = NearDuplicates(0.8, 128)
    a, b = (rng.integers(0, 2**32, 128, dtype=np.uint64).astype(np.uint32) for _ in range(2))
    assert index.check(a) is None
    index.add(b)
    assert index.check(b.copy()) == (0, 1.0) and index.check(a.copy()) is None
    for sig in (a, b, a):  # each its own keys, whatever was asked before
        assert index._keys(sig) == [hash(sig[i:i + index.rows].tobytes()) for i in range(0, 128, index.rows)]


def test_integer_weights_draw_nothing():
    from medforge.corpus.split import copies

    assert [copies(f"doc {i}", 0, 2.0) for i in range(50)] == [2] * 50
    drawn = [copies(f"doc {i}", 0, 1.5) for i in range(400)]
    assert set(drawn) == {1, 2} and 150 < drawn.count(2) < 250


def test_signatures_across_polynomial_chunks_equal_the_definition():
    """The prefix-sum polynomial runs over fixed-size chunks of the codes: a chunk of a few positions puts
    shingles, documents and group boundaries across every chunk edge."""
    import random

    rng = random.Random(1)
    words = "fièvre toux 患者 a bb ccc radiographie".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.choice([0, 1, 2, 5, 30]))) for _ in range(40)]
    for chunk in (1, 2, 7, 13, 64):
        hasher = MinHasher(128)
        hasher.CHUNK = chunk
        for text, got in zip(texts, hasher.signatures(texts, chars=200)):
            want = one_permutation_minhash(text)
            assert (got is None and want is None) or np.array_equal(got, want), (chunk, text)


def test_compact_text_is_the_lowered_words_joined_by_one_space():
    """The fast path (a normalised text only has its line breaks replaced) gives the words joined by one space,
    whatever the spacing, line breaks, odd spaces or controls around them."""
    import random

    from medforge.corpus.dedup import _compact

    rng = random.Random(2)
    pieces = ["Fièvre", "TOUX", "患者", "a", "ΟΔΟΣ", " ", "  ", "\n", "\n\n", "\t", "\u00a0", "\u3000", "\u2028",
              "\x1c", "\x85", "\u200b", "\u00ad", "İ", "x"]
    samples = ["", " ", "\n", "one line", "two\nlines", "a \nb", "a\n b", " lead", "trail ", "ΟΔΟΣ\nΟΔΟΣ"]
    samples += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(5000)]
    for text in samples:
        assert _compact(text) == " ".join(text.lower().split()), repr(text)


def test_mix64_in_place_equals_mix64():
    from medforge.rng import mix64, mix64_inplace

    values = np.random.default_rng(0).integers(0, 2**63, 1000, dtype=np.uint64) * np.uint64(3)
    expected = mix64(values.copy())
    got = values.copy()
    assert mix64_inplace(got) is got and np.array_equal(got, expected)


def test_power_tables_are_built_once_per_process_and_read_only():
    """The task engine makes a hasher per input file: the 34 MB of tables are not built again for each."""
    first, second = MinHasher()._tables(), MinHasher(64)._tables()
    assert first[0] is second[0] and not first[0].flags.writeable
