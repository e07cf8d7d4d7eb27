"""`ifd`: Instruction-Following Difficulty (Cherry LLM; Li et al., NAACL 2024).

    IFD(Q, A) = s(A | Q) / s(A),   s(·) = mean over the response tokens of −log p(token | prefix)

s(A | Q) is the mean response NLL with the whole prompt in context (the Tulu
rendering up to and including the last `<|assistant|>` header); s(A) is the
mean NLL of the same response tokens with nothing but BOS before them. Both
passes use `lm.response_nll` (batched, padded, causal shift). For a multi-turn
conversation the response is the *last* assistant turn and Q is everything
before it. See docs/methods/ifd.md for the choices (EOS, the direct pass'
context) and `pre_experience_sample` for Cherry's pre-experience subset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ScoreError
from ..formatting import ROLE_TAGS, Encoded, render
from .lm import BLOCK as LM_BLOCK
from .base import PoolFile, ScoreContext, pool_chunks, pool_id_series, scorer
from .lm import response_nll


def _mask(offsets, span: tuple[int, int], limit: int | None = None) -> list[int]:
    s, e = span
    e = e if limit is None else min(e, limit)
    return [1 if (b > a and s <= a < e) else 0 for a, b in offsets]


def ifd_encodings(tokenizer, conversations, max_length: int | None, include_eos: bool = False,
                  direct_context: str = "none", ids=None) -> tuple[list[Encoded], list[Encoded]]:
    """(conditioned, direct) encodings whose loss masks cover the last assistant turn.

    conditioned: the conversation rendered up to its last assistant turn, loss on
    that turn's content (+ EOS if `include_eos`). direct: BOS + (the `<|assistant|>`
    header if `direct_context == "header"`) + the same content. Truncation is from
    the right at `max_length`; when it cuts the conditioned response, the direct
    response is cut at the same character so both passes score the same text.
    """
    eos = tokenizer.eos_token or ""
    ids = ids if ids is not None else list(range(len(conversations)))
    cond_texts, cond_spans, direct_texts, direct_spans = [], [], [], []
    prefix = ROLE_TAGS["assistant"] if direct_context == "header" else ""
    for i, messages in zip(ids, conversations):
        a = max((k for k, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
        if a < 0:
            raise ScoreError(f"id '{i}': no assistant turn to score")
        r = render(messages[: a + 1], eos)
        start = r.loss_spans[-1][0]
        content = messages[a]["content"]
        end = start + len(content) + (len(eos) if include_eos else 0)
        cond_texts.append(r.text[:end])
        cond_spans.append((start, end))
        body = content + (eos if include_eos else "")
        direct_texts.append(prefix + body)
        direct_spans.append((len(prefix), len(prefix) + len(body)))
    cond_enc = tokenizer(cond_texts, add_special_tokens=True, return_offsets_mapping=True)
    dir_enc = tokenizer(direct_texts, add_special_tokens=True, return_offsets_mapping=True)
    cond, direct = [], []
    for k in range(len(cond_texts)):
        c_ids, c_off = list(cond_enc["input_ids"][k]), list(cond_enc["offset_mapping"][k])
        if max_length is not None and len(c_ids) > max_length:
            c_ids, c_off = c_ids[:max_length], c_off[:max_length]
        c_mask = _mask(c_off, cond_spans[k])
        # characters of the response that survive truncation in the conditioned pass
        kept = max((b for (a, b), m in zip(c_off, c_mask) if m), default=cond_spans[k][0])
        kept_chars = kept - cond_spans[k][0]
        d_ids, d_off = list(dir_enc["input_ids"][k]), list(dir_enc["offset_mapping"][k])
        d_mask = _mask(d_off, direct_spans[k], limit=direct_spans[k][0] + kept_chars)
        last = max((j for j, m in enumerate(d_mask) if m), default=len(d_ids) - 1)
        d_ids, d_mask = d_ids[: last + 1], d_mask[: last + 1]
        cond.append(Encoded(c_ids, c_mask))
        direct.append(Encoded(d_ids, d_mask))
    return cond, direct


@scorer("ifd", needs_model=True, shard_align=LM_BLOCK, streams=True,
        params={"batch_size": 16, "max_length": 2048, "precision": "auto", "include_eos": False,
                "direct_context": "none"})
def ifd_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """IFD = mean response NLL given the instruction ÷ mean NLL of the response alone (higher = harder).

    The pool is read, tokenized and scored in chunks of `lm.BLOCK` rows (the batches of
    `response_nll` never cross such a block, so the scores equal a whole-pool pass bit for bit);
    memory is one chunk plus a few numbers per row.
    """
    from ..modeling import load_causal_lm, load_tokenizer, resolve_dtype

    p = ctx.params
    if p["direct_context"] not in ("none", "header"):
        raise ScoreError(f"ifd: direct_context must be 'none' or 'header' (got {p['direct_context']!r})")
    tok = load_tokenizer(ctx.model)
    model = load_causal_lm(ctx.model, ctx.device, resolve_dtype(p["precision"], ctx.device))
    bs = int(p["batch_size"])
    parts, tokens = [], 0
    for chunk in pool_chunks(pool, ("id", "messages"), LM_BLOCK):
        ids = [str(i) for i in chunk["id"]]
        cond, direct = ifd_encodings(tok, chunk["messages"], p["max_length"], bool(p["include_eos"]),
                                     p["direct_context"], ids)
        for i, c, d in zip(ids, cond, direct):
            if c.n_response == 0 or d.n_response == 0:
                raise ScoreError(f"id '{i}': no response token within max_length={p['max_length']} "
                                 "(raise scoring.ifd.max_length)")
        nll_c, n_c = response_nll(model, cond, tok.pad_token_id, bs, ctx.device)
        nll_d, n_d = response_nll(model, direct, tok.pad_token_id, bs, ctx.device)
        mean_c, mean_d = nll_c / n_c, nll_d / n_d
        with np.errstate(divide="ignore", invalid="ignore"):
            ifd = mean_c / mean_d
        bad = ~np.isfinite(ifd)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise ScoreError(f"id '{ids[j]}': IFD is {ifd[j]!r} (conditioned NLL {mean_c[j]!r}, "
                             f"direct NLL {mean_d[j]!r})")
        parts.append((ifd, mean_c, mean_d, n_c, n_d))
        tokens += sum(len(e.input_ids) for e in cond) + sum(len(e.input_ids) for e in direct)
    names = ("score", "nll_conditioned", "nll_direct", "response_tokens", "response_tokens_direct")
    dtypes = (np.float64, np.float64, np.float64, np.int64, np.int64)
    out = pd.DataFrame({"id": pool_id_series(pool),
                        **{name: np.concatenate([part[k] for part in parts]) if parts else np.zeros(0, dt)
                           for k, (name, dt) in enumerate(zip(names, dtypes))}})
    n_params = sum(q.numel() for q in model.parameters())
    tokens = int(tokens)
    out.attrs["cost"] = {"tokens": tokens, "params": n_params, "flops_estimate": 2 * n_params * tokens}
    return out


def instruction_texts(conversations, ids=None) -> list[str]:
    """Q of IFD per conversation: the Tulu rendering of everything before the last assistant turn."""
    ids = ids if ids is not None else list(range(len(conversations)))
    out = []
    for i, messages in zip(ids, conversations):
        a = max((k for k, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
        if a <= 0:
            raise ScoreError(f"id '{i}': no instruction before the last assistant turn")
        out.append(render(messages[:a], "").text)
    return out


def instruction_perplexity(model, tokenizer, conversations, max_length: int | None, batch_size: int,
                           device: str, ids=None) -> np.ndarray:
    """exp(mean NLL) of the instruction text alone (BOS + Q, every token after BOS scored) —
    the "confidence" Cherry's `data_by_cluster.py` filters the pre-experience sample on."""
    texts = instruction_texts(conversations, ids)
    enc = tokenizer(texts, add_special_tokens=True)["input_ids"]
    encoded = []
    for row in enc:
        row = list(row)[:max_length] if max_length else list(row)
        start = 1 if tokenizer.bos_token_id is not None and row and row[0] == tokenizer.bos_token_id else 0
        encoded.append(Encoded(row, [0] * start + [1] * (len(row) - start)))
    nll, count = response_nll(model, encoded, tokenizer.pad_token_id, batch_size, device)
    return np.exp(nll / np.maximum(count, 1))


def pre_experience_sample(labels: np.ndarray, per_cluster: int, seed: int, *,
                          confidences: np.ndarray | None = None, low_pct: float = 1.0,
                          high_pct: float = 99.0) -> list[int]:
    """Cherry's pre-experience subset: up to `per_cluster` indices from every cluster.

    `labels`: cluster label per pool row (e.g. k-means on instruction embeddings;
    the paper uses 100 clusters × 10 samples). Clusters are visited in sorted label
    order; a cluster with fewer than `per_cluster` rows gives all of them (returned
    in pool order within each cluster).

    Without `confidences`: a uniform sample without replacement inside each
    cluster (numpy PCG64 seeded by `seed`), returned sorted within the cluster.
    With `confidences` (Cherry's reference, `data_by_cluster.py`: the instruction
    perplexity of each row): keep the rows whose confidence lies within the
    cluster's [low_pct, high_pct] percentiles (numpy linear interpolation), then
    take every ⌊m / per_cluster⌋-th of those m rows in pool order, the first
    `per_cluster` of them; `seed` is unused (the reference is deterministic).
    """
    labels = np.asarray(labels)
    if per_cluster <= 0:
        raise ValueError("per_cluster must be > 0")
    rng = np.random.default_rng(seed)
    out: list[int] = []
    for lab in np.unique(labels):
        members = np.flatnonzero(labels == lab)
        if len(members) < per_cluster:
            out.extend(int(i) for i in members)
            continue
        if confidences is None:
            pick = np.sort(rng.choice(members, size=per_cluster, replace=False))
        else:
            conf = np.asarray(confidences, dtype=float)[members]
            lo, hi = np.percentile(conf, low_pct), np.percentile(conf, high_pct)
            middle = members[(conf >= lo) & (conf <= hi)]
            if len(middle) < per_cluster:
                pick = middle
            else:
                pick = middle[:: len(middle) // per_cluster][:per_cluster]
        out.extend(int(i) for i in pick)
    return out
