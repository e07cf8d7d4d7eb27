"""Longest: "Chasing Random"'s variant (response characters, seeded shuffle, stable sort) vs a
plain transcription with `datasets.Dataset.shuffle` + Python's sort."""

import numpy as np
import pandas as pd
import pytest

from selectbench.errors import SelectbenchError
from selectbench.scoring import SCORERS
from selectbench.scoring.base import ScoreContext
from selectbench.selection import SELECTORS, SelectContext


def make_pool(n=50, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        msgs = [{"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": "x" * int(rng.integers(1, 8))}]  # many equal lengths
        if i % 5 == 0:
            msgs += [{"role": "user", "content": "more"}, {"role": "assistant", "content": "yy"}]
        rows.append(msgs)
    return pd.DataFrame({"id": [f"r{i}" for i in range(n)], "source": "s", "messages": rows})


def score(pool):
    spec = SCORERS.get("response_chars")
    return spec.fn(pool, ScoreContext(model=None, params=spec.resolved_params({}), device="cpu"))


def test_response_chars_counts_all_assistant_turns():
    pool = make_pool(6)
    s = score(pool)
    want = [sum(len(m["content"]) for m in msgs if m["role"] == "assistant") for msgs in pool["messages"]]
    assert s["score"].tolist() == want and s["id"].tolist() == pool["id"].tolist()


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_longest_shuffle_matches_datasets_shuffle_then_sort(seed):
    import datasets

    pool = make_pool()
    s = score(pool)
    ds = datasets.Dataset.from_dict({"id": pool["id"].tolist(), "chars": s["score"].tolist()}).shuffle(seed=seed)
    ref = sorted(zip(ds["id"], ds["chars"]), key=lambda r: r[1], reverse=True)[:20]
    got = SELECTORS.get("top_k").fn(SelectContext(pool, s, 20, seed, {"ties": "shuffle"}))
    assert got == [r[0] for r in ref]
    plain = SELECTORS.get("top_k").fn(SelectContext(pool, s, 20, seed, {}))
    assert sorted(s["score"].to_numpy()[[int(i[1:]) for i in plain]]) == \
        sorted(s["score"].to_numpy()[[int(i[1:]) for i in got]])          # same lengths, other ties
    with pytest.raises(SelectbenchError, match="ties must be"):
        SELECTORS.get("top_k").fn(SelectContext(pool, s, 20, seed, {"ties": "random"}))
