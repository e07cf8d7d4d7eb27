"""What was selected: composition, lengths, overlap, labelled rate on a tiny pool."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selectbench.analysis.selected import (composition, labels, lengths, overlap, response_lengths,
                                           write_composition_figure, write_selected)
from selectbench.errors import DataError


def _msgs(prompt, answer):
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


@pytest.fixture
def pool(tmp_path):
    rows = [("a", "s1", _msgs("q one", "one"), "none"),                 # response tokens: 1
            ("b", "s1", _msgs("q two", "two words"), "wrong_answer"),   # 2
            ("c", "s2", _msgs("q", "x, y z"), "none"),                  # 4 (x , y z)
            ("d", "s2", _msgs("q", "a b c d e f"), "truncated")]        # 6
    t = pa.table({"id": [r[0] for r in rows], "source": [r[1] for r in rows],
                  "messages": [r[2] for r in rows], "origin": ["f:1"] * 4, "defect": [r[3] for r in rows]})
    path = tmp_path / "pool.parquet"
    pq.write_table(t, path, row_group_size=2)
    return str(path)


def _sel(tmp_path, method, budget, seed, ids):
    p = tmp_path / f"{method}-{budget}-{seed}.json"
    p.write_text(json.dumps({"ids": ids}))
    return dict(pool="demo", method=method, budget=budget, seed=seed, path=str(p))


def _sels(tmp_path):
    return [_sel(tmp_path, "random", 2, 0, ["a", "c"]), _sel(tmp_path, "random", 2, 1, ["b", "c"]),
            _sel(tmp_path, "long", 2, 0, ["d", "c"])]


def test_response_lengths_columnar_in_batches(pool):
    assert response_lengths(pool, batch_rows=3).tolist() == [1, 2, 4, 6]


def test_composition(pool, tmp_path):
    comp = composition(_sels(tmp_path), {"demo": {"path": pool}}, "random")
    long = comp[(comp.method == "long")].set_index("source")
    assert long.loc["s2", "share"] == 1.0 and long.loc["s1", "share"] == 0.0
    assert long.loc["s2", "pool_share"] == 0.5
    assert long.loc["s2", "baseline_share"] == 0.5      # random: 1/2 and 1/2 over two seeds
    assert long.loc["s2", "share_minus_baseline"] == 0.5
    out = tmp_path / "comp.csv"
    write_selected("composition", _sels(tmp_path), {"demo": {"path": pool}}, "random", out)
    write_composition_figure(out, tmp_path / "comp.png")
    assert (tmp_path / "comp.png").read_bytes()[:4] == b"\x89PNG"


def test_lengths_from_text_and_from_length_scores(pool, tmp_path):
    df = lengths(_sels(tmp_path), {"demo": {"path": pool}}).set_index(["method", "seed"])
    assert df.loc[("(pool)", ""), "mean"] == pytest.approx(13 / 4)
    assert df.loc[("long", "0"), "mean"] == 5.0 and df.loc[("long", "0"), "q1"] == 6.0
    scores = tmp_path / "len.parquet"
    pd.DataFrame({"id": ["d", "c", "b", "a"], "score": [60, 40, 20, 10]}).to_parquet(scores)
    df = lengths(_sels(tmp_path), {"demo": {"path": pool, "length_scores": str(scores)}}).set_index(["method", "seed"])
    assert df.loc[("long", "0"), "mean"] == 50.0 and "len.parquet" in df.loc[("long", "0"), "length_from"]


def test_overlap_jaccard(pool, tmp_path):
    df = overlap(_sels(tmp_path), {"demo": {"path": pool}})
    assert len(df) == 1                                  # only seed 0 has two methods
    r = df.iloc[0]
    assert (r.method_a, r.method_b, r.intersection) == ("long", "random", 1)
    assert r.jaccard == pytest.approx(1 / 3)


def test_labelled_rate(pool, tmp_path):
    df = labels(_sels(tmp_path), {"demo": {"path": pool}}, "random").set_index(["method", "seed"])
    assert df.loc[("(pool)", ""), "labelled_rate"] == 0.5
    assert df.loc[("long", "0"), "labelled_rate"] == 0.5 and df.loc[("long", "0"), "pool_labelled_rate"] == 0.5
    assert df.loc[("long", "0"), "baseline_labelled_rate"] == pytest.approx(0.25)


def test_bad_input(pool, tmp_path):
    bad = _sel(tmp_path, "m", 1, 0, ["zz"])
    with pytest.raises(DataError, match="m-1-0.json: field 'ids': selected id 'zz' is not in the pool"):
        composition([bad], {"demo": {"path": pool}})
    nosource = tmp_path / "nosource.parquet"
    pq.write_table(pa.table({"id": ["a"]}), nosource)
    with pytest.raises(DataError, match="nosource.parquet: field 'source': no such column"):
        composition([], {"demo": {"path": str(nosource)}})
    scores = tmp_path / "short.parquet"
    pd.DataFrame({"id": ["a"], "score": [1]}).to_parquet(scores)
    with pytest.raises(DataError, match="short.parquet: field 'id': no score for pool id 'b'"):
        lengths([], {"demo": {"path": pool, "length_scores": str(scores)}})
