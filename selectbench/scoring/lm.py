"""Batched, padding-aware, length-bucketed language-model passes.

`response_nll` returns, per example, the summed negative log-likelihood of the
loss tokens (assistant turns, `formatting.encode`) and their count. Logits at
position t predict token t+1 (the causal shift); prompt and padding tokens are
masked. Examples are sorted by length so each batch pads little (the order of
the results is the input order).
"""

from __future__ import annotations

import numpy as np

from ..formatting import Encoded


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


def pad_batch(encoded: list[Encoded], pad_id: int):
    import torch

    width = max(len(e.input_ids) for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(encoded), width), dtype=torch.long)
    loss = torch.zeros((len(encoded), width), dtype=torch.bool)
    for i, e in enumerate(encoded):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        attn[i, :n] = 1
        loss[i, :n] = torch.tensor(e.loss_mask, dtype=torch.bool)
    return ids, attn, loss


def response_nll(model, encoded: list[Encoded], pad_id: int, batch_size: int, device: str):
    """Per-example (sum of NLL over loss tokens, number of loss tokens)."""
    import torch
    import torch.nn.functional as F

    nll = np.zeros(len(encoded), dtype=np.float64)
    count = np.zeros(len(encoded), dtype=np.int64)
    with torch.inference_mode():
        for idx in length_buckets([len(e.input_ids) for e in encoded], batch_size):
            ids, attn, loss = pad_batch([encoded[i] for i in idx], pad_id)
            ids, attn, loss = ids.to(device), attn.to(device), loss.to(device)
            logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
            target, mask = ids[:, 1:], loss[:, 1:] & attn[:, 1:].bool()
            tok_nll = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
            nll[idx] = (tok_nll * mask).sum(dim=1).double().cpu().numpy()
            count[idx] = mask.sum(dim=1).cpu().numpy()
    return nll, count


def forward_cost(model, encoded: list[Encoded]) -> dict:
    """Forward-only FLOPs estimate of a scoring pass: 2 · N · tokens (RDS+ paper's model)."""
    n_params = sum(p.numel() for p in model.parameters())
    tokens = int(sum(len(e.input_ids) for e in encoded))
    return {"tokens": tokens, "params": n_params, "flops_estimate": 2 * n_params * tokens}
