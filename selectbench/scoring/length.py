"""`length`: response and total token counts with the scorer model's tokenizer.

score = number of response (assistant) tokens — "longest first" in the seed papers
(Zhao et al. 2024, "Long Is More for Alignment"; SFT@scale) ranks by response length.
The pool is read and tokenized in chunks: memory is one chunk plus 16 bytes per row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..formatting import token_counts
from .base import PoolFile, ScoreContext, pool_chunks, pool_id_series, scorer


@scorer("length", needs_model=True, params={"max_length": None}, streams=True)
def length_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """Token counts of the rendered conversation (no truncation unless max_length is set)."""
    from ..modeling import load_tokenizer

    tok = load_tokenizer(ctx.model)
    response, total = [], []
    for chunk in pool_chunks(pool, ("messages",)):
        n_total, n_response = token_counts(tok, chunk["messages"], ctx.params["max_length"])
        response.append(n_response)
        total.append(n_total)
    response = np.concatenate(response) if response else np.zeros(0, np.int64)
    return pd.DataFrame({
        "id": pool_id_series(pool),
        "score": response,
        "response_tokens": response,
        "total_tokens": np.concatenate(total) if total else np.zeros(0, np.int64),
    })


@scorer("response_chars", needs_model=False, streams=True)
def response_chars_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """Characters of the response (all assistant turns' content), the length unit of
    "Chasing Random" (Diddee & Ippolito 2024) for its Longest baseline; no model needed.
    The pool is read in chunks: memory is one chunk plus 8 bytes per row."""
    parts = [np.fromiter((sum(len(m["content"]) for m in msgs if m["role"] == "assistant")
                          for msgs in chunk["messages"]), dtype=np.int64, count=len(chunk["messages"]))
             for chunk in pool_chunks(pool, ("messages",))]
    chars = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return pd.DataFrame({"id": pool_id_series(pool), "score": chars, "response_chars": chars})
