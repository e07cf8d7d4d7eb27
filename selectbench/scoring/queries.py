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


class QuerySimilarity:
    """The similarity table built chunk by chunk, so a scorer need not hold the pool's embeddings.

    `add` takes the next rows' unit-norm embeddings and keeps only their query similarities
    (4 bytes per query per row); `table` assembles `query_similarity_table`'s columns. Rows are
    multiplied in blocks of `block` rows counted from each added chunk's first row, so chunks whose
    sizes are multiples of `block` give the bits of one whole-pool call.
    """

    def __init__(self, query_emb: np.ndarray, tasks: list[str], block: int = SIM_BLOCK):
        check_embeddings(query_emb, [f"query {j} (task {t})" for j, t in enumerate(tasks)], "embedding")
        self.q = np.asarray(query_emb, dtype=np.float32)
        self.tasks = list(tasks)
        self.names = list(dict.fromkeys(self.tasks))
        self.cols = {t: np.flatnonzero(np.asarray(self.tasks) == t) for t in self.names}
        self.block = block
        self.parts: list[np.ndarray] = []

    def add(self, emb: np.ndarray) -> None:
        """The next rows' embeddings (finite: the scorers check each chunk with check_embeddings)."""
        out = np.empty((len(emb), len(self.tasks)), dtype=np.float32)
        for s in range(0, len(emb), self.block):
            out[s:s + self.block] = emb[s:s + self.block].astype(np.float32) @ self.q.T   # [rows, queries]
        self.parts.append(out)

    def table(self, ids, emb: np.ndarray | None = None) -> pd.DataFrame:
        """id, score, sim__<task>, qsim__<task>__<j>, and `embedding` when `emb` is given."""
        ids = [str(i) for i in ids]
        per_query = (np.concatenate(self.parts) if self.parts
                     else np.empty((0, len(self.tasks)), dtype=np.float32))
        self.parts = []
        if len(per_query) != len(ids):
            raise ScoreError(f"similarities of {len(per_query)} rows for {len(ids)} ids")
        sims = np.empty((len(ids), len(self.names)), dtype=np.float64)
        for k, t in enumerate(self.names):
            sims[:, k] = per_query[:, self.cols[t]].max(axis=1)
        out = {"id": ids, "score": sims.max(axis=1)}
        for k, t in enumerate(self.names):
            out[SIM_PREFIX + t] = sims[:, k]
        for t in self.names:
            for j, col in enumerate(self.cols[t]):
                out[query_column(t, j)] = per_query[:, col]
        if emb is not None:
            out["embedding"] = list(np.asarray(emb, dtype=np.float32))   # row views of `emb`, no copy
        return pd.DataFrame(out)


def query_similarity_table(ids, emb: np.ndarray, query_emb: np.ndarray, tasks: list[str],
                           chunk_rows: int = SIM_BLOCK) -> pd.DataFrame:
    """id, score (max over tasks), sim__<task> (max over the task's queries),
    qsim__<task>__<j> (each query), embedding.

    `emb` [n, d] and `query_emb` [q, d] must be L2-normalized (cosine = dot product).
    """
    check_embeddings(emb, [str(i) for i in ids], "embedding")
    sim = QuerySimilarity(query_emb, tasks, chunk_rows)
    sim.add(emb)
    return sim.table(ids, emb)
