"""Descriptive statistics and a content hash of a normalized pool.

Token counts here are *approximate and model-independent*: a text has as many
"tokens" as matches of ``\\w+|[^\\w\\s]`` (runs of word characters, and single
punctuation/symbol characters). They describe a pool's shape; they are not
the counts any real tokenizer gives.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import numpy as np
import pandas as pd

CORE_COLUMNS = ("id", "source", "messages", "origin")
TOKEN_RE = re.compile(r"\w+|[^\w\s]")
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def approx_tokens(text: str) -> int:
    """Approximate, model-independent token count of `text` (see module doc)."""
    return len(TOKEN_RE.findall(text))


def quantiles(values) -> dict[str, float | None]:
    """Linear-interpolation quantiles at QUANTILES, keyed "0", "0.05", ..., "1".

    Values are rounded to 3 decimals; all are None for an empty input.
    """
    values = np.asarray(list(values), dtype=float)
    if values.size == 0:
        return {f"{q:g}": None for q in QUANTILES}
    return {f"{q:g}": round(float(np.quantile(values, q)), 3) for q in QUANTILES}


def _plain_messages(messages) -> list[dict[str, str]]:
    """`messages` as a list of plain {role, content} dicts."""
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]


def canonical_line(row_id: str, source: str, messages) -> str:
    """The canonical JSON line of one row: sorted keys, no ASCII escaping, compact."""
    record = {"id": row_id, "source": source, "messages": _plain_messages(messages)}
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def pool_sha256(df: pd.DataFrame) -> str:
    """SHA-256 of the UTF-8 canonical JSON lines of {id, source, messages}, in row order."""
    digest = hashlib.sha256()
    for row_id, source, messages in zip(df["id"], df["source"], df["messages"]):
        digest.update(canonical_line(row_id, source, messages).encode("utf-8"))
    return digest.hexdigest()


def _label_key(value) -> str:
    """A JSON object key for a label value: strings as is, others as JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _token_counts(messages) -> tuple[int, int]:
    """(prompt, response) approximate tokens: non-assistant vs assistant turns."""
    prompt = response = 0
    for m in messages:
        n = approx_tokens(m["content"])
        if m["role"] == "assistant":
            response += n
        else:
            prompt += n
    return prompt, response


def pool_stats(df: pd.DataFrame) -> dict:
    """Rows, rows per source, content hash, turn and approximate-token quantiles, label counts.

    `approx_tokens.prompt` counts system and user turns, `.response` every
    assistant turn (all of which carry the training loss), `.total` both.
    """
    counts = [_token_counts(m) for m in df["messages"]]
    prompt = [p for p, _ in counts]
    response = [r for _, r in counts]
    labels = [c for c in df.columns if c not in CORE_COLUMNS]
    return {
        "rows": int(len(df)),
        "rows_per_source": dict(sorted(Counter(df["source"]).items())),
        "pool_sha256": pool_sha256(df),
        "turns": quantiles(len(m) for m in df["messages"]),
        "approx_tokens": {
            "prompt": quantiles(prompt),
            "response": quantiles(response),
            "total": quantiles(p + r for p, r in zip(prompt, response)),
        },
        "approx_tokens_mean": {   # the cost model's L (selectbench cost estimate)
            "prompt": round(float(np.mean(prompt)), 3) if prompt else None,
            "response": round(float(np.mean(response)), 3) if response else None,
            "total": round(float(np.mean(prompt) + np.mean(response)), 3) if prompt else None,
        },
        "labels": {
            c: dict(sorted(Counter(_label_key(v) for v in df[c]).items())) for c in labels
        },
        "exact_duplicates": exact_duplicates(df["messages"]),
    }


def exact_duplicates(messages) -> dict:
    """Rows whose conversation (roles and contents, byte for byte) equals an earlier row's.

    `rows`: how many rows repeat an earlier one (dropping them would leave the distinct
    conversations); `groups`: how many distinct conversations occur more than once.
    """
    counts = Counter(
        hashlib.sha256(json.dumps(_plain_messages(m), ensure_ascii=False, separators=(",", ":"))
                       .encode("utf-8")).digest()
        for m in messages
    )
    return {"rows": int(sum(c - 1 for c in counts.values())), "groups": int(sum(c > 1 for c in counts.values()))}
