"""`perplexity`: mean NLL of the response given the prompt under the scorer model.

score = (1/|R|) Σ_{t∈R} −log p(x_t | x_<t), R = assistant-turn tokens (incl. EOS),
i.e. the log of the response perplexity. Unlike the SFT@scale reference code, the
loss uses the causal shift (logits at t predict t+1); see docs/methods/perplexity.md.

The pool is read, tokenized and scored in chunks (memory: one chunk plus a few
numbers per row); within a chunk, batches are length-sorted and hold at most
`batch_size` rows and `batch_tokens` padded tokens; the vocabulary projection
runs only at response positions (`lm.response_nll`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ScoreError
from ..formatting import encode_chunk
from .base import PoolFile, ScoreContext, pool_chunks, pool_id_series, scorer
from .lm import BLOCK as LM_BLOCK
from .lm import forward_cost, response_nll


@scorer("perplexity", needs_model=True, streams=True, shard_align=LM_BLOCK,
        params={"batch_size": 16, "batch_tokens": 16384, "max_length": 2048, "precision": "auto"})
def perplexity_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """Mean response NLL per example (higher = harder for the model)."""
    from ..modeling import load_causal_lm, load_tokenizer, resolve_dtype

    p = ctx.params
    tok = load_tokenizer(ctx.model)
    model = load_causal_lm(ctx.model, ctx.device, resolve_dtype(p["precision"], ctx.device))
    nll_parts, n_parts, tokens = [], [], 0
    for chunk in pool_chunks(pool, ("id", "messages")):
        enc = encode_chunk(tok, chunk["messages"], p["max_length"])
        empty = np.flatnonzero(enc.n_response == 0)
        if empty.size:
            raise ScoreError(f"id '{chunk['id'][empty[0]]}': no response token within max_length={p['max_length']} "
                             "(raise scoring.perplexity.max_length)")
        nll, n = response_nll(model, enc, tok.pad_token_id, int(p["batch_size"]), ctx.device,
                              batch_tokens=p.get("batch_tokens"))
        nll_parts.append(nll)
        n_parts.append(n)
        tokens += int(enc.offsets[-1])
    nll = np.concatenate(nll_parts) if nll_parts else np.zeros(0)
    n = np.concatenate(n_parts) if n_parts else np.zeros(0, np.int64)
    out = pd.DataFrame({
        "id": pool_id_series(pool),
        "score": nll / n,
        "nll_sum": nll,
        "response_tokens": n,
        "perplexity": np.exp(nll / n),
    })
    out.attrs["cost"] = forward_cost(model, tokens)
    return out
