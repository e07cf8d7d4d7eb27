"""Every method of every paper config gets through its selector, fed the score columns that its
configured scorer writes (prefixes from the scorer modules, task names from the config's query set).

A first step of the miniature run (issue 17): this is the check that would have caught
rds_plus.yaml's LESS methods looking for `sim__<t>` where the `less` scorer writes `score__<t>`.
It calls the real selectors on synthetic scores; it does not run the scorers.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import selectbench.selection  # noqa: F401  (registers the selectors)
from selectbench.scoring.less import TASK_PREFIX as LESS_PREFIX
from selectbench.scoring.queries import QSIM_PREFIX, SIM_PREFIX
from selectbench.selection.base import SELECTORS, SelectContext

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ("rds_plus.yaml", "sft_at_scale.yaml", "chasing_random.yaml")
NEEDS_ROUNDS = {"diverse_evol", "mods"}      # selectors fed by the workflow's training rounds


def query_tasks(cfg) -> list[str]:
    tasks = []
    for spec in (cfg.get("query_sets") or {}).values():
        tasks += list((((spec or {}).get("build") or {}).get("params") or {}).get("tasks") or {})
    return tasks or ["t0", "t1"]


def paper_methods():
    for name in PAPERS:
        cfg = yaml.safe_load((ROOT / "config" / "papers" / name).read_text())
        for method, m in cfg["methods"].items():
            yield pytest.param(cfg, m, id=f"{name[:-5]}:{method}")


def score_table(scorer, ids, tasks, rng):
    n = len(ids)
    s = pd.DataFrame({"id": ids, "score": rng.uniform(0.2, 1.5, n)})
    if scorer in ("rds", "embed"):
        for t in tasks:
            q = rng.normal(size=(3, n))
            for j in range(3):
                s[f"{QSIM_PREFIX}{t}__{j}"] = q[j]
            s[f"{SIM_PREFIX}{t}"] = q.max(axis=0)
    elif scorer == "less":
        for t in tasks:
            s[f"{LESS_PREFIX}{t}"] = rng.normal(size=n)
    return s


@pytest.mark.parametrize("cfg,method", list(paper_methods()))
def test_paper_method_selects_from_its_scorers_columns(cfg, method):
    spec = SELECTORS.get(method["selector"])
    if spec.name in NEEDS_ROUNDS:
        pytest.skip("fed by training rounds: covered by the workflow tests")
    rng = np.random.default_rng(0)
    n, budget = 400, 30
    pool = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "source": [f"s{i % 5}" for i in range(n)],
                         "messages": [[{"role": "user", "content": f"question {i} " * (i % 7 + 1)},
                                       {"role": "assistant", "content": f"answer {i} " * (i % 5 + 1)}]
                                      for i in range(n)]})
    scores = score_table(method.get("scorer"), pool["id"], query_tasks(cfg), rng) if method.get("scorer") else None
    emb = None
    if spec.needs_embeddings:
        emb = rng.normal(size=(n, 16)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    params = dict(method.get("params") or {})
    if "clusters" in params:
        params["clusters"] = min(int(params["clusters"]), 8)     # a 400-row pool
    ctx = SelectContext(pool[list(spec.pool_columns)], scores, budget if spec.uses_budget else None, 0,
                        params, emb)
    ids = spec.fn(ctx)
    assert len(ids) == len(set(ids))
    assert set(ids) <= set(pool["id"])
    if spec.uses_budget:
        assert len(ids) == budget
