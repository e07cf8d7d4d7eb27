"""Derived pools: seeded subsample, source filter, mixture; streamed writing; config checks; the rule."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from selectbench.config import check_config
from selectbench.errors import ConfigError, DataError
from selectbench.pools import pool_stats, read_pool, write_pool
from selectbench.pools.derive import derive_pool

ROOT = Path(__file__).resolve().parents[1]


def make_parent(tmp_path, name, n, sources=("a", "b", "c"), prefix=None, labels=True):
    prefix = prefix or name
    df = pd.DataFrame({
        "id": [f"{prefix}-{i}" for i in range(n)],
        "source": [sources[i % len(sources)] for i in range(n)],
        "messages": [[{"role": "user", "content": f"question {i} " * (i % 4 + 1)},
                      {"role": "assistant", "content": f"answer {i}"}] for i in range(n)],
        "origin": [f"{name}.jsonl:{i + 1}" for i in range(n)],
    })
    if labels:
        df["defect"] = [["none", "wrong"][i % 7 == 0] for i in range(n)]
    p = tmp_path / name / "pool.parquet"
    write_pool(df, p, tmp_path / name / "stats.json")
    return p, df


def run(tmp_path, parents, spec, rows, batch_rows=16):
    out = tmp_path / "out" / "pool.parquet"
    stats = derive_pool(parents, spec, rows, out, tmp_path / "out" / "stats.json", name="d", batch_rows=batch_rows)
    return read_pool(out), stats


def test_subsample_is_seeded_ordered_and_stats_equal_pool_stats(tmp_path):
    p, df = make_parent(tmp_path, "big", 300)
    got, stats = run(tmp_path, [("big", p)], {"from": "big", "subsample": 50, "seed": 3}, 50)
    want = np.sort(np.random.default_rng(3).choice(300, size=50, replace=False))
    assert got["id"].tolist() == df["id"].iloc[want].tolist()           # parent order kept
    assert got.columns.tolist() == df.columns.tolist()
    assert got["messages"].tolist() == df["messages"].iloc[want].tolist()
    assert stats == pool_stats(got)                                      # streamed stats = whole-table stats
    again, _ = run(tmp_path, [("big", p)], {"from": "big", "subsample": 50, "seed": 3}, 50, batch_rows=7)
    assert again.equals(got)                                             # batch size does not matter
    other, _ = run(tmp_path, [("big", p)], {"from": "big", "subsample": 50, "seed": 4}, 50)
    assert other["id"].tolist() != got["id"].tolist()


def test_source_filter_and_mixture(tmp_path):
    p1, df1 = make_parent(tmp_path, "x", 60)
    p2, df2 = make_parent(tmp_path, "y", 40, sources=("d",))
    got, stats = run(tmp_path, [("x", p1)], {"from": "x", "sources": ["b"]}, 20)
    assert set(got["source"]) == {"b"} and got["id"].tolist() == df1[df1["source"] == "b"]["id"].tolist()
    got, stats = run(tmp_path, [("x", p1), ("y", p2)], {"from": ["x", "y"], "subsample": {"a": 5, "d": 7}, "seed": 0}, 12)
    assert stats["rows_per_source"] == {"a": 5, "d": 7} and stats == pool_stats(got)
    got, _ = run(tmp_path, [("x", p1), ("y", p2)], {"from": ["x", "y"], "subsample": {"x": 3, "y": 2}}, 5)
    assert [i.split("-")[0] for i in got["id"]] == ["x"] * 3 + ["y"] * 2


def test_errors_leave_no_output(tmp_path):
    p, _ = make_parent(tmp_path, "big", 30)
    out = tmp_path / "out" / "pool.parquet"
    with pytest.raises(ConfigError, match="declared 10, the derivation gives 12"):
        run(tmp_path, [("big", p)], {"from": "big", "subsample": 12}, 10)
    with pytest.raises(ConfigError, match="40 rows asked, 30 available"):
        run(tmp_path, [("big", p)], {"from": "big", "subsample": 40}, 40)
    with pytest.raises(ConfigError, match="no row has source 'zz'.*a, b, c"):
        run(tmp_path, [("big", p)], {"from": "big", "sources": ["zz"]}, 1)
    p2, _ = make_parent(tmp_path, "dup", 5, prefix="big")
    with pytest.raises(DataError, match="id 'big-0' occurs in more than one parent"):
        run(tmp_path, [("big", p), ("dup", p2)], {"from": ["big", "dup"]}, 35)
    assert not out.exists() and not list((tmp_path / "out").glob(".*"))


def base_config():
    with open(ROOT / "config" / "demo.yaml") as fh:
        return yaml.safe_load(fh)


def test_config_checks_derived_pools():
    cfg = base_config()
    parent = next(iter(cfg["pools"]))
    cfg["pools"]["small"] = {"rows": 500, "derive": {"from": parent, "subsample": 500, "seed": 1}}
    check_config(copy.deepcopy(cfg))
    bad = copy.deepcopy(cfg)
    bad["pools"]["small"]["derive"]["from"] = parent + "x"
    with pytest.raises(ConfigError, match="unknown pool"):
        check_config(bad)
    bad = copy.deepcopy(cfg)
    bad["pools"]["small"]["rows"] = 499
    with pytest.raises(ConfigError, match="declared 499, but derive.subsample gives 500"):
        check_config(bad)
    bad = copy.deepcopy(cfg)
    bad["pools"]["small"]["sources"] = cfg["pools"][parent]["sources"]
    with pytest.raises(ConfigError, match="does not match"):
        check_config(bad)
    bad = copy.deepcopy(cfg)
    bad["pools"]["loop"] = {"rows": 500, "derive": {"from": "small"}}
    bad["pools"]["small"]["derive"]["from"] = "loop"
    with pytest.raises(ConfigError, match="derives from itself"):
        check_config(bad)
    bad = copy.deepcopy(cfg)
    bad["pools"]["small"]["derive"]["subsample"] = 0
    with pytest.raises(ConfigError, match="does not match"):
        check_config(bad)


def test_workflow_plans_a_derived_pool_from_its_parent(tmp_path):
    """`snakemake -n` on the demo with a derived pool: derive_pool reads the parent's normalized pool."""
    cfg = base_config()
    parent = next(iter(cfg["pools"]))
    cfg["pools"]["small"] = {"rows": 500, "derive": {"from": parent, "subsample": 500, "seed": 1}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(path), "--quiet", "rules",
                          "--directory", str(tmp_path / "wd"), "--snakefile", str(ROOT / "Snakefile"),
                          "results/pools/small/stats.json"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "derive_pool" in text and "normalize_pool" in text
