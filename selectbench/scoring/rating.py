"""Shared machinery of the LLM-as-rater scorers (SelectIT, Alpagasus, DEITA).

A rating prompt is filled per example, tokenized once, and run through the model
in length-bucketed, right-padded batches; the logits of the *next* token are read
at each row's last real token (`attention_mask.sum() - 1`), so padding never
changes a row's result. Only the candidate tokens' logits (e.g. the digits
"1".."6") leave the GPU, together with the log-normaliser of the full vocabulary
so the probability mass the model puts on the candidates is known too.

`expected_score` turns candidate logits into Σ v_i · softmax(logits)_i, the
probability-weighted score that DEITA (and, over digit tokens, Alpagasus in
`expected` mode) uses.
"""

from __future__ import annotations

import inspect
import re
from typing import Callable, Sequence

import numpy as np

from ..errors import ScoreError
from .lm import length_buckets


# ---------------------------------------------------------------------------
# conversations → the texts a rating prompt needs

def last_assistant(messages) -> int:
    """Index of the last assistant turn (the response being rated)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "assistant":
            return i
    return -1


def instruction_and_response(messages) -> tuple[str, str]:
    """(instruction, response) of a conversation for a single-exchange rating prompt.

    response = the last assistant turn. instruction = the user content when the
    context is exactly one user turn (the papers' single-turn case); otherwise (a
    system prompt or earlier turns) a transcript of the context with role labels::

        System: ...\\n\\nUser: ...\\n\\nAssistant: ...\\n\\nUser: ...
    """
    a = last_assistant(messages)
    if a < 0:
        raise ValueError("no assistant turn")
    context = list(messages[:a])
    if len(context) == 1 and context[0]["role"] == "user":
        return context[0]["content"], messages[a]["content"]
    parts = [f"{m['role'].capitalize()}: {m['content']}" for m in context]
    return "\n\n".join(parts), messages[a]["content"]


def turn_pairs(messages) -> list[tuple[str, str]]:
    """(user, assistant) content per assistant turn, DEITA's per-turn unit.

    Each assistant turn is paired with the closest preceding user turn ("" when
    there is none); system turns are ignored, as in DEITA's ShareGPT loader.
    """
    pairs, user = [], ""
    for m in messages:
        if m["role"] == "user":
            user = m["content"]
        elif m["role"] == "assistant":
            pairs.append((user, m["content"]))
            user = ""
    return pairs


# ---------------------------------------------------------------------------
# tokens

def digit_token_ids(tokenizer, labels: Sequence[str]) -> list[int]:
    """The token id the tokenizer uses for each label (e.g. "1".."5").

    The last token of encoding the label alone: for SentencePiece Llama tokenizers
    "1" encodes as ["▁", "1"] and the digit piece (29896, the id DEITA and SelectIT
    hard-code) is taken; for byte-level BPE it is the single token "1". The token
    must decode back to the label, and the ids must be distinct.
    """
    out = []
    for label in labels:
        ids = tokenizer(label, add_special_tokens=False)["input_ids"]
        if not ids or tokenizer.decode([ids[-1]]).strip() != label:
            raise ScoreError(f"the scorer's tokenizer has no single token for rating label '{label}' "
                             f"(encodes as {ids})")
        out.append(int(ids[-1]))
    if len(set(out)) != len(out):
        raise ScoreError(f"rating labels {list(labels)} share token ids {out}")
    return out


def fill_prompts(tokenizer, build: Callable[[dict], str], rows: list[dict], ids, max_length: int | None,
                 add_special_tokens: bool = True, cut: Sequence[str] = ("instruction", "response"),
                 ) -> tuple[list[list[int]], np.ndarray]:
    """Token ids of `build(row)` per row, fitting `max_length` by truncating fields.

    The prompt's end (the question asked of the rater) must survive, so an
    overlong prompt is shortened by cutting the longest of the fields named in
    `cut` (keys of `row`) at a token boundary, from its end, repeatedly, until
    it fits. Returns the ids and a per-row flag `truncated`. A prompt that does
    not fit with all those fields empty is a ScoreError naming the id.
    """
    texts = [build(r) for r in rows]
    enc = tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]
    out = [list(e) for e in enc]
    truncated = np.zeros(len(rows), dtype=bool)
    if max_length is None:
        return out, truncated
    for i, e in enumerate(out):
        if len(e) <= max_length:
            continue
        row = dict(rows[i])
        for _ in range(32):
            excess = len(e) - max_length
            if excess <= 0:
                break
            fields = [k for k in cut if isinstance(row.get(k), str) and row[k]]
            if not fields:
                raise ScoreError(f"id '{ids[i]}': the rating prompt alone is longer than "
                                 f"max_length={max_length} tokens")
            key = max(fields, key=lambda k: len(row[k]))
            f_enc = tokenizer(row[key], add_special_tokens=False, return_offsets_mapping=True)
            keep = max(0, len(f_enc["input_ids"]) - excess - 2)
            row[key] = row[key][: f_enc["offset_mapping"][keep - 1][1]] if keep > 0 else ""
            e = list(tokenizer(build(row), add_special_tokens=add_special_tokens)["input_ids"])
        if len(e) > max_length:
            raise ScoreError(f"id '{ids[i]}': could not fit the rating prompt into max_length={max_length}")
        out[i] = e
        truncated[i] = True
    return out, truncated


def _right_pad(rows: list[list[int]], pad_id: int):
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        attn[i, : len(r)] = 1
    return ids, attn


def next_token_logits(model, prompts: list[list[int]], token_ids: Sequence[int], pad_id: int,
                      batch_size: int, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Next-token logits of `token_ids` after each prompt, and the full-vocabulary logsumexp.

    Returns ([N, C] float64 logits, [N] float64 log-normaliser): the model's
    probability of candidate c is exp(logits[:, c] - lognorm). Batches are
    length-bucketed and right-padded; the logits are taken at each row's last real
    token. Where the model accepts `logits_to_keep`, only the positions needed are
    projected onto the vocabulary.
    """
    import torch

    n, c = len(prompts), len(token_ids)
    logits_out = np.zeros((n, c), dtype=np.float64)
    lognorm = np.zeros(n, dtype=np.float64)
    keep_ok = "logits_to_keep" in inspect.signature(model.forward).parameters
    cand = torch.tensor(list(token_ids), dtype=torch.long, device=device)
    with torch.inference_mode():
        for idx in length_buckets([len(p) for p in prompts], batch_size):
            ids, attn = _right_pad([prompts[i] for i in idx], pad_id)
            ids, attn = ids.to(device), attn.to(device)
            last = attn.sum(dim=1) - 1
            rows = torch.arange(len(idx), device=device)
            if keep_ok:
                pos = torch.unique(last)          # sorted distinct last positions of the batch
                out = model(input_ids=ids, attention_mask=attn, logits_to_keep=pos).logits
                row_logits = out[rows, torch.searchsorted(pos, last)]
            else:
                row_logits = model(input_ids=ids, attention_mask=attn).logits[rows, last]
            row_logits = row_logits.float()
            logits_out[idx] = row_logits[:, cand].double().cpu().numpy()
            lognorm[idx] = torch.logsumexp(row_logits, dim=-1).double().cpu().numpy()
    return logits_out, lognorm


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def expected_score(logits: np.ndarray, values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Σ_i v_i · softmax(logits)_i per row, and the renormalised probabilities."""
    probs = softmax(logits)
    return probs @ np.asarray(values, dtype=np.float64), probs


def check_finite(values: np.ndarray, ids, what: str) -> None:
    """ScoreError naming the first id whose value (row) is not finite."""
    v = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(v.reshape(len(v), -1)).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScoreError(f"id '{ids[i]}': {what} is not finite ({v[i]!r}); "
                         f"{int(bad.sum())} examples affected")


def rate_prompts(model, tokenizer, prompts: list[list[int]], labels: Sequence[str], values: Sequence[float],
                 batch_size: int, device: str, ids) -> dict:
    """Expected rating over `labels` tokens for each tokenized prompt.

    Returns {"expected": [N], "probs": [N, C] (renormalised over the labels),
    "label_mass": [N] (probability the full softmax puts on the label tokens)}.
    """
    tok_ids = digit_token_ids(tokenizer, labels)
    logits, lognorm = next_token_logits(model, prompts, tok_ids, tokenizer.pad_token_id, batch_size, device)
    check_finite(logits, ids, "a rating logit")
    expected, probs = expected_score(logits, values)
    mass = np.exp(logits - lognorm[:, None]).sum(axis=1)
    return {"expected": expected, "probs": probs, "label_mass": mass}


# ---------------------------------------------------------------------------
# generation (free-text judges)

def generate_texts(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, batch_size: int,
                   device: str, stop_ids: Sequence[int] | None = None) -> list[str]:
    """Greedy continuations of tokenized prompts (left-padded, length-bucketed batches).

    `stop_ids`: token ids that end a continuation (default: the model's EOS)."""
    import torch

    pad = tokenizer.pad_token_id
    out: list[str] = [""] * len(prompts)
    with torch.inference_mode():
        for idx in length_buckets([len(p) for p in prompts], batch_size):
            rows = [prompts[i] for i in idx]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            attn = torch.zeros((len(rows), width), dtype=torch.long)
            for j, r in enumerate(rows):
                ids[j, width - len(r):] = torch.tensor(r, dtype=torch.long)
                attn[j, width - len(r):] = 1
            stop = {"eos_token_id": list(stop_ids)} if stop_ids else {}
            gen = model.generate(input_ids=ids.to(device), attention_mask=attn.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=pad, **stop)
            for j, i in enumerate(idx):
                out[i] = tokenizer.decode(gen[j, width:], skip_special_tokens=True)
    return out


_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?")


def parse_first_number(text: str) -> float | None:
    """The first number in `text` ("4.5\\nThe response..." → 4.5), or None."""
    m = _NUMBER.search(text)
    return float(m.group(0)) if m else None


def model_cost(n_params: int, tokens: int) -> dict:
    """Forward-only FLOPs estimate 2·N·tokens (as `lm.forward_cost`)."""
    return {"tokens": int(tokens), "params": int(n_params), "flops_estimate": 2 * int(n_params) * int(tokens)}


def add_costs(*costs: dict) -> dict:
    out = {"tokens": 0, "params": 0, "flops_estimate": 0}
    for c in costs:
        out["tokens"] += c["tokens"]
        out["flops_estimate"] += c["flops_estimate"]
        out["params"] = max(out["params"], c["params"])
    return out
