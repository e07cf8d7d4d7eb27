"""`rds`: RDS+ (Ivison et al. 2025) — cosine similarity of position-weighted mean-pooled
last-layer hidden states between each pool example and a query set.

For a conversation rendered as in training (`formatting.encode`: prompt + response,
BOS, EOS after assistant turns) with last-layer hidden states h_1..h_L of its L real
tokens::

    e = Σ_t w_t h_t,  w_t = t / Σ_{s=1..L} s          (SGPT weighted mean; t is 1-based)
    ê = e / ‖e‖
    sim_task(x) = max_{q ∈ task} ⟨ê_x, ê_q⟩,   score(x) = max_task sim_task(x)

Padding never enters the pool: weights are zero on padded positions, so a padded
batch gives the embeddings of one-at-a-time passes (the reference code's pooling
ignores the mask and is exact only at batch size 1). See docs/methods/rds.md.

`pooling: last_token` takes the last real token's last-layer hidden state instead:
DEITA's embedder (`clm_embedder.py`), for `deita_filter`'s embedding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..formatting import Encoded, encode_many
from .lm import BLOCK as LM_BLOCK
from .base import PoolFile, ScoreContext, pool_chunks, pool_id_series, scorer
from .lm import forward_cost, length_buckets, pad_batch
from .queries import QuerySimilarity, check_embeddings, queries_from_params


def weighted_mean_pool(hidden, attention_mask):
    """Position-weighted mean over real tokens: weights ∝ position+1 (0-based), zero on padding.

    `hidden` [B, L, d] (any float dtype), `attention_mask` [B, L] with right padding.
    Returns float32 [B, d] (not normalized).
    """
    import torch

    mask = attention_mask.to(torch.float32)
    pos = torch.arange(1, mask.shape[1] + 1, device=mask.device, dtype=torch.float32)
    w = mask * pos                                   # (position+1) on real tokens, 0 on pads
    w = w / w.sum(dim=1, keepdim=True)
    return torch.einsum("bld,bl->bd", hidden.to(torch.float32), w)


POOLINGS = ("weighted_mean", "last_token")


def last_token_pool(hidden, attention_mask):
    """The last real token's hidden state (right padding): float32 [B, d]."""
    import torch

    last = attention_mask.to(torch.long).sum(dim=1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last].to(torch.float32)


def rds_embeddings(model, encoded: list[Encoded], pad_id: int, batch_size: int, device: str,
                   pooling: str = "weighted_mean") -> np.ndarray:
    """L2-normalized RDS+ embeddings [n, d] float32, in input order (length-bucketed batches)."""
    if pooling not in POOLINGS:
        from ..errors import ScoreError
        raise ScoreError(f"rds: pooling must be one of {', '.join(POOLINGS)} (got {pooling!r})")
    pool_fn = weighted_mean_pool if pooling == "weighted_mean" else last_token_pool
    import torch
    import torch.nn.functional as F

    base = model.base_model            # the decoder stack: last_hidden_state without the LM head

    def last_hidden(ids, attn):
        if base is model:               # no separate decoder module: ask the LM for its hidden states
            return model(input_ids=ids, attention_mask=attn, output_hidden_states=True).hidden_states[-1]
        return base(input_ids=ids, attention_mask=attn).last_hidden_state

    out = None
    with torch.inference_mode():
        for idx in length_buckets([len(e.input_ids) for e in encoded], batch_size):
            ids, attn, _ = pad_batch([encoded[i] for i in idx], pad_id)
            ids, attn = ids.to(device), attn.to(device)
            hidden = last_hidden(ids, attn)
            emb = F.normalize(pool_fn(hidden, attn), p=2, dim=-1)
            emb = emb.cpu().numpy()
            if out is None:
                out = np.empty((len(encoded), emb.shape[1]), dtype=np.float32)
            out[idx] = emb
    return out


@scorer("rds", needs_model=True, shard_align=LM_BLOCK, embeds=True, streams=True,
        params={"queries_file": None, "batch_size": 16, "max_length": 2048, "precision": "auto",
                "pooling": "weighted_mean"})
def rds_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """RDS+: max cosine similarity to each task's queries (weighted-mean last hidden states).

    The pool is read and tokenized in chunks of `lm.BLOCK` rows (the length buckets never cross
    such a block, so the embeddings equal a whole-pool pass bit for bit); what grows with the
    pool is one float32 similarity per query and row, and, when `ctx.embeddings` (a method or a
    built model reads them), the [rows, d] float32 embedding array (the `embedding` column).
    """
    from ..modeling import load_causal_lm, load_tokenizer, resolve_dtype

    p = ctx.params
    queries = queries_from_params(p, "rds")
    tok = load_tokenizer(ctx.model)
    model = load_causal_lm(ctx.model, ctx.device, resolve_dtype(p["precision"], ctx.device))
    ids = pool_id_series(pool)
    bs = int(p["batch_size"])
    enc_q = encode_many(tok, [m for _, m in queries], p["max_length"])
    pooling = p.get("pooling", "weighted_mean")
    q_emb = rds_embeddings(model, enc_q, tok.pad_token_id, bs, ctx.device, pooling)
    sim = QuerySimilarity(q_emb, [t for t, _ in queries])
    tokens = sum(len(e.input_ids) for e in enc_q)
    emb = np.empty((len(ids), q_emb.shape[1]), dtype=np.float32) if ctx.embeddings else None
    pos = 0
    for chunk in pool_chunks(pool, ("id", "messages"), LM_BLOCK):
        enc = encode_many(tok, chunk["messages"], p["max_length"])
        part = rds_embeddings(model, enc, tok.pad_token_id, bs, ctx.device, pooling)
        check_embeddings(part, chunk["id"], "RDS+ embedding")
        sim.add(part)
        if emb is not None:
            emb[pos:pos + len(part)] = part
        pos += len(part)
        tokens += sum(len(e.input_ids) for e in enc)
    out = sim.table(ids, emb)
    out.attrs["cost"] = forward_cost(model, tokens)     # pool + query tokens
    return out
