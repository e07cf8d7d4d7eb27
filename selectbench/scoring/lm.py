"""Batched, padding-aware, length-sorted language-model passes.

`response_nll` returns, per example, the summed negative log-likelihood of the
loss tokens (assistant turns, `formatting.encode`) and their count. Logits at
position t predict token t+1 (the causal shift); prompt and padding tokens are
masked. Examples are sorted by length and packed into batches under a token
budget (`batch_tokens`: padded width × rows) and a row cap (`batch_size`), so
each batch pads little (results come back in input order).

The LM head runs only where the loss is: the decoder's hidden states are
sliced to the response positions before the vocabulary projection, so the
logits held are (response tokens × vocabulary), not (all tokens × vocabulary),
and only those are upcast to float32. Models whose head does more than a linear
projection (logit soft-capping or scaling) take the full-logits path.
"""

from __future__ import annotations

import numpy as np

from ..formatting import Encoded, EncodedChunk


# Items are bucketed within consecutive blocks of BLOCK items, never across them: a batch's
# padding (and so the exact float result of every row in it) then depends only on the rows of
# its block, and a pool shard starting at a multiple of BLOCK rows reproduces the unsharded
# pass bit for bit (scorers using these batches declare shard_align=BLOCK).
BLOCK = 1024


def length_buckets(lengths, batch_size: int, block: int = BLOCK) -> list[np.ndarray]:
    """Index batches of similar length (longest first, so OOM shows up at once) within each block."""
    lengths = np.asarray(lengths)
    out = []
    for b0 in range(0, len(lengths), block):
        order = b0 + np.argsort(-lengths[b0:b0 + block], kind="stable")
        out += [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return out


def token_budget_batches(lengths, batch_size: int, batch_tokens: int | None, block: int = BLOCK) -> list[np.ndarray]:
    """Length-sorted batches (longest first) of at most `batch_size` rows and, when
    `batch_tokens` is set, at most `batch_tokens` padded tokens (rows × longest row);
    a row longer than the budget is a batch of its own. Rows are batched within consecutive
    blocks of `block` rows, never across them (see BLOCK)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if not batch_tokens:
        return length_buckets(lengths, batch_size, block)
    batches = []
    for b0 in range(0, len(lengths), block):          # within blocks, as length_buckets (shard-safe)
        order = b0 + np.argsort(-lengths[b0:b0 + block], kind="stable")
        start = 0
        while start < len(order):
            width = max(int(lengths[order[start]]), 1)   # the longest row of the batch comes first
            rows = max(1, min(batch_size, batch_tokens // width))
            batches.append(order[start:start + rows])
            start += rows
    return batches


def pad_batch(encoded: list[Encoded], pad_id: int):
    import torch

    width = max(len(e.input_ids) for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(encoded), width), dtype=torch.long)
    loss = torch.zeros((len(encoded), width), dtype=torch.bool)
    for i, e in enumerate(encoded):
        n = len(e.input_ids)
        ids[i, :n] = torch.as_tensor(e.input_ids)
        attn[i, :n] = 1
        loss[i, :n] = torch.as_tensor(e.loss_mask, dtype=torch.bool)
    return ids, attn, loss


def pad_chunk(chunk: EncodedChunk, idx: np.ndarray, pad_id: int):
    """Rows `idx` of a chunk as padded (ids, attention, loss) tensors, filled with NumPy."""
    import torch

    lengths = chunk.lengths[idx]
    width = int(lengths.max())
    ids = np.full((len(idx), width), pad_id, dtype=np.int64)
    loss = np.zeros((len(idx), width), dtype=bool)
    cols = np.arange(width)
    attn = cols[None, :] < lengths[:, None]
    src = (chunk.offsets[idx][:, None] + cols[None, :])[attn]
    ids[attn] = chunk.ids[src]
    loss[attn] = chunk.mask[src]
    return torch.from_numpy(ids), torch.from_numpy(attn.astype(np.int64)), torch.from_numpy(loss)


def sliced_head(model):
    """(decoder, lm_head) when the head is a plain projection of the last hidden state, else None."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "logit_scale", None):
        return None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    decoder = getattr(model, "base_model", None)
    if head is None or decoder is None or decoder is model:
        return None
    if type(model).__name__.startswith("Peft"):
        return None
    return decoder, head


def loss_positions(attn, loss):
    """(row, column) index tensors of the shifted loss positions, computed where the tensors live
    (call it on the host batch: on a GPU, boolean indexing would sync with the host)."""
    mask = loss[:, 1:] & attn[:, 1:].bool()
    return mask.nonzero(as_tuple=True)


def _batch_nll(model, parts, ids, attn, loss, where=None):
    """(sum of NLL, count) per row of one padded batch; `parts` from `sliced_head`;
    `where`: `loss_positions` of the batch, already on the device (else computed here)."""
    import torch
    import torch.nn.functional as F

    target, mask = ids[:, 1:], loss[:, 1:] & attn[:, 1:].bool()
    rows = len(ids)
    if parts is None:       # full logits (models whose head is not a plain projection)
        logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
        tok_nll = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
        return (tok_nll * mask).sum(dim=1).double(), mask.sum(dim=1)
    decoder, head = parts
    if where is None:
        where = loss_positions(attn, loss)
    hidden = decoder(input_ids=ids, attention_mask=attn).last_hidden_state
    logits = head(hidden[where[0], where[1]]).float()     # [response tokens, vocab]; position t predicts t+1
    tok_nll = F.cross_entropy(logits, ids[where[0], where[1] + 1], reduction="none")
    nll = torch.zeros(rows, dtype=torch.float32, device=ids.device).index_add_(0, where[0], tok_nll)
    return nll.double(), mask.sum(dim=1)


def response_nll(model, encoded, pad_id: int, batch_size: int, device: str,
                 batch_tokens: int | None = None, full_logits: bool = False):
    """Per-example (sum of NLL over loss tokens, number of loss tokens).

    `encoded`: a list of `Encoded` or an `EncodedChunk`. `full_logits=True`
    forces the full-vocabulary path at every position (the reference).
    Results stay on the device until the end of the pass (no per-batch sync).
    """
    import torch

    if isinstance(encoded, EncodedChunk):
        lengths = encoded.lengths
        pad = lambda idx: pad_chunk(encoded, idx, pad_id)  # noqa: E731
    else:
        lengths = [len(e.input_ids) for e in encoded]
        pad = lambda idx: pad_batch([encoded[i] for i in idx], pad_id)  # noqa: E731
    n = len(lengths)
    parts = None if full_logits else sliced_head(model)
    batches = token_budget_batches(lengths, batch_size, batch_tokens)
    out_nll, out_cnt = [], []
    with torch.inference_mode():
        for idx in batches:
            ids, attn, loss = pad(idx)
            where = loss_positions(attn, loss) if parts is not None else None   # on the host: no sync
            ids, attn, loss = (t.to(device, non_blocking=True) for t in (ids, attn, loss))
            if where is not None:
                where = tuple(w.to(device, non_blocking=True) for w in where)
            nll, cnt = _batch_nll(model, parts, ids, attn, loss, where)
            out_nll.append(nll)
            out_cnt.append(cnt)
    nll = np.zeros(n, dtype=np.float64)
    count = np.zeros(n, dtype=np.int64)
    if batches:
        order = np.concatenate(batches)
        nll[order] = torch.cat(out_nll).cpu().numpy()
        count[order] = torch.cat(out_cnt).cpu().numpy()
    return nll, count


def forward_cost(model, encoded) -> dict:
    """Forward-only FLOPs estimate of a scoring pass: 2 · N · tokens (RDS+ paper's model)."""
    n_params = sum(p.numel() for p in model.parameters())
    if isinstance(encoded, EncodedChunk):
        tokens = int(encoded.offsets[-1])
    elif isinstance(encoded, (int, np.integer)):
        tokens = int(encoded)
    else:
        tokens = int(sum(len(e.input_ids) for e in encoded))
    return {"tokens": tokens, "params": n_params, "flops_estimate": 2 * n_params * tokens}
