"""`random`: a seeded uniform score per example (random + top-k = random selection)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import PoolFile, ScoreContext, pool_id_series, scorer


@scorer("random", needs_model=False, params={"seed": 0}, streams=True)
def random_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """Uniform [0, 1) scores from numpy's PCG64 seeded with `seed`, in pool order.

    The i-th pool row gets the i-th draw, also when a shard starting at row `ctx.row_offset`
    is scored alone (the generator skips ahead: one 64-bit draw per double). Only the id column
    is read (a PoolFile's ids stay Arrow until the output table).
    """
    rng = np.random.default_rng(int(ctx.params["seed"]))
    if ctx.row_offset:
        rng.bit_generator.advance(ctx.row_offset)
    ids = pool_id_series(pool)
    return pd.DataFrame({"id": ids, "score": rng.random(len(ids))})
