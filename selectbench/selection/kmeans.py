"""`kmeans_top`: the "km" variants of SFT@scale (Xia et al. 2024) — any score, made diverse.

1. Euclidean k-means on the method's embeddings (`kmeans`: scikit-learn's `KMeans`, as
   SFT@scale's reference, or faiss for large pools: `engine: sklearn | faiss`; the k-means seed
   is the selection seed unless `kmeans_seed` fixes it, e.g. 0 as the reference's `random_state`).
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

`kmeans(x, k, seed, iters, engine, n_init)` is public: labels [n] int64 and centroids [k, d]
float64. scikit-learn holds about three times the float32 embeddings during a fit (docs/methods/km.md).
"""

from __future__ import annotations

import numpy as np

from ..errors import SelectbenchError
from .base import SelectContext, selector

ENGINES = ("sklearn", "faiss")


def kmeans(x: np.ndarray, k: int, seed: int, iters: int = 300, engine: str = "sklearn", n_init: int = 1):
    """Euclidean k-means from a library. Returns (labels [n] int64, centroids [k, d] float64).

    `sklearn` (default): scikit-learn's `KMeans` (k-means++ init, Lloyd, its default tolerance),
    `random_state=seed`, `max_iter=iters`: SFT@scale's `KMeans(n_clusters, random_state=0)` is
    `seed=0`. `faiss` (optional, `pip install faiss-cpu`): `faiss.Kmeans` with `seed`, `niter=iters`,
    the usual engine for millions of high-dimensional rows; labels come from its index search.
    `n_init` runs, the one of lowest inertia kept (sklearn's `n_init`, faiss's `nredo`): faiss seeds
    with a random sample, not k-means++, so on small or unbalanced data it needs several.
    Deterministic for a seed, an engine and a thread count.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    if not 1 <= k <= n:
        raise SelectbenchError(f"kmeans: need 1 <= k <= n rows (k={k}, n={n})")
    if not np.isfinite(x).all():
        raise SelectbenchError("kmeans: embeddings contain NaN or inf")
    if int(iters) < 1 or int(n_init) < 1:
        raise SelectbenchError(f"kmeans: iters and n_init must be >= 1 (got {iters}, {n_init})")
    if engine == "sklearn":
        import warnings

        from sklearn.cluster import KMeans
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():        # fewer distinct points than k: sklearn warns, result is valid
            warnings.simplefilter("ignore", ConvergenceWarning)
            # copy_x stays True: in place, sklearn's centre-and-restore changes the caller's last bits
            km = KMeans(n_clusters=int(k), random_state=int(seed), max_iter=int(iters),
                        n_init=int(n_init)).fit(x)
        return km.labels_.astype(np.int64), km.cluster_centers_.astype(np.float64)
    if engine == "faiss":
        try:
            import faiss
        except ImportError:
            raise SelectbenchError("kmeans: engine 'faiss' needs the faiss package "
                                   "(pip install faiss-cpu, or faiss-gpu on a GPU node)") from None
        km = faiss.Kmeans(x.shape[1], int(k), niter=int(iters), seed=int(seed), nredo=int(n_init), verbose=False)
        km.train(x)
        _, lab = km.index.search(x, 1)
        return lab[:, 0].astype(np.int64), np.asarray(km.centroids, dtype=np.float64)
    raise SelectbenchError(f"kmeans: engine must be one of {', '.join(ENGINES)} (got {engine!r})")


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
                  "demote_equal": True, "engine": "sklearn", "kmeans_seed": None, "n_init": 1})
def kmeans_top(ctx: SelectContext) -> list[str]:
    """Best-scoring examples within each k-means cluster, in proportion to cluster size."""
    p = ctx.params
    scores = ctx.scores["score"].to_numpy(dtype=float)
    x = ctx.embeddings
    if x is None or len(x) != len(scores):
        raise SelectbenchError("kmeans_top: needs one embedding per pool row")
    k = min(int(p.get("clusters", 100)), len(x))
    seed = ctx.seed if p.get("kmeans_seed") is None else int(p["kmeans_seed"])
    labels, _ = kmeans(x, k, seed, int(p.get("iters", 300)), p.get("engine", "sklearn"), int(p.get("n_init", 1)))
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
