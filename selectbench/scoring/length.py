"""`length`: response and total token counts with the scorer model's tokenizer.

score = number of response (assistant) tokens — "longest first" in the seed papers
(Zhao et al. 2024, "Long Is More for Alignment"; SFT@scale) ranks by response length.
"""

from __future__ import annotations

import pandas as pd

from ..formatting import encode_many
from .base import ScoreContext, scorer


@scorer("length", needs_model=True, params={"max_length": None})
def length_score(pool: pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """Token counts of the rendered conversation (no truncation unless max_length is set)."""
    from ..modeling import load_tokenizer

    tok = load_tokenizer(ctx.model)
    enc = encode_many(tok, list(pool["messages"]), ctx.params["max_length"])
    response = [e.n_response for e in enc]
    return pd.DataFrame({
        "id": pool["id"].astype(str),
        "score": response,
        "response_tokens": response,
        "total_tokens": [len(e.input_ids) for e in enc],
    })


@scorer("response_chars", needs_model=False)
def response_chars_score(pool: pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """Characters of the response (all assistant turns' content), the length unit of
    "Chasing Random" (Diddee & Ippolito 2024) for its Longest baseline; no model needed."""
    import numpy as np

    chars = np.fromiter((sum(len(m["content"]) for m in msgs if m["role"] == "assistant")
                         for msgs in pool["messages"]), dtype=np.int64, count=len(pool))
    return pd.DataFrame({"id": pool["id"].astype(str), "score": chars, "response_chars": chars})
