"""`top_k` / `bottom_k`: the budget highest (lowest) scores.

Ties keep pool order (`ties: pool`, default), or — `ties: shuffle` — the order of a
seeded shuffle of the pool (numpy PCG64 permutation seeded by the run's seed, the
permutation `datasets.Dataset.shuffle(seed=...)` makes), followed by a stable sort:
"Chasing Random"'s Longest baseline (shuffle, then sort by response length).
"""

from __future__ import annotations

import numpy as np

from ..errors import SelectbenchError
from .base import SelectContext, selector


def ranked(ctx: SelectContext, descending: bool) -> list[str]:
    scores = ctx.scores["score"].to_numpy(dtype=float)
    ties = ctx.params.get("ties", "pool")
    if ties not in ("pool", "shuffle"):
        raise SelectbenchError(f"top_k/bottom_k: ties must be 'pool' or 'shuffle' (got {ties!r})")
    perm = (np.random.default_rng(ctx.seed).permutation(len(scores)) if ties == "shuffle"
            else np.arange(len(scores)))
    key = scores[perm]
    order = perm[np.argsort(-key if descending else key, kind="stable")]
    return ctx.scores["id"].iloc[order[: ctx.budget]].astype(str).tolist()


@selector("top_k", needs_scores=True, params={"ties": "pool"})
def top_k(ctx: SelectContext) -> list[str]:
    """The `budget` examples with the highest score (ties in pool order, or `ties: shuffle`)."""
    return ranked(ctx, descending=True)


@selector("bottom_k", needs_scores=True, params={"ties": "pool"})
def bottom_k(ctx: SelectContext) -> list[str]:
    """The `budget` examples with the lowest score (ties in pool order, or `ties: shuffle`)."""
    return ranked(ctx, descending=False)
