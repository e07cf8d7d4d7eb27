"""`alpagasus` / `alpagasus_api`: an LLM judge rates each example 0-5 (Chen et al., ICLR 2024).

The judge gets AlpaGasus' rating prompt ("accuracy" dimension by default) in
the layout of the reference code (`layout: reference`: request sentence as the
system turn, Alpaca triplet + rating instruction as the user turn) or of the
paper's Fig. 3 (`layout: paper`). Two backends:

* `alpagasus` (local Hugging Face causal LM = the method's `scorer_model`):
  - `mode: expected` (default): score = Σ_{v=0..5} v · P(next token = "v"),
    P renormalised over the six digit tokens, read at the first token of the
    judge's answer. Deterministic and batched; replaces the paper's free-text
    generation + parsing.
  - `mode: generate`: greedy generation of `max_new_tokens`, score = the first
    number in the text (for an instruct judge that writes "4.5\\n...").
* `alpagasus_api`: an OpenAI-compatible chat endpoint (`api_url`, `api_model`,
  key in the environment variable named by `api_key_env`), POST
  /v1/chat/completions with temperature 0, score = the first number of the reply.

A reply whose first number is missing or outside [0, 5] is a ScoreError naming
the id, unless `unparsed_score` is set (the reference assigns −1). See
docs/methods/alpagasus.md.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ..errors import ScoreError
from ..formatting import prompt_for
from .lm import BLOCK as LM_BLOCK
from .base import PoolFile, ScoreContext, pool_chunks, pool_id_series, scorer
from .rating import (check_finite, fill_prompts, generate_texts, instruction_and_response, model_cost,
                     parse_first_number, rate_prompts)

# The judge prompt in two layouts with the same sentences.
# "reference": gpt4life/alpagasus rating/chatgpt_rating.py (what produced the paper's ChatGPT
# ratings): the system turn is the request sentence alone; the user turn is the Alpaca triplet
# followed by the rating instruction, verbatim (incl. "###Instruction:" without a space, "containing
# value" without "the" and the trailing " \n\n").
# "paper": AlpaGasus paper, Fig. 3: the triplet in the system prompt, the rating request as the user prompt.
SYSTEM_PROMPT = ("We would like to request your feedback on the performance of AI assistant in response to "
                 "the instruction and the given input displayed following.")
REFERENCE_TRIPLET = "###Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n{response}\n\n"
REFERENCE_REQUEST = (
    "Please rate according to the {dimension} of the response to the instruction and the input. Each "
    "assistant receives a score on a scale of 0 to 5, where a higher score indicates higher level of the "
    "{dimension}. Please first output a single line containing value indicating the scores. In the "
    "subsequent line, please provide a comprehensive explanation of your evaluation, avoiding any "
    "potential bias. \n\n"
)
PAPER_SYSTEM = SYSTEM_PROMPT + "\nInstruction: {instruction}\nInput: {input}\nResponse: {response}"
PAPER_REQUEST = (
    "Please rate according to the {dimension} of the response to the instruction and the input. Each "
    "assistant receives a score on a scale of 0 to 5, where a higher score indicates higher level of the "
    "{dimension}. Please first output a single line containing the value indicating the scores. In the "
    "subsequent line, please provide a comprehensive explanation of your evaluation, avoiding any "
    "potential bias."
)
LABELS = [str(v) for v in range(6)]
MIN_SCORE, MAX_SCORE = 0.0, 5.0


def judge_messages(messages, dimension: str = "accuracy", layout: str = "reference") -> list[dict]:
    """The judge's [system, user] chat for one pool conversation.

    Pools store an Alpaca input inside the user turn (instruction + blank line +
    input), so the whole user turn is the Instruction and Input is left empty.
    """
    instruction, response = instruction_and_response(messages)
    return judge_messages_from(instruction, "", response, dimension, layout)


def judge_messages_from(instruction: str, input_text: str, response: str, dimension: str,
                        layout: str = "reference") -> list[dict]:
    fields = {"instruction": instruction, "input": input_text, "response": response}
    if layout == "reference":
        return [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": REFERENCE_TRIPLET.format(**fields)
                 + REFERENCE_REQUEST.format(dimension=dimension)}]
    if layout == "paper":
        return [{"role": "system", "content": PAPER_SYSTEM.format(**fields)},
                {"role": "user", "content": PAPER_REQUEST.format(dimension=dimension)}]
    raise ScoreError(f"alpagasus: layout must be 'reference' or 'paper' (got {layout!r})")


def parse_rating(text: str, id_: str, unparsed_score=None) -> tuple[float, bool]:
    """(score, parsed): the first number of the reply if it lies in [0, 5].

    Otherwise `unparsed_score` if it is set (the reference assigns −1, which the
    4.5 threshold then drops) or a ScoreError naming the id.
    """
    value = parse_first_number(text)
    if value is not None and MIN_SCORE <= value <= MAX_SCORE:
        return value, True
    if unparsed_score is not None:
        return float(unparsed_score), False
    snippet = text.strip().replace("\n", " ")[:80]
    raise ScoreError(f"id '{id_}': the judge's reply has no score in [0, 5] first: '{snippet}' "
                     "(set unparsed_score to score such replies instead)")


def _fields(chunk, ids) -> list[dict]:
    """(instruction, response) fields per row of a chunk (column → list) or table."""
    rows = []
    for i, messages in zip(ids, chunk["messages"]):
        try:
            instruction, response = instruction_and_response(messages)
        except ValueError:
            raise ScoreError(f"id '{i}': no assistant turn to rate") from None
        rows.append({"instruction": instruction, "response": response})
    return rows


def _builder(tok, fmt: str, dimension: str, layout: str):
    def chat(r):
        return judge_messages_from(r["instruction"], "", r["response"], dimension, layout)

    chat({"instruction": "", "response": ""})          # validates `layout`
    if fmt == "tulu":
        return (lambda r: prompt_for(chat(r))), True
    if fmt == "chat_template":
        return (lambda r: tok.apply_chat_template(chat(r), tokenize=False, add_generation_prompt=True)), False
    raise ScoreError(f"alpagasus: prompt_format must be 'tulu' or 'chat_template' (got {fmt!r})")


@scorer("alpagasus", needs_model=True, shard_align=LM_BLOCK, streams=True, row_bytes=512, params={
    "mode": "expected", "dimension": "accuracy", "layout": "reference", "prompt_format": "tulu",
    "max_new_tokens": 16, "unparsed_score": None, "batch_size": 16, "max_length": 2048, "precision": "auto"})
def alpagasus_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """AlpaGasus rating 0-5 by a local judge model (higher = better).

    The pool is read and rated in chunks of `lm.BLOCK` rows (one prompt per row: the length
    buckets, and so the scores, equal a whole-pool pass).
    """
    from ..modeling import count_params, load_causal_lm, load_tokenizer, resolve_dtype

    p = ctx.params
    if p["mode"] not in ("expected", "generate"):
        raise ScoreError(f"alpagasus: mode must be 'expected' or 'generate' (got {p['mode']!r})")
    tok = load_tokenizer(ctx.model)
    build, special = _builder(tok, p["prompt_format"], p["dimension"], p["layout"])
    limit = p["max_length"] - (p["max_new_tokens"] if p["mode"] == "generate" else 0)
    model = load_causal_lm(ctx.model, ctx.device, resolve_dtype(p["precision"], ctx.device))
    bs = int(p["batch_size"])
    tokens, parts = 0, []
    for chunk in pool_chunks(pool, ("id", "messages"), LM_BLOCK):
        ids = [str(i) for i in chunk["id"]]
        enc, truncated = fill_prompts(tok, build, _fields(chunk, ids), ids, limit, add_special_tokens=special)
        tokens += sum(len(e) for e in enc)
        if p["mode"] == "expected":
            r = rate_prompts(model, tok, enc, LABELS, list(range(6)), bs, ctx.device, ids)
            part = {"score": r["expected"], **{f"p_{v}": r["probs"][:, v] for v in range(6)},
                    "label_mass": r["label_mass"]}
        else:
            texts = generate_texts(model, tok, enc, int(p["max_new_tokens"]), bs, ctx.device)
            parsed = [parse_rating(t, i, p["unparsed_score"]) for t, i in zip(texts, ids)]
            part = {"score": [v for v, _ in parsed], "parsed": [ok for _, ok in parsed], "judge_text": texts}
            tokens += len(texts) * int(p["max_new_tokens"])
        part["truncated"] = truncated
        check_finite(np.asarray(part["score"], dtype=np.float64), ids, "the AlpaGasus rating")
        parts.append(part)
    out = pd.DataFrame({"id": pool_id_series(pool), **{
        c: _concat([part[c] for part in parts]) for c in (parts[0] if parts else ("score",))}})
    out.attrs["cost"] = model_cost(count_params(model), tokens)
    return out


def _concat(parts):
    """One column from per-chunk parts (NumPy arrays or Python lists)."""
    if parts and isinstance(parts[0], list):
        return [v for part in parts for v in part]
    return np.concatenate(parts) if parts else np.zeros(0)


# ---------------------------------------------------------------------------
# OpenAI-compatible endpoint

def chat_url(api_url: str) -> str:
    """Base URL → …/v1/chat/completions (an URL already ending so is kept)."""
    u = api_url.rstrip("/")
    if u.endswith("/chat/completions"):
        return u
    if u.endswith("/v1"):
        return u + "/chat/completions"
    return u + "/v1/chat/completions"


def chat_completion(url: str, model: str, messages: list[dict], key: str | None, max_tokens: int,
                    timeout: float, retries: int, backoff_s: float) -> tuple[str, dict]:
    """(reply text, usage) of one chat completion; retries on 429/5xx and connection errors."""
    body = json.dumps({"model": model, "messages": messages, "temperature": 0,
                       "max_tokens": max_tokens}).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    last = None
    for attempt in range(retries + 1):
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                data = json.loads(resp.read().decode("utf-8"))
            return data["choices"][0]["message"]["content"] or "", data.get("usage") or {}
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}: {e.read()[:200]!r}"
            if e.code not in (408, 409, 429, 500, 502, 503, 504):
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            last = f"{type(e).__name__}: {e}"
        except (KeyError, IndexError, TypeError, json.JSONDecodeError) as e:
            last = f"unexpected reply ({type(e).__name__}: {e})"
            break
        if attempt < retries:
            time.sleep(backoff_s * 2 ** attempt)
    raise RuntimeError(last)


@scorer("alpagasus_api", needs_model=False, streams=True, row_bytes=2048, params={
    "api_url": "", "api_model": "gpt-3.5-turbo", "api_key_env": "OPENAI_API_KEY", "dimension": "accuracy",
    "layout": "reference", "max_tokens": 64, "unparsed_score": None, "api_workers": 4, "api_timeout": 120,
    "api_retries": 3, "api_backoff_s": 2.0})
def alpagasus_api_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """AlpaGasus rating 0-5 by an OpenAI-compatible chat endpoint (the paper used ChatGPT).

    The pool is read twice in chunks of rows: once to build every judge chat (a row with no
    assistant turn fails before any request is paid for), then chunk by chunk with `api_workers`
    requests in flight. What grows with the pool is the ids, scores and judge replies.
    """
    p = ctx.params
    if not p["api_url"]:
        raise ScoreError("alpagasus_api: set scoring.alpagasus_api.api_url (an OpenAI-compatible server)")
    url = chat_url(p["api_url"])
    key = os.environ.get(p["api_key_env"]) if p["api_key_env"] else None

    def chats_of(chunk):
        out = []
        for i, messages in zip(chunk["id"], chunk["messages"]):
            try:
                out.append(judge_messages(messages, p["dimension"], p["layout"]))
            except ValueError:
                raise ScoreError(f"id '{i}': no assistant turn to rate") from None
        return out

    for chunk in pool_chunks(pool, ("id", "messages")):      # validate every row first
        chats_of(chunk)

    def ask(rid, chat):
        try:
            return chat_completion(url, p["api_model"], chat, key, int(p["max_tokens"]),
                                   float(p["api_timeout"]), int(p["api_retries"]), float(p["api_backoff_s"]))
        except RuntimeError as e:
            raise ScoreError(f"id '{rid}': the judge endpoint {url} failed: {e}") from None

    scores, parsed_ok, texts, used = [], [], [], 0
    with ThreadPoolExecutor(max_workers=max(1, int(p["api_workers"]))) as ex:
        for chunk in pool_chunks(pool, ("id", "messages")):
            ids = [str(i) for i in chunk["id"]]
            replies = list(ex.map(ask, ids, chats_of(chunk)))          # results in pool order
            for (text, usage), rid in zip(replies, ids):
                value, ok = parse_rating(text, rid, p["unparsed_score"])
                scores.append(value)
                parsed_ok.append(ok)
                texts.append(text)
                used += int(usage.get("total_tokens", 0) or 0)
    out = pd.DataFrame({"id": pool_id_series(pool), "score": np.array(scores, dtype=float),
                        "parsed": parsed_ok, "judge_text": texts})
    out.attrs["cost"] = {"tokens": used, "params": 0, "flops_estimate": 0.0, "api_calls": len(texts),
                         "api_model": p["api_model"]}
    return out
