"""k-means and `kmeans_top`: seeded clustering, exact proportional quotas, best-by-score per cluster."""

import numpy as np
import pandas as pd
import pytest

import selectbench.selection.kmeans as km  # noqa: F401  (registers `kmeans_top`)
from selectbench.errors import SelectbenchError
from selectbench.selection import SELECTORS, SelectContext
from selectbench.selection.kmeans import kmeans, proportional_quota


def blobs(sizes, d=8, seed=0, spread=0.05):
    rng = np.random.default_rng(seed)
    centres = np.eye(d)[: len(sizes)] * 10
    x = np.concatenate([c + spread * rng.normal(size=(s, d)) for c, s in zip(centres, sizes)])
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return x.astype(np.float32), truth


def same_partition(a, b):
    return len(set(zip(a.tolist(), b.tolist()))) == len(set(a.tolist())) == len(set(b.tolist()))


def test_kmeans_recovers_blobs_is_a_lloyd_fixed_point_and_is_seeded():
    x, truth = blobs([30, 20, 10])
    labels, cent = kmeans(x, 3, seed=0, iters=100)
    assert same_partition(labels, truth)
    for c in range(3):
        assert np.allclose(cent[c], x[labels == c].astype(np.float64).mean(0), atol=1e-6)
    d = ((x[:, None, :].astype(np.float64) - cent[None]) ** 2).sum(-1)
    assert (d.argmin(1) == labels).all()
    rng = np.random.default_rng(1)
    y = rng.normal(size=(300, 5)).astype(np.float32)
    a, b, c = kmeans(y, 7, 3, 50), kmeans(y, 7, 3, 50), kmeans(y, 7, 4, 50)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    lab0, _ = kmeans(y, 7, 3, iters=1)                     # one Lloyd step after k-means++
    assert len(np.unique(lab0)) == 7


def test_kmeans_handles_duplicates_and_bad_k():
    x = np.zeros((10, 3), dtype=np.float32)
    x[5:] = 1
    labels, _ = kmeans(x, 4, seed=0, iters=10)                # more clusters than distinct points
    assert labels.shape == (10,)
    with pytest.raises(SelectbenchError, match="k <= n"):
        kmeans(x, 11, 0, 10)


def test_proportional_quota_largest_remainder_exact_total():
    assert proportional_quota([5, 3, 2], 5).tolist() == [3, 1, 1]      # 2.5, 1.5, 1.0: tie → lower index
    assert proportional_quota([6, 3, 1], 4).tolist() == [3, 1, 0]      # 2.4, 1.2, 0.4: .4 = .4 → lower index
    assert proportional_quota([1, 3, 6], 4).tolist() == [1, 1, 2]      # 0.4, 1.2, 2.4
    assert proportional_quota([1, 1, 1], 2).tolist() == [1, 1, 0]
    assert proportional_quota([4, 0, 6], 10).tolist() == [4, 0, 6]
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = rng.integers(0, 20, size=rng.integers(1, 10))
        if sizes.sum() == 0:
            continue
        b = int(rng.integers(0, sizes.sum() + 1))
        q = proportional_quota(sizes, b)
        assert q.sum() == b and (q <= sizes).all() and (q >= 0).all()
        assert (np.abs(q - b * sizes / sizes.sum()) < 1).all()
    with pytest.raises(SelectbenchError, match="exceeds"):
        proportional_quota([1, 2], 4)


def select(x, scores, budget, seed=0, **params):
    n = len(scores)
    pool = pd.DataFrame({"id": [f"r{i}" for i in range(n)]})
    s = pd.DataFrame({"id": pool["id"], "score": scores})
    return SELECTORS.get("kmeans_top").fn(SelectContext(pool, s, budget, seed, params, x))


def test_kmeans_top_takes_best_per_cluster_in_proportion():
    x, truth = blobs([6, 4])
    scores = np.array([5, 1, 4, 9, 2, 3, 8, 7, 0, 6], dtype=float)
    # blob 0 = r0..r5 (scores 5,1,4,9,2,3) quota 3 → r3, r0, r2; blob 1 = r6..r9 (8,7,0,6) quota 2 → r6, r7
    out = select(x, scores, 5, clusters=2, iters=20)
    assert out == ["r3", "r6", "r7", "r0", "r2"]                        # selection order: by score
    low = select(x, scores, 5, clusters=2, iters=20, descending=False)
    assert sorted(low) == sorted(["r1", "r4", "r5", "r8", "r9"])
    assert sorted(select(x, scores, 10, clusters=2)) == sorted(f"r{i}" for i in range(10))
    # one cluster = plain top-k; ties in pool order
    tied = np.array([1, 2, 2, 0, 2, 1, 0, 0, 1, 1], dtype=float)
    assert select(x, tied, 4, clusters=1) == ["r1", "r2", "r4", "r0"]
    assert select(x, tied, 4, seed=3, clusters=3) == select(x, tied, 4, seed=3, clusters=3)


def sft_at_scale_ifd_km(labels, ifd, quota):
    """SFT@scale's IFD + K-means written plainly: `data_by_IFD.py` turns IFD > 1 into 0, then each
    cluster keeps its quota of highest scores (Python's stable sort: ties in pool order)."""
    adjusted = [0.0 if v > 1 else float(v) for v in ifd]
    keep = []
    for c in sorted(set(labels.tolist())):
        members = [i for i in range(len(ifd)) if labels[i] == c]
        members.sort(key=lambda i: adjusted[i], reverse=True)
        keep += members[: quota[c]]
    return sorted(keep)


def test_ifd_km_filter_matches_sft_at_scale_rule():
    x, _ = blobs([9, 7, 8], seed=2)
    rng = np.random.default_rng(5)
    ifd = rng.uniform(0.3, 1.4, size=len(x)).round(3)
    ifd[ifd == 1.0] = 0.999
    budget = 12
    labels, _ = kmeans(x, 3, 0, 50)
    quota = proportional_quota(np.bincount(labels, minlength=3), budget)
    got = select(x, ifd, budget, clusters=3, iters=50, max_score=1.0)
    assert sorted(int(i[1:]) for i in got) == sft_at_scale_ifd_km(labels, ifd, quota)
    flags = [bool(ifd[int(i[1:])] >= 1) for i in got]
    assert flags == sorted(flags)                                            # filtered rows come last
    assert select(x, ifd, budget, clusters=3, iters=50) != got              # without the filter: differs


def test_ifd_km_demote_equal_false_keeps_ifd_exactly_one_as_the_reference():
    """data_by_IFD.py sets IFD > 1 to 0: IFD == 1.0 keeps its value (demote_equal: false)."""
    x, _ = blobs([9, 7, 8], seed=2)
    rng = np.random.default_rng(5)
    ifd = rng.uniform(0.3, 1.4, size=len(x)).round(3)
    ifd[[0, 9, 17]] = 1.0                                                   # exactly 1 in every blob
    budget = 12
    labels, _ = kmeans(x, 3, 0, 50)
    quota = proportional_quota(np.bincount(labels, minlength=3), budget)
    ref = select(x, ifd, budget, clusters=3, iters=50, max_score=1.0, demote_equal=False)
    assert sorted(int(i[1:]) for i in ref) == sft_at_scale_ifd_km(labels, ifd, quota)
    assert {0, 9, 17} <= {int(i[1:]) for i in ref}                           # 1.0 is the best kept score
    paper = select(x, ifd, budget, clusters=3, iters=50, max_score=1.0)
    assert paper != ref                                                     # ≥ 1 demotes them too
    assert [bool(ifd[int(i[1:])] >= 1) for i in paper] == sorted(bool(ifd[int(i[1:])] >= 1) for i in paper)


def test_kmeans_is_scikit_learns_with_the_references_settings_reachable():
    """SFT@scale clusters with `KMeans(n_clusters, random_state=0)`: kmeans_seed: 0 gives its labels."""
    from sklearn.cluster import KMeans

    x, _ = blobs([40, 25, 35], seed=3)
    ref = KMeans(n_clusters=3, random_state=0).fit(x.astype(np.float32)).labels_
    labels, _ = kmeans(x, 3, seed=0)
    assert np.array_equal(labels, ref)
    scores = np.random.default_rng(0).uniform(size=len(x))
    pinned = [select(x, scores, 20, seed=s, clusters=3, kmeans_seed=0) for s in (0, 1, 2)]
    assert pinned[0] == pinned[1] == pinned[2]                 # the reference's one fixed clustering
    with pytest.raises(SelectbenchError, match="engine must be one of sklearn, faiss"):
        select(x, scores, 20, clusters=3, engine="torch")


def test_kmeans_faiss_engine_agrees_on_clear_blobs_or_names_the_install():
    x, truth = blobs([30, 20, 10])
    try:
        import faiss  # noqa: F401
    except ImportError:
        with pytest.raises(SelectbenchError, match="pip install faiss-cpu"):
            kmeans(x, 3, 0, engine="faiss")
        return
    for seed in range(5):                         # faiss seeds randomly: n_init runs, lowest inertia kept
        labels, _ = kmeans(x, 3, seed, engine="faiss", n_init=8)
        assert same_partition(labels, truth)
