"""`perplexity`: mean NLL of the response given the prompt under the scorer model.

score = (1/|R|) Σ_{t∈R} −log p(x_t | x_<t), R = assistant-turn tokens (incl. EOS),
i.e. the log of the response perplexity. Unlike the SFT@scale reference code, the
loss uses the causal shift (logits at t predict t+1); see docs/methods/perplexity.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ScoreError
from ..formatting import encode_many
from .lm import BLOCK as LM_BLOCK
from .base import ScoreContext, scorer
from .lm import forward_cost, response_nll


@scorer("perplexity", needs_model=True, shard_align=LM_BLOCK, params={"batch_size": 16, "max_length": 2048, "precision": "auto"})
def perplexity_score(pool: pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """Mean response NLL per example (higher = harder for the model)."""
    from ..modeling import load_causal_lm, load_tokenizer, resolve_dtype

    p = ctx.params
    tok = load_tokenizer(ctx.model)
    model = load_causal_lm(ctx.model, ctx.device, resolve_dtype(p["precision"], ctx.device))
    enc = encode_many(tok, list(pool["messages"]), p["max_length"])
    for e, i in zip(enc, pool["id"]):
        if e.n_response == 0:
            raise ScoreError(f"id '{i}': no response token within max_length={p['max_length']} "
                             "(raise scoring.perplexity.max_length)")
    nll, n = response_nll(model, enc, tok.pad_token_id, int(p["batch_size"]), ctx.device)
    out = pd.DataFrame({
        "id": pool["id"].astype(str),
        "score": nll / n,
        "nll_sum": nll,
        "response_tokens": n,
        "perplexity": np.exp(nll / n),
    })
    out.attrs["cost"] = forward_cost(model, enc)
    return out
