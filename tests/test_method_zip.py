"""ZIP against a direct, naive implementation of the three-stage loop (one-shot zlib on every set)."""

import zlib

import numpy as np
import pandas as pd
import pytest

import selectbench.selection.zip  # noqa: F401  (registers `zip`)
from selectbench.errors import SelectbenchError
from selectbench.selection import SELECTORS, SelectContext
from selectbench.selection.zip import sample_bytes, zip_select


def R(parts):
    data = b"".join(parts)
    return len(data) / len(zlib.compress(data, 9))


def naive_zip(texts, budget, k1, k2, k3, reference_code=False):
    """The paper's loop written plainly: every ratio is a fresh zlib.compress of the whole set."""
    state = {i: R([t]) for i, t in enumerate(texts)}
    pool = set(range(len(texts)))
    chosen = []
    while len(chosen) < budget:
        c1 = sorted(pool, key=lambda i: (state[i], i))[:k1]                       # stage 1
        for i in c1:                                                            # stage 2
            state[i] = R([texts[j] for j in chosen] + [texts[i]])
        c2 = [c1[pos] for _, pos in sorted((state[i], pos) for pos, i in enumerate(c1))][:k2]
        context = [] if reference_code else [texts[j] for j in chosen]
        picked = []
        for _ in range(min(k3, budget - len(chosen))):                         # stage 3
            rest = [i for i in c2 if i not in picked]
            ratios = [R(context + [texts[j] for j in picked] + [texts[i]]) for i in rest]
            picked.append(rest[int(np.argmin(ratios))])
        chosen += picked
        pool -= set(picked)
        if reference_code:
            pool -= set(c2)
    return chosen


def make_texts(n=100, seed=0):
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(400)]
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:       # very redundant
            words = [vocab[int(rng.integers(5))]] * int(rng.integers(20, 120))
        elif kind == 1:     # diverse
            words = list(rng.choice(vocab, size=int(rng.integers(10, 80))))
        else:               # mixed, with shared phrases across rows
            words = list(rng.choice(vocab[:40], size=int(rng.integers(5, 60))))
        conv = [{"role": "user", "content": f"Question {i % 7}: " + " ".join(words[: len(words) // 2])},
                {"role": "assistant", "content": " ".join(words[len(words) // 2:]) or "ok"}]
        out.append(conv)
    return out


def test_matches_naive_implementation_on_100_rows():
    texts = [sample_bytes(m) for m in make_texts(100)]
    for k1, k2, k3, budget in [(30, 10, 4, 22), (100, 25, 25, 40), (12, 3, 1, 9)]:
        for ref in (False, True):
            assert zip_select(texts, budget, k1, k2, k3, ref) == naive_zip(texts, budget, k1, k2, k3, ref), \
                (k1, k2, k3, budget, ref)


def test_prefers_low_compression_ratio_and_is_exact_budget():
    convs = make_texts(60, seed=1)
    pool = pd.DataFrame({"id": [f"r{i}" for i in range(60)], "messages": convs})
    run = lambda budget, **params: SELECTORS.get("zip").fn(SelectContext(pool, None, budget, 0, params))  # noqa: E731
    ids = run(13, k1=40, k2=10, k3=4)
    assert len(ids) == 13 == len(set(ids))
    assert run(13, k1=40, k2=10, k3=4) == ids                                  # deterministic
    single = np.array([R([sample_bytes(m)]) for m in convs])
    first = int(ids[0][1:])
    # the first pick minimises R over the K2 best singles, so it is never a highly redundant row
    assert single[first] <= np.sort(single)[9]
    assert all(int(i[1:]) % 4 != 0 for i in ids[:5])
    assert len(run(60, k1=10, k2=5, k3=2, reference_code=False)) == 60        # k's larger than left: clipped
    with pytest.raises(SelectbenchError, match="k1 >= k2 >= k3"):
        zip_select([b"a\n", b"b\n"], 1, 1, 2, 1)
    with pytest.raises(SelectbenchError, match="exhausted"):
        zip_select([b"a\n", b"bb\n", b"ccc\n", b"dddd\n"], 3, 4, 2, 1, reference_code=True)


def zip_py_transcription(texts, budget, k1, k2, k3):
    """ZIP.py's `ZIP_select` transcribed: one global state vector where picked and dropped rows
    get the sentinel 1e6; stage 1+2 = one `selec_data_from_corpus` call with candidate_budget=k1,
    stage 3 = the 'all' branch from an empty anchor, one pick per iteration. `torch.topk` ties are
    replaced by lower index (valid while k1 < rows left, so the sentinel rows are never candidates)."""
    state = np.array([R([t]) for t in texts])
    final = []
    while len(final) < budget:
        cur = np.argsort(state, kind="stable")[:k1]                       # global view
        assert state[cur].max() < 1e6, "transcription only valid while k1 < rows left"
        group = np.array([R([texts[j] for j in final] + [texts[i]]) for i in cur])
        state[cur] = group
        second = cur[np.argsort(group, kind="stable")[:k2]]
        state[second] = 1e6
        local, picked = np.zeros(len(second)), []
        while len(picked) < k3:                                           # stage 3, anchor = []
            local = np.array([R([texts[j] for j in picked] + [texts[i]]) for i in second])
            local[[list(second).index(j) for j in picked]] = 1e6
            picked.append(int(second[int(np.argmin(local))]))
        final += picked
    return final


def test_default_is_zip_py_on_a_small_pool():
    """The default (`reference_code: true`) picks the ids ZIP.py picks, in the same order."""
    convs = make_texts(90, seed=3)
    pool = pd.DataFrame({"id": [f"r{i}" for i in range(90)], "messages": convs})
    texts = [sample_bytes(m) for m in convs]
    for k1, k2, k3, budget in [(30, 8, 4, 16), (40, 12, 3, 12)]:
        want = [f"r{i}" for i in zip_py_transcription(texts, budget, k1, k2, k3)]
        got = SELECTORS.get("zip").fn(SelectContext(pool, None, budget, 0, {"k1": k1, "k2": k2, "k3": k3}))
        assert got == want, (k1, k2, k3)
        other = SELECTORS.get("zip").fn(SelectContext(pool, None, budget, 0,
                                                      {"k1": k1, "k2": k2, "k3": k3, "reference_code": False}))
        assert other != want                    # the selectbench variant is a different rule
