"""`kcenter`: greedy k-center (farthest-point) selection of DiverseEvol (Wu et al. 2023).

Starting from a set S (here: `initial` examples drawn at random with the seed), repeat
until |S| = budget::

    x* = argmax_{x ∉ S} min_{s ∈ S} ‖x − s‖₂,   S ← S ∪ {x*}

(Euclidean distance on the embeddings, as in the DiverseEvol code; ties → lowest
pool index). A running min-distance vector is updated after each pick with one
matrix-vector product, so a pick costs O(n·d) time and O(n) memory; no n×n matrix is
ever formed. `greedy_kcenter` accepts an existing selected set (`initial_idx`), which
is how DiverseEvol's rounds (re-embed with the model trained on S, then extend S)
are chained. See docs/methods/kcenter.md.
"""

from __future__ import annotations

import numpy as np

from ..errors import SelectbenchError
from .base import SelectContext, selector

CHUNK_ROWS = 16384
CHUNK_ELEMS = 1 << 24        # at most ~16M distances (128 MB) in flight when seeding from a large set


def _sq_norms(x: np.ndarray) -> np.ndarray:
    """‖x_i‖² in float64, chunk by chunk."""
    out = np.empty(len(x), dtype=np.float64)
    for s in range(0, len(x), CHUNK_ROWS):
        b = x[s:s + CHUNK_ROWS].astype(np.float64)
        out[s:s + CHUNK_ROWS] = np.einsum("ij,ij->i", b, b)
    return out


def _dist_to(x, x_sq, i: int) -> np.ndarray:
    """Euclidean distance of every row to row i: ‖x‖² − 2x·x_i + ‖x_i‖² (one matvec)."""
    d2 = x_sq - 2.0 * (x @ x[i]).astype(np.float64) + x_sq[i]
    return np.sqrt(np.maximum(d2, 0.0))


def _min_dist_to_set(x, x_sq, idx: np.ndarray) -> np.ndarray:
    """min over s in idx of ‖x − x_s‖, in blocks of rows × centres (bounded memory)."""
    n = len(x)
    out = np.full(n, np.inf)
    block = max(1, CHUNK_ELEMS // max(n, 1))
    for s in range(0, len(idx), block):
        c = idx[s:s + block]
        cx, c_sq = x[c], x_sq[c]
        for r in range(0, n, CHUNK_ROWS):
            d2 = x_sq[r:r + CHUNK_ROWS, None] - 2.0 * (x[r:r + CHUNK_ROWS] @ cx.T).astype(np.float64) + c_sq[None]
            np.minimum(out[r:r + CHUNK_ROWS], np.sqrt(np.maximum(d2, 0.0)).min(axis=1),
                       out=out[r:r + CHUNK_ROWS])
    return out


def greedy_kcenter(x: np.ndarray, k: int, initial_idx=(), seed: int = 0) -> list[int]:
    """The k rows greedy k-center adds to `initial_idx`, in pick order.

    With an empty `initial_idx` the first centre is a uniformly random row (seeded), and
    it counts among the k. Rows of `initial_idx` are never returned.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    init = np.unique(np.asarray(list(initial_idx), dtype=np.int64))
    if len(init) and (init.min() < 0 or init.max() >= n):
        raise SelectbenchError(f"greedy_kcenter: initial index out of range [0, {n})")
    if k < 0 or k > n - len(init):
        raise SelectbenchError(f"greedy_kcenter: cannot add {k} centres to {len(init)} of {n} rows")
    if not np.isfinite(x).all():
        raise SelectbenchError("greedy_kcenter: embeddings contain NaN or inf")
    if k == 0:
        return []
    x_sq = _sq_norms(x)
    picks: list[int] = []
    if len(init):
        mind = _min_dist_to_set(x, x_sq, init)
        mind[init] = -np.inf
    else:
        first = int(np.random.default_rng(seed).integers(n))
        picks.append(first)
        mind = _dist_to(x, x_sq, first)
        mind[first] = -np.inf
    while len(picks) < k:
        p = int(np.argmax(mind))              # farthest from the set; ties → lowest index
        picks.append(p)
        np.minimum(mind, _dist_to(x, x_sq, p), out=mind)
        mind[p] = -np.inf
    return picks


@selector("kcenter", needs_scores=False, needs_embeddings=True, params={"initial": 1})
def kcenter(ctx: SelectContext) -> list[str]:
    """`initial` random examples (seeded), then greedy farthest-point picks up to the budget."""
    x = ctx.embeddings
    n = len(ctx.pool)
    if x is None or len(x) != n:
        raise SelectbenchError("kcenter: needs one embedding per pool row")
    if ctx.budget > n:
        raise SelectbenchError(f"kcenter: budget {ctx.budget} exceeds the pool ({n} rows)")
    m = int(ctx.params.get("initial", 1))
    if m < 0:
        raise SelectbenchError(f"kcenter: initial must be >= 0 (got {m})")
    m = min(m, ctx.budget)
    init = np.random.default_rng(ctx.seed).permutation(n)[:m].tolist()
    picks = greedy_kcenter(x, ctx.budget - m, init, ctx.seed)
    return ctx.pool["id"].iloc[init + picks].astype(str).tolist()
