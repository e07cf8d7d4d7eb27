"""`deita_complexity`, `deita_quality`, `deita`: DEITA's EVOL scores (Liu et al., ICLR 2024).

The scorer models (hkust-nlp/deita-complexity-scorer, hkust-nlp/deita-quality-scorer:
Llama-based, fine-tuned to answer a rating prompt with one digit 1-6) read the
DEITA prompt; the score is the expectation of the digit under the FIRST
generated token's distribution restricted to the six digit tokens:

    s = Σ_{i=1..6} i · softmax(logits["1"], …, logits["6"])_i

Per turn (DEITA scores ShareGPT conversations turn by turn): complexity c_t of
the t-th user query alone, quality q_t of the (query, response) pair. Per
example: complexity = Σ_t c_t, quality = Σ_t q_t, and the combined EVOL score
Σ_t c_t · q_t (DEITA's `Combined_Filter`: element-wise product of the per-turn
score lists, then the sum). `turns: mean|last` are offered as alternatives.
See docs/methods/deita.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ScoreError
from .lm import BLOCK as LM_BLOCK
from .base import PoolFile, ScoreContext, pool_chunks, pool_id_series, scorer
from .rating import add_costs, check_finite, fill_prompts, model_cost, rate_prompts, turn_pairs

# src/deita/selection/scorer/llama_scorer.py of hkust-nlp/deita, verbatim (spaces included).
COMPLEXITY_TEMPLATE = ("You are a helpful assistant. Please identify the complexity score of the following "
                       "user query. \n##Query: {instruction}  \n##Complexity: ")
QUALITY_TEMPLATE = ("You are a helpful assistant. Please identify the quality score of the Response "
                    "corresponding to the Question. \n #Question#:\n{instruction}\n#Response#:\n{output} "
                    "\n##Quality: ")
LABELS = [str(v) for v in range(1, 7)]
PARAMS = {"batch_size": 16, "max_length": 2048, "precision": "auto", "turns": "sum"}


def _turn_blocks(pool, block: int = LM_BLOCK):
    """(turns, owner, turn ids) in runs of whole `block`s of turns (the last run may be shorter).

    Turns = every (query, response) pair of the pool, flattened in pool order; owner = the row
    (0-based in `pool`) of each. The pool is read in chunks of rows; turns left over after the
    last whole block of a chunk wait for the next chunk, so the rating batches (which never cross
    a block of `block` turns, `lm.length_buckets`) are those of a whole-pool pass, whatever the
    number of turns per row.
    """
    pairs, owner, turn_ids, row = [], [], [], 0
    for chunk in pool_chunks(pool, ("id", "messages"), LM_BLOCK):
        for i, messages in zip(chunk["id"], chunk["messages"]):
            t = turn_pairs(messages)
            if not t:
                raise ScoreError(f"id '{i}': no assistant turn to score")
            pairs.extend(t)
            owner.extend([row] * len(t))
            turn_ids.extend([str(i)] * len(t))
            row += 1
        whole = len(pairs) // block * block
        if whole:
            yield pairs[:whole], np.asarray(owner[:whole], dtype=np.int64), turn_ids[:whole]
            pairs, owner, turn_ids = pairs[whole:], owner[whole:], turn_ids[whole:]
    if pairs:
        yield pairs, np.asarray(owner, dtype=np.int64), turn_ids


def aggregate(values: np.ndarray, owner: np.ndarray, n: int, how: str) -> np.ndarray:
    """Per-turn values → per-example value: sum (DEITA), mean, or the last turn."""
    if how == "sum":
        return np.bincount(owner, weights=values, minlength=n)
    if how == "mean":
        return np.bincount(owner, weights=values, minlength=n) / np.bincount(owner, minlength=n)
    if how == "last":
        out = np.zeros(n)
        out[owner] = values          # later turns overwrite earlier ones (owner is non-decreasing)
        return out
    raise ScoreError(f"deita: turns must be 'sum', 'mean' or 'last' (got {how!r})")


def _load(ref, p, device):
    from ..modeling import load_causal_lm, load_tokenizer, resolve_dtype

    return load_tokenizer(ref), load_causal_lm(ref, device, resolve_dtype(p["precision"], device))


def turn_scores(ref, kind: str, pool, p, device, loaded=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(expected 1-6 score of every turn, owner row of every turn, cost) under the complexity or
    quality scorer model; one pass over the pool, read in chunks (`_turn_blocks`)."""
    from ..modeling import count_params

    tok, model = loaded if loaded else _load(ref, p, device)
    if kind == "complexity":
        build = lambda r: COMPLEXITY_TEMPLATE.format(instruction=r["instruction"])  # noqa: E731
    else:
        build = lambda r: QUALITY_TEMPLATE.format(instruction=r["instruction"], output=r["output"])  # noqa: E731
    values, owners, tokens = [], [], 0
    for pairs, owner, turn_ids in _turn_blocks(pool):
        if kind == "complexity":
            rows = [{"instruction": q} for q, _ in pairs]
        else:
            rows = [{"instruction": q, "output": a} for q, a in pairs]
        enc, _ = fill_prompts(tok, build, rows, turn_ids, p["max_length"], cut=("instruction", "output"))
        r = rate_prompts(model, tok, enc, LABELS, list(range(1, 7)), int(p["batch_size"]), device, turn_ids)
        values.append(r["expected"])
        owners.append(owner)
        tokens += sum(len(e) for e in enc)
    cat = lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt)  # noqa: E731
    return cat(values, np.float64), cat(owners, np.int64), model_cost(count_params(model), tokens)


def _single(pool, ctx, kind):
    p = ctx.params
    ids = pool_id_series(pool)
    s, owner, cost = turn_scores(ctx.model, kind, pool, p, ctx.device)
    score = aggregate(s, owner, len(ids), p["turns"])
    check_finite(score, ids, f"the DEITA {kind} score")
    out = pd.DataFrame({"id": ids, "score": score, "turns": np.bincount(owner, minlength=len(ids))})
    out.attrs["cost"] = cost
    return out


@scorer("deita_complexity", needs_model=True, shard_align=LM_BLOCK, streams=True, params=dict(PARAMS))
def deita_complexity(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """DEITA complexity (1-6 per user query, summed over turns) from a complexity-scorer model."""
    return _single(pool, ctx, "complexity")


@scorer("deita_quality", needs_model=True, shard_align=LM_BLOCK, streams=True, params=dict(PARAMS))
def deita_quality(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """DEITA quality (1-6 per query/response pair, summed over turns) from a quality-scorer model."""
    return _single(pool, ctx, "quality")


@scorer("deita", needs_model=True, shard_align=LM_BLOCK, streams=True, params={**PARAMS, "quality_model": None})
def deita_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """DEITA EVOL score Σ_t complexity_t · quality_t (scorer_model: complexity; quality_model: quality).

    Two passes over the pool (read in chunks): complexity, then quality, one model loaded at a
    time unless one model rates both.
    """
    p = ctx.params
    ids = pool_id_series(pool)
    qname = p["quality_model"]
    if qname and qname not in ctx.models:
        raise ScoreError(f"deita: quality_model '{qname}' was not resolved by the workflow")
    qref = ctx.models[qname] if qname else ctx.model
    loaded = None
    if qref == ctx.model:     # one model rates both (smoke tests): load it once
        loaded = _load(ctx.model, p, ctx.device)
    c, owner, c_cost = turn_scores(ctx.model, "complexity", pool, p, ctx.device, loaded)
    q, _, q_cost = turn_scores(qref, "quality", pool, p, ctx.device, loaded)
    n = len(ids)
    how = p["turns"]
    score = aggregate(c * q, owner, n, how)
    check_finite(score, ids, "the DEITA score")
    out = pd.DataFrame({"id": ids, "score": score, "complexity": aggregate(c, owner, n, how),
                        "quality": aggregate(q, owner, n, how), "turns": np.bincount(owner, minlength=n)})
    out.attrs["cost"] = add_costs(c_cost, q_cost)
    return out
