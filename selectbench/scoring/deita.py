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
from .base import ScoreContext, scorer
from .rating import add_costs, check_finite, fill_prompts, model_cost, rate_prompts, turn_pairs

# src/deita/selection/scorer/llama_scorer.py of hkust-nlp/deita, verbatim (spaces included).
COMPLEXITY_TEMPLATE = ("You are a helpful assistant. Please identify the complexity score of the following "
                       "user query. \n##Query: {instruction}  \n##Complexity: ")
QUALITY_TEMPLATE = ("You are a helpful assistant. Please identify the quality score of the Response "
                    "corresponding to the Question. \n #Question#:\n{instruction}\n#Response#:\n{output} "
                    "\n##Quality: ")
LABELS = [str(v) for v in range(1, 7)]
PARAMS = {"batch_size": 16, "max_length": 2048, "precision": "auto", "turns": "sum"}


def _turns(pool: pd.DataFrame, ids) -> tuple[list[tuple[str, str]], np.ndarray]:
    """All (query, response) turns of the pool, flattened, and the example index of each."""
    pairs, owner = [], []
    for k, (i, messages) in enumerate(zip(ids, pool["messages"])):
        t = turn_pairs(messages)
        if not t:
            raise ScoreError(f"id '{i}': no assistant turn to score")
        pairs.extend(t)
        owner.extend([k] * len(t))
    return pairs, np.asarray(owner)


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


def turn_scores(ref, kind: str, pairs, owner, ids, p, device, loaded=None) -> tuple[np.ndarray, dict]:
    """Expected 1-6 score of every turn under the complexity or quality scorer model."""
    from ..modeling import count_params, load_causal_lm, load_tokenizer, resolve_dtype

    tok, model = loaded if loaded else (load_tokenizer(ref),
                                        load_causal_lm(ref, device, resolve_dtype(p["precision"], device)))
    if kind == "complexity":
        rows = [{"instruction": q} for q, _ in pairs]
        build = lambda r: COMPLEXITY_TEMPLATE.format(instruction=r["instruction"])  # noqa: E731
    else:
        rows = [{"instruction": q, "output": a} for q, a in pairs]
        build = lambda r: QUALITY_TEMPLATE.format(instruction=r["instruction"], output=r["output"])  # noqa: E731
    turn_ids = [ids[k] for k in owner]
    enc, _ = fill_prompts(tok, build, rows, turn_ids, p["max_length"], cut=("instruction", "output"))
    r = rate_prompts(model, tok, enc, LABELS, list(range(1, 7)), int(p["batch_size"]), device, turn_ids)
    return r["expected"], model_cost(count_params(model), sum(len(e) for e in enc))


def _single(pool, ctx, kind):
    p = ctx.params
    ids = pool["id"].astype(str).tolist()
    pairs, owner = _turns(pool, ids)
    s, cost = turn_scores(ctx.model, kind, pairs, owner, ids, p, ctx.device)
    score = aggregate(s, owner, len(ids), p["turns"])
    check_finite(score, ids, f"the DEITA {kind} score")
    out = pd.DataFrame({"id": ids, "score": score, "turns": np.bincount(owner, minlength=len(ids))})
    out.attrs["cost"] = cost
    return out


@scorer("deita_complexity", needs_model=True, shard_align=LM_BLOCK, params=dict(PARAMS))
def deita_complexity(pool: pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """DEITA complexity (1-6 per user query, summed over turns) from a complexity-scorer model."""
    return _single(pool, ctx, "complexity")


@scorer("deita_quality", needs_model=True, shard_align=LM_BLOCK, params=dict(PARAMS))
def deita_quality(pool: pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """DEITA quality (1-6 per query/response pair, summed over turns) from a quality-scorer model."""
    return _single(pool, ctx, "quality")


@scorer("deita", needs_model=True, shard_align=LM_BLOCK, params={**PARAMS, "quality_model": None})
def deita_score(pool: pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """DEITA EVOL score Σ_t complexity_t · quality_t (scorer_model: complexity; quality_model: quality)."""
    from ..modeling import load_causal_lm, load_tokenizer, resolve_dtype

    p = ctx.params
    ids = pool["id"].astype(str).tolist()
    qname = p["quality_model"]
    if qname and qname not in ctx.models:
        raise ScoreError(f"deita: quality_model '{qname}' was not resolved by the workflow")
    qref = ctx.models[qname] if qname else ctx.model
    pairs, owner = _turns(pool, ids)
    loaded = None
    if qref == ctx.model:     # one model rates both (smoke tests): load it once
        loaded = (load_tokenizer(ctx.model),
                  load_causal_lm(ctx.model, ctx.device, resolve_dtype(p["precision"], ctx.device)))
    c, c_cost = turn_scores(ctx.model, "complexity", pairs, owner, ids, p, ctx.device, loaded)
    q, q_cost = turn_scores(qref, "quality", pairs, owner, ids, p, ctx.device, loaded)
    n = len(ids)
    how = p["turns"]
    score = aggregate(c * q, owner, n, how)
    check_finite(score, ids, "the DEITA score")
    out = pd.DataFrame({"id": ids, "score": score, "complexity": aggregate(c, owner, n, how),
                        "quality": aggregate(q, owner, n, how), "turns": np.bincount(owner, minlength=n)})
    out.attrs["cost"] = add_costs(c_cost, q_cost)
    return out
