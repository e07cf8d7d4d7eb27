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
    values = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)
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


class StatsAccumulator:
    """`pool_stats` fed chunk by chunk: memory is a few integers per row, not the rows.

    Per row it keeps the turn count and the prompt/response approximate token
    counts (int32 arrays grown in chunks); the content hash, the per-source and
    per-label counters are updated as rows arrive. `result()` equals
    `pool_stats` of the concatenated chunks.
    """

    def __init__(self, labels=()):
        self.labels = list(labels)
        self.digest = hashlib.sha256()
        self.sources: Counter = Counter()
        self.label_counts = {c: Counter() for c in self.labels}
        self._turns: list[np.ndarray] = []
        self._prompt: list[np.ndarray] = []
        self._response: list[np.ndarray] = []
        self._digests: list[np.ndarray] = []   # 8 bytes of each conversation's sha256 (exact duplicates)
        self.rows = 0

    def update(self, ids, sources, messages, labels: dict | None = None) -> None:
        """One chunk: parallel sequences of ids, sources, message lists (+ label columns)."""
        n = len(ids)
        turns = np.empty(n, dtype=np.int32)
        prompt = np.empty(n, dtype=np.int32)
        response = np.empty(n, dtype=np.int32)
        digests = np.empty(n, dtype=np.uint64)
        for i, (row_id, source, msgs) in enumerate(zip(ids, sources, messages)):
            self.digest.update(canonical_line(row_id, source, msgs).encode("utf-8"))
            digests[i] = int.from_bytes(message_digest(msgs)[:8], "little")
            turns[i] = len(msgs)
            prompt[i], response[i] = _token_counts(msgs)
        self.sources.update(sources)
        for c in self.labels:
            self.label_counts[c].update(_label_key(v) for v in (labels or {})[c])
        self._turns.append(turns)
        self._prompt.append(prompt)
        self._response.append(response)
        self._digests.append(digests)
        self.rows += n

    def result(self) -> dict:
        def cat(parts):
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)

        prompt, response = cat(self._prompt).astype(np.int64), cat(self._response).astype(np.int64)
        return {
            "rows": int(self.rows),
            "rows_per_source": dict(sorted(self.sources.items())),
            "pool_sha256": self.digest.hexdigest(),
            "turns": quantiles(cat(self._turns)),
            "approx_tokens": {
                "prompt": quantiles(prompt),
                "response": quantiles(response),
                "total": quantiles(prompt + response),
            },
            "approx_tokens_mean": {   # the cost model's L (selectbench cost estimate)
                "prompt": round(float(np.mean(prompt)), 3) if self.rows else None,
                "response": round(float(np.mean(response)), 3) if self.rows else None,
                "total": round(float(np.mean(prompt) + np.mean(response)), 3) if self.rows else None,
            },
            "labels": {c: dict(sorted(self.label_counts[c].items())) for c in self.labels},
            "exact_duplicates": _duplicate_counts(np.concatenate(self._digests) if self._digests
                                                  else np.zeros(0, dtype=np.uint64)),
        }


def _duplicate_counts(digests: np.ndarray) -> dict:
    """{rows repeating an earlier one, distinct conversations occurring more than once}."""
    _, counts = np.unique(digests, return_counts=True)
    return {"rows": int((counts - 1).sum()), "groups": int((counts > 1).sum())}


def pool_stats(df: pd.DataFrame) -> dict:
    """Rows, rows per source, content hash, turn and approximate-token quantiles, label counts.

    `approx_tokens.prompt` counts system and user turns, `.response` every
    assistant turn (all of which carry the training loss), `.total` both.
    """
    labels = [c for c in df.columns if c not in CORE_COLUMNS]
    acc = StatsAccumulator(labels)
    acc.update(list(df["id"]), list(df["source"]), list(df["messages"]), {c: list(df[c]) for c in labels})
    return acc.result()


def message_digest(messages) -> bytes:
    """sha256 of a conversation (roles and contents, byte for byte)."""
    return hashlib.sha256(json.dumps(_plain_messages(messages), ensure_ascii=False, separators=(",", ":"))
                          .encode("utf-8")).digest()
