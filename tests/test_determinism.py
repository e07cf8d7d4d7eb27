"""Byte-identical reruns of every registered selector and of CPU score files (issue 10 §6).

Each selector runs twice through `selection.run.select` (what the `select` rule calls) on
the same pool, score file, embeddings (and DiverseEvol rounds) and seed; the two files must
be byte-identical. A new selector is covered automatically; one that needs inputs this test
does not build fails here until the test learns them.
"""

import json

import numpy as np
import pandas as pd
import pytest

from selectbench.pools import write_pool
from selectbench.selection import SELECTORS
from selectbench.selection.run import select

N = 60
PARAMS = {"kmeans_top": {"clusters": 4, "iters": 20}, "zip": {"k1": 30, "k2": 10, "k3": 5},
          "threshold_top": {"threshold": 3.0}, "diverse_evol": {"rounds": 2}}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("det")
    rng = np.random.default_rng(0)
    words = ["apple", "river", "stone", "cloud", "green", "quick", "seven", "music"]
    msgs = [[{"role": "user", "content": " ".join(rng.choice(words, 3 + i % 5))},
             {"role": "assistant", "content": " ".join(rng.choice(words, 2 + i % 7))}] for i in range(N)]
    pool = pd.DataFrame({"id": [f"r{i:03d}" for i in range(N)], "source": [f"s{i % 3}" for i in range(N)],
                         "messages": msgs, "origin": [f"f:{i}" for i in range(N)]})
    write_pool(pool, tmp / "pool.parquet", tmp / "stats.json")
    score = rng.uniform(0.05, 0.95, N).round(6)
    score[::7] = score[3]  # ties
    scores = pd.DataFrame({"id": pool["id"], "score": score,
                           "sim_a": rng.uniform(0, 1, N), "sim_b": rng.uniform(0, 1, N)})
    scores.to_parquet(tmp / "scores.parquet", index=False)
    emb = rng.normal(size=(N, 8)).astype(np.float32)
    pd.DataFrame({"id": pool["id"], "score": score, "embedding": list(emb)}).to_parquet(tmp / "emb.parquet",
                                                                                       index=False)
    (tmp / "rounds.json").write_text(json.dumps({"ids": list(pool["id"][rng.permutation(N)[:20]]),
                                                 "cost": {"wall_s": 1.0}}))
    return tmp


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_every_selector_reruns_byte_identical(inputs, name, tmp_path):
    spec = SELECTORS.get(name)
    params = dict(spec.params, **PARAMS.get(name, {}))
    scores = inputs / "scores.parquet"
    if name == "threshold_top":  # ratings 0–5
        df = pd.read_parquet(scores)
        df["score"] = (df["score"] * 5).round(1)
        scores = tmp_path / "ratings.parquet"
        df.to_parquet(scores, index=False)
    budget = None if not spec.uses_budget else 20
    outs = [tmp_path / f"{k}.json" for k in (1, 2)]
    for out in outs:
        select(inputs / "pool.parquet", inputs / "stats.json", scores if spec.needs_scores else None, "m", name,
               params, budget, 7, out,
               embeddings_path=inputs / "emb.parquet" if spec.needs_embeddings else None,
               rounds_path=inputs / "rounds.json" if name in ("diverse_evol", "mods") else None)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    rec = json.loads(outs[0].read_text())
    assert rec["n_selected"] == (N if budget is None else 20)


@pytest.mark.parametrize("scorer", ["length", "perplexity", "random"])
def test_cpu_score_files_rerun_byte_identical(tmp_path, tiny_model_dir, conversations, scorer):
    from selectbench.scoring import SCORERS
    from selectbench.scoring.run import score_pool

    pool = pd.DataFrame({"id": [f"e{i}" for i in range(9)], "source": ["s"] * 9,
                         "messages": conversations * 3, "origin": [f"f:{i}" for i in range(9)]})
    write_pool(pool, tmp_path / "pool.parquet", tmp_path / "stats.json")
    model = {"name_or_path": tiny_model_dir, "revision": None} if SCORERS.get(scorer).needs_model else None
    outs = [tmp_path / f"{k}.parquet" for k in (1, 2)]
    for out in outs:
        score_pool(tmp_path / "pool.parquet", tmp_path / "stats.json", scorer, {}, model, "cpu", 1, out,
                   tmp_path / f"{out.stem}.json")
    assert outs[0].read_bytes() == outs[1].read_bytes()
