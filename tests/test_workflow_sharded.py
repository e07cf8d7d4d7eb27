"""`compute.score_shard_rows` through the workflow: static shard jobs, gather, one shard reruns alone.

A 300-row demo pool scored by `length` in shards of 100 rows (3 shard jobs + 1 gather),
byte-identical to the unsharded `score` job's file; `--dag` shows the shards; a missing
shard is the only score job planned again. ~1 min on 2 cores.
"""

import copy
import filecmp
import json
import re
import subprocess
import sys

import pytest
import yaml

from test_workflow import REPO, small_config, snakemake

pytestmark = pytest.mark.slow

SCORE = "results/scores/demo/length/tiny.parquet"
TARGET = "results/selections/demo/longest/b40/s0.json"


def job_counts(text):
    """rule → count from Snakemake's 'Job stats' table."""
    block = text.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", block, re.M) if m.group(1) != "total"}


def configs(wd):
    cfg = small_config()
    cfg["methods"] = {k: cfg["methods"][k] for k in ("random", "longest")}
    sharded = copy.deepcopy(cfg)
    sharded["compute"]["score_shard_rows"] = 100
    paths = {}
    for name, c in (("plain", cfg), ("sharded", sharded)):
        paths[name] = wd / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(c))
    return paths


def test_sharded_scoring_through_the_workflow(tmp_path):
    wd = tmp_path
    cfg = configs(wd)
    plan = snakemake(wd, cfg["sharded"], TARGET, "-n").stdout
    counts = job_counts(plan)
    assert counts["score_shard"] == 3 and counts["score_gather"] == 1 and "score" not in counts
    dag = snakemake(wd, cfg["sharded"], TARGET, "--dag", "dot").stdout
    assert dag.count("score_shard") >= 3 and "shard: 2" in dag

    snakemake(wd, cfg["sharded"], TARGET, "--notemp")
    shards = sorted((wd / "results/scores/demo/length/tiny.shards").glob("*.parquet"))
    assert [p.name for p in shards] == ["0.parquet", "1.parquet", "2.parquet"]
    assert (wd / "logs/scores/demo/length/tiny.shards/1.log").exists()
    assert (wd / "benchmarks/scores/demo/length/tiny.shards/1.tsv").exists()

    # a run where shard 1 failed (others done, nothing merged): shard 1 is the only score job planned
    sharded_copy = wd / "sharded.parquet"
    sharded_copy.write_bytes((wd / SCORE).read_bytes())
    for p in (shards[1], wd / SCORE, wd / SCORE.replace(".parquet", ".json")):
        p.unlink()
    counts = job_counts(snakemake(wd, cfg["sharded"], SCORE, "-n").stdout)
    assert counts == {"score_shard": 1, "score_gather": 1}

    # the unsharded `score` job writes the same bytes
    snakemake(wd, cfg["plain"], SCORE, "--forcerun", "score")
    assert filecmp.cmp(wd / SCORE, sharded_copy, shallow=False)
    # ... and the run's end dropped the record of the deleted shard file, kept those beside the others
    left = {p.name for p in (wd / "results/scores/demo/length/tiny.shards").iterdir()}
    assert "1.parquet.prov.json" not in left and "1.json.prov.json" in left
    assert {f"{i}.{x}.prov.json" for i in (0, 2) for x in ("json", "parquet")} <= left

    # without --notemp the shards go after the gather, and so do their records; the gather's
    # record keeps them, so the audit still traces the score file through its shards
    snakemake(wd, cfg["sharded"], SCORE, "--forcerun", "score_shard")
    assert not list((wd / "results/scores/demo/length/tiny.shards").glob("*"))
    trace = json.loads(subprocess.run([sys.executable, "-m", "selectbench.cli", "audit", "trace", SCORE, "--json"],
                                      cwd=wd, capture_output=True, text=True, check=True).stdout)
    shard_nodes = [n for n in trace["inputs"] if ".shards/" in n["path"]]
    assert len(shard_nodes) == 6 and {n["status"] for n in shard_nodes} == {"removed (temporary)"}
    assert {n["rule"] for n in shard_nodes} == {"score_shard"}
    assert any(i["path"] == "results/pools/demo/pool.parquet" for n in shard_nodes for i in n["inputs"])

    # an output deleted by hand: its record is an orphan, listed (exit 1) and removed on request
    (wd / TARGET).unlink()
    audit = [sys.executable, "-m", "selectbench.cli", "audit", "orphans", "-d", str(wd)]
    res = subprocess.run(audit, capture_output=True, text=True)
    assert res.returncode == 1 and res.stdout.split() == [str(wd / (TARGET + ".prov.json"))], res
    assert subprocess.run(audit + ["--remove"], capture_output=True, text=True).returncode == 0
    assert subprocess.run(audit, capture_output=True, text=True).returncode == 0


def test_sharding_refused_when_not_aligned_to_a_scorers_block(tmp_path):
    cfg = small_config()
    cfg["compute"]["score_shard_rows"] = 100           # perplexity (ppl_low) batches in 1024-row blocks
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = snakemake(tmp_path, path, "-n", check=False)
    assert res.returncode != 0
    assert "compute.score_shard_rows: 100 is not a multiple of 1024" in res.stdout + res.stderr
