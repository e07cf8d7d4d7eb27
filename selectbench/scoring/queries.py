"""Query sets (few-shot / dev examples of the target tasks) and cosine-to-query scoring.

A query file is JSONL, one object per line::

    {"task": "gsm8k", "messages": [{"role": "user", "content": "..."},
                                   {"role": "assistant", "content": "..."}]}

`messages` follows the pool's `messages` format (roles system/user/assistant,
non-empty contents, a user turn, ending with the assistant's turn). Blank lines
are skipped. Errors name the file, the 1-based line and the field.

`query_similarity_table` is the selection rule shared by the representation
scorers (`rds`, `embed`): with unit-norm pool embeddings e_i and query
embeddings q_j, sim_t(i) = max_{j in task t} <e_i, q_j>, one column `sim__<t>`
per task (first-appearance order of the file), and score(i) = max_t sim_t(i).
Each query's own similarity is kept too, as `qsim__<t>__<j>` (j = the query's
0-based index within task t): the RDS+ reference's single-task selection
round-robins over individual query points (selector `round_robin`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, ScoreError

SIM_PREFIX = "sim__"
QSIM_PREFIX = "qsim__"


def query_column(task: str, j: int) -> str:
    """Column of the j-th query (0-based, within its task) of `task`."""
    return f"{QSIM_PREFIX}{task}__{j}"


def load_queries(path) -> list[tuple[str, list[dict]]]:
    """(task, messages) for every line of a JSONL query file, in file order."""
    from ..pools.formats import RowError, convert
    from ..pools.load import read_jsonl

    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "query file not found")
    out = []
    for lineno, row in read_jsonl(path):
        if not isinstance(row, dict):
            raise DataError(path, lineno, None, f"expected a JSON object, got {type(row).__name__}")
        task = row.get("task")
        if "task" not in row:
            raise DataError(path, lineno, "task", "missing field")
        if not isinstance(task, str) or not task.strip():
            raise DataError(path, lineno, "task", f"expected a non-empty string, got {task!r}")
        if "messages" not in row:
            raise DataError(path, lineno, "messages", "missing field")
        try:
            [(_, messages)] = convert("messages", {"messages": row["messages"]})
        except RowError as e:
            raise DataError(path, lineno, e.field, e.message) from None
        out.append((task, messages))
    if not out:
        raise DataError(path, None, None, "no queries (the file is empty)")
    return out


def queries_from_params(params: dict, scorer: str) -> list[tuple[str, list[dict]]]:
    qf = params.get("queries_file")
    if not qf:
        raise ConfigError(f"scoring.{scorer}.queries_file: this scorer needs a JSONL query set "
                          "({\"task\": ..., \"messages\": [...]} per line)")
    return load_queries(qf)


def task_names(queries) -> list[str]:
    """Distinct tasks in first-appearance order."""
    return list(dict.fromkeys(t for t, _ in queries))


def check_embeddings(emb: np.ndarray, ids, what: str) -> None:
    """Every row finite (NaN/inf → ScoreError naming the id)."""
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScoreError(f"{what} of id '{ids[i]}' is not finite ({int(bad.sum())} such rows)")


# Similarities are computed in blocks of SIM_BLOCK rows (one matrix product each): a row's
# float result depends on its block's shape only, so pool shards starting at multiples of
# SIM_BLOCK rows give the unsharded pass's bits (scorers using this declare shard_align ≥ it).
SIM_BLOCK = 256


def query_similarity_table(ids, emb: np.ndarray, query_emb: np.ndarray, tasks: list[str],
                           chunk_rows: int = SIM_BLOCK) -> pd.DataFrame:
    """id, score (max over tasks), sim__<task> (max over the task's queries),
    qsim__<task>__<j> (each query), embedding.

    `emb` [n, d] and `query_emb` [q, d] must be L2-normalized (cosine = dot product).
    """
    ids = [str(i) for i in ids]
    qids = [f"query {j} (task {t})" for j, t in enumerate(tasks)]
    check_embeddings(emb, ids, "embedding")
    check_embeddings(query_emb, qids, "embedding")
    names = list(dict.fromkeys(tasks))
    cols = {t: np.flatnonzero(np.asarray(tasks) == t) for t in names}
    sims = np.empty((len(ids), len(names)), dtype=np.float64)
    per_query = np.empty((len(ids), len(tasks)), dtype=np.float32)
    q = query_emb.astype(np.float32)
    for s in range(0, len(ids), chunk_rows):
        block = emb[s:s + chunk_rows].astype(np.float32) @ q.T          # [rows, queries]
        per_query[s:s + chunk_rows] = block
        for k, t in enumerate(names):
            sims[s:s + chunk_rows, k] = block[:, cols[t]].max(axis=1)
    score = sims.max(axis=1)
    out = {"id": ids, "score": score}
    for k, t in enumerate(names):
        out[SIM_PREFIX + t] = sims[:, k]
    for t in names:
        for j, col in enumerate(cols[t]):
            out[query_column(t, j)] = per_query[:, col]
    out["embedding"] = list(np.asarray(emb, dtype=np.float32))   # row views of `emb`, no copy
    return pd.DataFrame(out)
