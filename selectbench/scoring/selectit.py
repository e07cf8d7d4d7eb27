"""`selectit`: SelectIT (Liu et al., NeurIPS 2024), uncertainty-aware self-reflection.

For every example the scorer LLM reads K rating prompts (the reference's five
by default) and the next-token distribution over the score tokens "1".."C" is
read off (C = `max_score`, 5 in the paper):

* token level, per prompt k:  p = P(score tokens) renormalised, b = argmax p,
  S_tok[k] = (b+1) · Σ_{i=1..C} (p_b − p_i) / (C − 1)
* sentence level:            S_sent = mean_k S_tok[k] / (1 + α · std_k S_tok[k])   (population std)
* model level:                S = Σ_m θ_m / Σ_m' θ_m' · S_sent[m]                 (θ = parameter count)

The reference code loops the token-level sum over K (the number of prompts)
instead of C (the score classes); the two coincide for K = C = 5 and this
implementation is correct for any K. See docs/methods/selectit.md.

`variant: sft_at_scale` is the form of SFT@scale's `SelectIT/self_reflection/sentence_level.py`
(xiatingyu/SFT-DataSelection-at-scale @ e783c5e) instead of the original repository's:
every (user, assistant) turn pair is rated, as ``{prompt}\n`` + ``\nInstruction: {u}\nResponse: {a}``
per pair + ``\nThe answer is: `` (`SFT_AT_SCALE_TEMPLATE`), and the renormalised score-token
probabilities p go through a second softmax, p' = exp(p) / Σ exp(p), before the token level.
`template` is not used by that variant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ScoreError
from .lm import BLOCK as LM_BLOCK
from .base import PoolFile, ScoreContext, pool_chunks, pool_id_series, scorer
from .rating import (add_costs, check_finite, digit_token_ids, fill_prompts, instruction_and_response,
                     model_cost, next_token_logits, softmax, turn_pairs)

# data/rating_prompt.txt of Blue-Raincoat/SelectIT, lines 1-5 (the reference runs k=5 with
# `promote[idx]` for idx < k). Kept verbatim, including "zero to five" / "between 0 and 5"
# in prompts 2 and 4, although only the tokens 1..5 are read.
PAPER_PROMPTS = [
    "Assign a score from 1 to 5 to each assistant based on how accurately they follow the instructions "
    "and response provided, ensuring the score is represented clearly on its own.",
    "Score each assistant on a scale from zero to five, reflecting the accuracy of their adherence to "
    "the instructions and input, and present this score plainly without the need for extra details.",
    "Rate each assistant's response accuracy to the given task and input on a scale of 1 to 5, with 5 "
    "being the most precise; the score should be self-explanatory and presented as a single line.",
    "Evaluate the assistants by the correctness of their response to the provided directions and "
    "response, giving them a rating between 0 and 5\u2014where a 5 indicates top accuracy\u2014and output "
    "the score clearly as a standalone line.",
    "Rate each assistant on a scale of 1 to 5 based on their adherence to the instructions and the "
    "accuracy of their responses, with the score clearly displayed.",
]

# The reference builds `promote[idx] + '\n' + 'Instruction:' + ins + '\n' + 'Response:' + res +
# '\nThe answer is: \n'`, where promote[idx] comes from readlines() and still ends in '\n'.
PAPER_TEMPLATE = "{prompt}\n\nInstruction:{instruction}\nResponse:{response}\nThe answer is: \n"

# sentence_level.py of SFT@scale: promote[idx] (a readlines() line, so it ends in '\n'), then per
# turn pair '\n' + 'Instruction: ' + user + '\n' + 'Response: ' + assistant, then '\nThe answer is: '.
SFT_AT_SCALE_TEMPLATE = "{prompt}\n{conversation}\nThe answer is: "
VARIANTS = ("original", "sft_at_scale")


def sft_at_scale_conversation(messages) -> str:
    """Every (user, assistant) pair as SFT@scale's rating prompt writes it (system turns ignored)."""
    return "".join(f"\nInstruction: {u}\nResponse: {a}" for u, a in turn_pairs(messages))


def label_probabilities(logits: np.ndarray, variant: str = "original") -> np.ndarray:
    """Score-token logits [..., C] → the probabilities the token level reads: p renormalised over
    the C classes (`original`), or SFT@scale's second softmax of that p (`sft_at_scale`)."""
    p = softmax(logits)
    return softmax(p) if variant == "sft_at_scale" else p


def token_level(probs: np.ndarray) -> np.ndarray:
    """Token-level score per rating prompt: [..., K, C] probabilities → [..., K].

    p is renormalised over the C score classes; b = argmax (first on ties);
    S = (b + 1) · Σ_i (p_b − p_i) / (C − 1): the base score times the average gap
    between the chosen class and the others (0 when p is uniform, 1 when one-hot).
    """
    p = np.asarray(probs, dtype=np.float64)
    c = p.shape[-1]
    if c < 2:
        raise ValueError("token_level needs at least two score classes")
    p = p / p.sum(axis=-1, keepdims=True)
    b = p.argmax(axis=-1)
    pb = np.take_along_axis(p, b[..., None], axis=-1)
    confidence = (pb - p).sum(axis=-1) / (c - 1)
    return (b + 1) * confidence


def sentence_level(token_scores: np.ndarray, alpha: float) -> np.ndarray:
    """mean / (1 + α·std) over the last axis (the K prompts); population std as np.std."""
    s = np.asarray(token_scores, dtype=np.float64)
    return s.mean(axis=-1) / (1.0 + alpha * s.std(axis=-1))


def model_level(sentence_scores: np.ndarray, params) -> np.ndarray:
    """Σ_m w_m · S_m with w_m = θ_m / Σθ: [M] or [M, N] scores, [M] parameter counts."""
    s = np.asarray(sentence_scores, dtype=np.float64)
    w = np.asarray(params, dtype=np.float64)
    if w.ndim != 1 or len(w) != s.shape[0] or (w <= 0).any():
        raise ValueError("model_level needs one positive parameter count per model")
    w = w / w.sum()
    return np.tensordot(w, s, axes=(0, 0))


def _score_one_model(ref, pool, p, device):
    """(token-level [N, K], label mass [N, K], n_params, cost) of one scorer model.

    The pool is read in chunks of `lm.BLOCK` rows: a chunk's K·BLOCK prompts are a whole number
    of `length_buckets` blocks, so the batches (and the bits) equal a whole-pool pass.
    """
    from ..modeling import count_params, load_causal_lm, load_tokenizer, resolve_dtype

    prompts = list(p["prompts"])
    k, c = len(prompts), int(p["max_score"])
    tok = load_tokenizer(ref)
    model = load_causal_lm(ref, device, resolve_dtype(p["precision"], device))
    variant = p.get("variant", "original")
    if variant == "sft_at_scale":
        build, cut = SFT_AT_SCALE_TEMPLATE.format, ("conversation",)
    else:
        build, cut = p["template"].format, ("instruction", "response")
    tok_ids = digit_token_ids(tok, [str(v) for v in range(1, c + 1)])
    token_parts, mass_parts, tokens = [], [], 0
    for chunk in pool_chunks(pool, ("id", "messages"), LM_BLOCK):
        ids = [str(i) for i in chunk["id"]]
        rows, row_ids = [], []
        for i, messages in zip(ids, chunk["messages"]):
            try:
                instruction, response = instruction_and_response(messages)
            except ValueError:
                raise ScoreError(f"id '{i}': no assistant turn to rate") from None
            fields = ({"conversation": sft_at_scale_conversation(messages)} if variant == "sft_at_scale"
                      else {"instruction": instruction, "response": response})
            for rp in prompts:
                rows.append({"prompt": rp, **fields})
                row_ids.append(i)
        enc, _ = fill_prompts(tok, lambda r: build(**r), rows, row_ids, p["max_length"], cut=cut)
        logits, lognorm = next_token_logits(model, enc, tok_ids, tok.pad_token_id, int(p["batch_size"]), device)
        check_finite(logits, row_ids, "a score-token logit")
        token_parts.append(token_level(label_probabilities(logits, variant).reshape(len(ids), k, c)))
        mass_parts.append(np.exp(logits - lognorm[:, None]).sum(axis=1).reshape(len(ids), k))
        tokens += sum(len(e) for e in enc)
    n_params = count_params(model)
    cost = model_cost(n_params, tokens)
    del model
    empty = np.zeros((0, k))
    return (np.concatenate(token_parts) if token_parts else empty,
            np.concatenate(mass_parts) if mass_parts else empty, n_params, cost)


@scorer("selectit", needs_model=True, shard_align=LM_BLOCK, streams=True, params={
    "prompts": PAPER_PROMPTS, "template": PAPER_TEMPLATE, "alpha": 0.2, "max_score": 5,
    "scorer_models": [], "batch_size": 16, "max_length": 2048, "precision": "auto", "variant": "original"})
def selectit_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """SelectIT: token-, sentence- and model-level self-reflection scores (higher = better).

    One pass over the pool (read in chunks) per scorer model, one model loaded at a time.
    """
    p = ctx.params
    if not p["prompts"]:
        raise ScoreError("selectit: give at least one rating prompt")
    if p.get("variant", "original") not in VARIANTS:
        raise ScoreError(f"selectit: variant must be one of {', '.join(VARIANTS)} (got {p['variant']!r})")
    if not 2 <= int(p["max_score"]) <= 9:
        raise ScoreError(f"selectit: max_score must be 2..9 (single-digit score tokens), got {p['max_score']}")
    ids = pool_id_series(pool)
    refs = [("scorer_model", ctx.model)]
    for name in p["scorer_models"] or []:
        if name not in ctx.models:
            raise ScoreError(f"selectit: model '{name}' of scorer_models was not resolved by the workflow")
        refs.append((name, ctx.models[name]))
    sentence, params, costs, columns = [], [], [], {}
    for name, ref in refs:
        tok_scores, mass, n_params, cost = _score_one_model(ref, pool, p, ctx.device)
        sent = sentence_level(tok_scores, float(p["alpha"]))
        check_finite(sent, ids, f"the sentence-level score under model '{name}'")
        sentence.append(sent)
        params.append(n_params)
        costs.append(cost)
        columns[f"sentence_{name}"] = sent
        if name == "scorer_model":
            columns["token_mean"] = tok_scores.mean(axis=1)
            columns["token_std"] = tok_scores.std(axis=1)
            columns["label_mass"] = mass.mean(axis=1)
    score = model_level(np.stack(sentence), params)
    check_finite(score, ids, "the SelectIT score")
    out = pd.DataFrame({"id": ids, "score": score, **columns})
    out.attrs["cost"] = add_costs(*costs)
    return out
