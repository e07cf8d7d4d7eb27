"""`round_robin`: multi-task selection of RDS+ (Ivison et al. 2025, Algorithm 1).

Each task t ranks the pool by its column `sim__<t>` (highest first, ties in pool
order). Tasks take turns, in column order, each taking its best example not yet
selected, until the budget is reached. An example already taken by one task is
skipped by the others (they take their next best instead), so every turn adds one
example and the result has exactly `budget` distinct ids.

Single task (`single_task`, default `queries`): the RDS+ reference code that
produced the paper's single-task selections (`get_top_influences.py
--selection_method max`) round-robins over the task's individual *query points*
(score columns `qsim__<task>__<j>`): each query in turn pops its next most similar
example; an example another query already took is skipped and that turn adds
nothing. Selection stops at exactly `budget` (the reference overshoots by up to
#queries − 1 and then drops an arbitrary set-ordered tail). `single_task: max`
ranks by the task's max-over-queries similarity instead (then it equals `top_k`
on `sim__<task>`).

Task columns are `sim__<t>` (scorers `rds`, `embed`) or, where a score file has none,
`score__<t>` (scorer `less`, one influence column per target task), so the same
single- and multi-task rules apply to LESS.

Several tasks (`collision`): `next` (the default) skips a row another task already
took and takes the task's next best, so every turn adds a row. `turn` is the RDS+
reference (`get_top_aggregated_influences.py`): each task pops its best remaining row,
and a row another task already took *uses up* the turn (adds nothing). Both stop at
exactly `budget` rows; the reference overshoots and then drops a set-ordered tail.
Tasks go in score-file column order (the order of the query file's tasks).

With no task columns the `score` column is the single task, and the selection
equals `top_k`.
"""

from __future__ import annotations

import numpy as np

from ..errors import SelectbenchError
from .base import SelectContext, selector

SIM_PREFIX = "sim__"
QSIM_PREFIX = "qsim__"
LESS_PREFIX = "score__"          # the `less` scorer's per-task influence columns
COLLISIONS = ("next", "turn")


def task_prefix(scores) -> str:
    """`sim__` where the score file has such columns, else `score__` where it has those (LESS)."""
    names = [str(c) for c in scores.columns]
    if any(c.startswith(SIM_PREFIX) for c in names):
        return SIM_PREFIX
    if any(c.startswith(LESS_PREFIX) for c in names):
        return LESS_PREFIX
    return SIM_PREFIX


def task_columns(scores, tasks=None) -> list[str]:
    pre = task_prefix(scores)
    cols = [c for c in scores.columns if str(c).startswith(pre)]
    if tasks is not None:
        tasks = [tasks] if isinstance(tasks, str) else list(tasks)
        have = {c[len(pre):]: c for c in cols}
        missing = [t for t in tasks if t not in have]
        if missing:
            raise SelectbenchError(f"round_robin: task '{missing[0]}' has no column '{pre}{missing[0]}' "
                                   f"in the score file; tasks there: {', '.join(have) or '(none)'}")
        return [have[t] for t in tasks]
    return cols or ["score"]


def round_robin_order(columns: list[np.ndarray], budget: int) -> list[int]:
    """Row indices in selection order: tasks take turns, each its best unselected row."""
    n = len(columns[0])
    if budget > n:
        raise SelectbenchError(f"round_robin: budget {budget} exceeds the pool ({n} rows)")
    orders = [np.argsort(-c, kind="stable") for c in columns]
    pointer = [0] * len(orders)
    taken = np.zeros(n, dtype=bool)
    out: list[int] = []
    while len(out) < budget:
        for t, order in enumerate(orders):
            if len(out) == budget:
                break
            p = pointer[t]
            while taken[order[p]]:          # budget <= n, so an untaken row always remains
                p += 1
            taken[order[p]] = True
            out.append(int(order[p]))
            pointer[t] = p + 1
    return out


def query_columns(scores, task_column: str) -> list[str]:
    """The per-query columns `qsim__<task>__<j>` of a task column `sim__<task>`, in j order."""
    if not task_column.startswith(SIM_PREFIX):
        return []                                     # LESS keeps no per-query columns
    task = task_column[len(SIM_PREFIX):]
    pre = f"{QSIM_PREFIX}{task}__"
    found = {int(c[len(pre):]): c for c in scores.columns
             if str(c).startswith(pre) and c[len(pre):].isdigit()}
    return [found[j] for j in sorted(found)]


def _top_positions(v: np.ndarray, m: int) -> np.ndarray:
    """Positions of the m highest values, highest first, ties in pool order (exact, O(n))."""
    n = len(v)
    if m >= n:
        return np.argsort(-v, kind="stable")
    thr = np.partition(v, n - m)[n - m]                 # the m-th highest value
    above = np.flatnonzero(v > thr)
    at = np.flatnonzero(v == thr)[: m - len(above)]
    idx = np.concatenate([above, at])
    return idx[np.argsort(-v[idx], kind="stable")]


def query_round_robin_order(columns: list[np.ndarray], budget: int) -> list[int]:
    """Row indices in selection order: queries take turns popping their next best row;
    a row already selected is popped without being added (the reference's rule)."""
    n = len(columns[0])
    if budget > n:
        raise SelectbenchError(f"round_robin: budget {budget} exceeds the pool ({n} rows)")
    depth = min(n, budget)
    orders = [_top_positions(c, depth) for c in columns]
    pointer = [0] * len(columns)
    taken = np.zeros(n, dtype=bool)
    out: list[int] = []
    while len(out) < budget:
        for q, c in enumerate(columns):
            if len(out) == budget:
                break
            if pointer[q] == len(orders[q]):          # went deeper than precomputed: full order
                orders[q] = np.argsort(-c, kind="stable")
            row = int(orders[q][pointer[q]])
            pointer[q] += 1
            if not taken[row]:
                taken[row] = True
                out.append(row)
    return out


def _finite(ctx, c) -> np.ndarray:
    v = ctx.scores[c].to_numpy(dtype=float)
    bad = ~np.isfinite(v)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SelectbenchError(f"round_robin: column '{c}' of id '{ctx.scores['id'].iloc[i]}' is {v[i]!r}")
    return v


@selector("round_robin", needs_scores=True,
          params={"tasks": None, "single_task": "queries", "collision": "next"})
def round_robin(ctx: SelectContext) -> list[str]:
    """Tasks (`sim__<task>` or LESS's `score__<task>` columns, or `tasks:` a subset) take turns
    picking their best example (`collision: next` skips taken rows, `turn` is the RDS+ reference's
    used-up turn); a single task round-robins over its query points (`single_task: queries`)."""
    cols = task_columns(ctx.scores, ctx.params.get("tasks"))
    mode = ctx.params.get("single_task", "queries")
    if mode not in ("queries", "max"):
        raise SelectbenchError(f"round_robin: single_task must be 'queries' or 'max' (got {mode!r})")
    collision = ctx.params.get("collision", "next")
    if collision not in COLLISIONS:
        raise SelectbenchError(f"round_robin: collision must be one of {', '.join(COLLISIONS)} "
                               f"(got {collision!r})")
    if len(cols) == 1 and cols[0] != "score" and mode == "queries":
        qcols = query_columns(ctx.scores, cols[0])
        if not qcols:
            raise SelectbenchError(
                f"round_robin: no per-query columns for task column '{cols[0]}' in the score file "
                "(rescore with this version, or set params.single_task: max; LESS keeps none)")
        idx = query_round_robin_order([_finite(ctx, c) for c in qcols], ctx.budget)
        return ctx.scores["id"].iloc[idx].astype(str).tolist()
    columns = [_finite(ctx, c) for c in cols]
    if collision == "turn" and len(columns) > 1:
        idx = query_round_robin_order(columns, ctx.budget)   # same rule: a taken row uses up the turn
    else:
        idx = round_robin_order(columns, ctx.budget)
    return ctx.scores["id"].iloc[idx].astype(str).tolist()
