"""`kmeans_top`: the "km" variants of SFT@scale (Xia et al. 2024) — any score, made diverse.

1. Euclidean k-means on the method's embeddings (`kmeans`: seeded k-means++
   initialisation, then Lloyd iterations until the assignment no longer changes).
2. Cluster c of size n_c gets the quota round(budget · n_c / n) by largest
   remainder (exact integers; remainder ties → lower cluster index), so the quotas
   sum to the budget exactly; a cluster that cannot fill its quota passes the rest
   to the clusters with room (by the same rule).
3. Within each cluster, the quota highest-scoring examples (`descending: false`:
   lowest) — ties in pool order. Selection order: by score, ties in pool order.

`max_score` (default null = off): rows with score ≥ max_score are demoted below
every other row before ranking (they keep their cluster membership; within a
cluster they come last, in pool order). `demote_equal: false` demotes only rows
with score > max_score. With IFD this is SFT@scale's rule for its "IFD + K-means"
runs: `data_by_IFD.py` sets IFD > 1 to 0 (i.e. last) and keeps IFD exactly 1.0,
so `config/papers/sft_at_scale.yaml` sets `max_score: 1.0, demote_equal: false`.
The default (`demote_equal: true`) is the Cherry paper's IFD ≥ 1 filter, the same
as `ifd_top`.

`kmeans(x, k, seed, iters)` is public: labels [n] int64 and centroids [k, d] float64.
Distances are computed chunk by chunk (‖x‖² − 2x·c + ‖c‖²): memory O(chunk · k).
"""

from __future__ import annotations

import numpy as np

from ..errors import SelectbenchError
from .base import SelectContext, selector

CHUNK_ROWS = 16384


def _sq_norms(x: np.ndarray) -> np.ndarray:
    out = np.empty(len(x), dtype=np.float64)
    for s in range(0, len(x), CHUNK_ROWS):
        b = x[s:s + CHUNK_ROWS].astype(np.float64)
        out[s:s + CHUNK_ROWS] = np.einsum("ij,ij->i", b, b)
    return out


def _sq_dist_to(x: np.ndarray, x_sq: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of every row of x to one point c (matrix-vector product)."""
    d = x_sq - 2.0 * (x @ c.astype(x.dtype)).astype(np.float64) + float(c @ c)
    return np.maximum(d, 0.0)


def assign(x: np.ndarray, x_sq: np.ndarray, centroids: np.ndarray):
    """Nearest centroid (ties → lower index) and its squared distance, chunk by chunk."""
    c = centroids.astype(np.float64)
    c_sq = np.einsum("ij,ij->i", c, c)
    c32 = c.astype(x.dtype)
    labels = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float64)
    for s in range(0, len(x), CHUNK_ROWS):
        block = x[s:s + CHUNK_ROWS]
        d = x_sq[s:s + CHUNK_ROWS, None] - 2.0 * (block @ c32.T).astype(np.float64) + c_sq[None, :]
        lab = d.argmin(axis=1)
        labels[s:s + CHUNK_ROWS] = lab
        dist[s:s + CHUNK_ROWS] = np.maximum(d[np.arange(len(lab)), lab], 0.0)
    return labels, dist


def kmeans_pp_init(x: np.ndarray, x_sq: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ (Arthur & Vassilvitskii 2007): each next centre ∝ squared distance to the nearest chosen one."""
    n = len(x)
    idx = [int(rng.integers(n))]
    d2 = _sq_dist_to(x, x_sq, x[idx[0]])
    for _ in range(1, k):
        total = d2.sum()
        if total > 0:
            cdf = np.cumsum(d2)
            nxt = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
            nxt = min(nxt, n - 1)
        else:                              # every point coincides with a centre: any unused row
            unused = np.setdiff1d(np.arange(n), idx)
            nxt = int(unused[rng.integers(len(unused))])
        idx.append(nxt)
        d2 = np.minimum(d2, _sq_dist_to(x, x_sq, x[nxt]))
    return x[idx].astype(np.float64)


def _update(x: np.ndarray, labels: np.ndarray, dist: np.ndarray, k: int) -> np.ndarray:
    """Cluster means (float64); an empty cluster moves to the farthest not-yet-used point."""
    from scipy.sparse import csr_matrix

    d = x.shape[1]
    sums = np.zeros((k, d), dtype=np.float64)
    for s in range(0, len(x), CHUNK_ROWS):
        lab = labels[s:s + CHUNK_ROWS]
        m = csr_matrix((np.ones(len(lab)), (lab, np.arange(len(lab)))), shape=(k, len(lab)))
        sums += m @ x[s:s + CHUNK_ROWS].astype(np.float64)
    counts = np.bincount(labels, minlength=k)
    cent = sums / np.maximum(counts, 1)[:, None]
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        far = np.argsort(-dist, kind="stable")[: len(empty)]
        cent[empty] = x[far].astype(np.float64)
    return cent


def kmeans(x: np.ndarray, k: int, seed: int, iters: int = 300):
    """Euclidean k-means: seeded k-means++ init, Lloyd until the labels stop changing (≤ iters).

    Deterministic for a seed. Returns (labels [n] int64, centroids [k, d] float64).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    if not 1 <= k <= n:
        raise SelectbenchError(f"kmeans: need 1 <= k <= n rows (k={k}, n={n})")
    if not np.isfinite(x).all():
        raise SelectbenchError("kmeans: embeddings contain NaN or inf")
    rng = np.random.default_rng(seed)
    x_sq = _sq_norms(x)
    cent = kmeans_pp_init(x, x_sq, k, rng)
    labels, dist = assign(x, x_sq, cent)
    for _ in range(int(iters)):
        cent = _update(x, labels, dist, k)
        new, dist = assign(x, x_sq, cent)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels, cent


def proportional_quota(sizes, budget: int) -> np.ndarray:
    """budget · size / Σsize per cluster, largest remainder, capped at the size (exact integers)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if budget > sizes.sum():
        raise SelectbenchError(f"kmeans_top: budget {budget} exceeds the pool ({int(sizes.sum())} rows)")
    quota = np.zeros(len(sizes), dtype=np.int64)
    left = int(budget)
    while left > 0:
        room = sizes - quota
        open_ = room > 0
        total = int(sizes[open_].sum())
        share = np.where(open_, left * sizes // max(total, 1), 0)
        rem = np.where(open_, left * sizes % max(total, 1), -1)
        share = np.minimum(share, room)
        extra = left - int(share.sum())
        order = np.lexsort((np.arange(len(sizes)), -rem))   # largest remainder, then lower index
        for c in order:
            if extra == 0:
                break
            if open_[c] and share[c] < room[c]:
                share[c] += 1
                extra -= 1
        quota += share
        left -= int(share.sum())
    return quota


@selector("kmeans_top", needs_scores=True, needs_embeddings=True,
          params={"clusters": 100, "iters": 300, "descending": True, "max_score": None,
                  "demote_equal": True})
def kmeans_top(ctx: SelectContext) -> list[str]:
    """Best-scoring examples within each k-means cluster, in proportion to cluster size."""
    p = ctx.params
    scores = ctx.scores["score"].to_numpy(dtype=float)
    x = ctx.embeddings
    if x is None or len(x) != len(scores):
        raise SelectbenchError("kmeans_top: needs one embedding per pool row")
    k = min(int(p.get("clusters", 100)), len(x))
    labels, _ = kmeans(x, k, ctx.seed, int(p.get("iters", 300)))
    quota = proportional_quota(np.bincount(labels, minlength=k), ctx.budget)
    key = -scores if p.get("descending", True) else scores
    if p.get("max_score") is not None:                      # demoted rows rank after all others
        cut = float(p["max_score"])
        demoted = scores >= cut if p.get("demote_equal", True) else scores > cut
        key = np.where(demoted, np.inf, key)
    order = np.argsort(key, kind="stable")                  # best first, ties in pool order
    grouped = order[np.argsort(labels[order], kind="stable")]  # by cluster, best first within each
    sizes = np.bincount(labels, minlength=k)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.arange(len(grouped)) - starts[labels[grouped]]  # 0-based rank within the cluster
    taken = np.zeros(len(x), dtype=bool)
    taken[grouped[rank < quota[labels[grouped]]]] = True
    chosen = order[taken[order]]                            # selection order: by score
    return ctx.scores["id"].iloc[chosen].astype(str).tolist()
