"""`embed`: the sentence-embedding baseline of the RDS+ paper ("Embed (GTR)").

A sentence-transformers model embeds the rendered conversation (prompt + response,
Tulu format without EOS, as the RDS+ reference code does) of every pool example and
every query; embeddings are L2-normalized, and the score is the same
cosine-to-query rule as `rds`: sim_task(x) = max_{q ∈ task} cos(x, q),
score(x) = max_task sim_task(x). See docs/methods/embed.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..formatting import render
from .base import PoolFile, ScoreContext, pool_chunks, pool_id_series, scorer
from .queries import QuerySimilarity, check_embeddings, queries_from_params


def embed_text(messages) -> str:
    """The text a sentence encoder sees: the whole rendered conversation, no EOS."""
    return render(messages, eos_token="").text.strip()


def load_sentence_model(ref, device: str, precision: str):
    import torch
    from sentence_transformers import SentenceTransformer

    from ..modeling import resolve_dtype

    model = SentenceTransformer(ref.name_or_path, device=device, revision=ref.revision)
    dtype = resolve_dtype(precision, device)
    if dtype != torch.float32:
        model = model.to(dtype)
    return model.eval()


def encode_texts(model, texts: list[str], batch_size: int, prompt: str | None = None):
    """Unit-norm float32 [n, d] (sentence-transformers sorts by length into batches itself)."""
    import numpy as np

    emb = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_tensor=True,
                       show_progress_bar=False, prompt=prompt or None)
    return np.ascontiguousarray(emb.float().cpu().numpy(), dtype=np.float32)


# sentence-transformers sorts each encode() call by length and pads per batch, so a row's bits
# depend on its batch mates: the pool is encoded in fixed blocks of rows; shards that start at
# multiples of the block encode the same blocks as an unsharded pass (identical merged scores)
BLOCK = 256
CHUNK = 4 * BLOCK     # rows read from the pool at a time (a multiple of BLOCK)


@scorer("embed", needs_model=True, embeds=True, shard_align=BLOCK, streams=True,
        params={"queries_file": None, "batch_size": 64, "max_length": None, "precision": "auto",
                "query_prefix": ""})
def embed_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """Max cosine similarity to each task's queries under a sentence-transformers encoder.

    The pool is read in chunks of 1,024 rows (four encode blocks of BLOCK rows each, so the
    embeddings equal a whole-pool pass bit for bit); what grows with the pool is one float32
    similarity per query and row, and, when `ctx.embeddings` (a method or a built model reads
    them), the [rows, d] float32 embedding array (the `embedding` column).
    """
    p = ctx.params
    queries = queries_from_params(p, "embed")
    model = load_sentence_model(ctx.model, ctx.device, p["precision"])
    if p["max_length"] is not None:
        model.max_seq_length = int(p["max_length"])
    ids = pool_id_series(pool)
    bs = int(p["batch_size"])
    q_texts = [embed_text(m) for _, m in queries]
    q_emb = encode_texts(model, q_texts, bs, prompt=p["query_prefix"])
    sim = QuerySimilarity(q_emb, [t for t, _ in queries])
    tokens = _tokens(model, q_texts)
    emb = np.empty((len(ids), q_emb.shape[1]), dtype=np.float32) if ctx.embeddings else None
    pos = 0
    for chunk in pool_chunks(pool, ("id", "messages"), CHUNK):
        texts = [embed_text(m) for m in chunk["messages"]]
        part = np.concatenate([encode_texts(model, texts[i:i + BLOCK], bs) for i in range(0, len(texts), BLOCK)])
        check_embeddings(part, chunk["id"], "sentence embedding")
        sim.add(part)
        if emb is not None:
            emb[pos:pos + len(part)] = part
        pos += len(part)
        tokens += _tokens(model, texts)
    out = sim.table(ids, emb)
    n_params = sum(t.numel() for t in model.parameters())
    out.attrs["cost"] = {"tokens": tokens, "params": n_params, "flops_estimate": 2 * n_params * tokens}
    return out


def _tokens(model, texts) -> int:
    """Tokens the encoder reads (after its truncation): the cost's unit."""
    enc = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)
    return int(sum(len(x) for x in enc["input_ids"]))
