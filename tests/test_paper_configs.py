"""The seed papers' configs: valid, each method in its paper's variant, planned offline with the
job counts config/papers/README.md lists (network blocked: hub pools/models must not be touched at planning)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selectbench.config import load_config

ROOT = Path(__file__).resolve().parents[1]
PAPERS = sorted((ROOT / "config" / "papers").glob("*.yaml"))


def readme_counts() -> dict[str, int]:
    text = (ROOT / "config" / "papers" / "README.md").read_text()
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^\| `config/papers/([\w.]+\.yaml)` \|.*\| (\d+) \| [^|]* \|$", text, re.M)}


def test_every_paper_config_is_listed():
    assert {p.name for p in PAPERS} == {"chasing_random.yaml", "rds_plus.yaml", "sft_at_scale.yaml"}
    assert set(readme_counts()) == {p.name for p in PAPERS}


@pytest.mark.parametrize("path", PAPERS, ids=lambda p: p.stem)
def test_plans_offline_with_the_readme_job_count(path, tmp_path):
    load_config(path)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HTTP_PROXY="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--configfile", str(path),
                          "--directory", str(tmp_path), "--snakefile", str(ROOT / "Snakefile")],
                         capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    total = int(re.search(r"^total\s+(\d+)", out.stdout + out.stderr, re.M).group(1))
    assert total == readme_counts()[path.name]


def methods(name):
    with open(ROOT / "config" / "papers" / name) as fh:
        return yaml.safe_load(fh)["methods"]


def test_each_paper_runs_its_own_variant():
    cr = methods("chasing_random.yaml")
    assert cr["alpagasus"]["scorer"] == "alpagasus_api"
    assert cr["alpagasus"]["params"] == {"threshold": 4, "over_budget": "top"}
    assert cr["longest"] == {**cr["longest"], "scorer": "response_chars", "selector": "top_k",
                             "params": {"ties": "shuffle"}}
    assert cr["deita"]["params"]["threshold"] == 0.9
    rds = methods("rds_plus.yaml")
    single = [m for m in rds.values() if m.get("scorer") in ("rds", "embed") and "tasks" in m.get("params", {})]
    assert len(single) == 12 and all(m.get("params", {}).get("single_task", "queries") == "queries" for m in single)
    assert rds["ppl_mid"]["selector"] == "mid_percentile"
    sft = methods("sft_at_scale.yaml")
    assert sft["ifd_km"]["params"]["max_score"] == 1.0
    assert sft["ifd_km"]["params"]["demote_equal"] is False              # data_by_IFD.py: IFD > 1 → 0
    assert rds["less_multi"]["params"]["collision"] == "turn"             # get_top_aggregated_influences.py
    with open(ROOT / "config" / "papers" / "sft_at_scale.yaml") as fh:    # sentence_level.py's SelectIT
        assert yaml.safe_load(fh)["scoring"]["selectit"]["variant"] == "sft_at_scale"
    for name in ("rds_plus.yaml", "sft_at_scale.yaml"):                   # both codes: s(A) after a header
        with open(ROOT / "config" / "papers" / name) as fh:
            assert yaml.safe_load(fh)["scoring"]["ifd"]["direct_context"] == "header"
    assert sft["zip"]["params"].get("reference_code", True) is True
    assert {"token_length", "cross_entropy", "ifd", "selectit", "less", "zip", "diverse_evol", "full",
            "random"} <= set(sft)
    exp = load_config(ROOT / "config" / "papers" / "chasing_random.yaml")
    assert "tulu_v2_mix" not in exp.selected_pools and "flan" in exp.selected_pools


def declared_memory(config_name, tmp_path):
    """(rule, wildcards) → mem_mb of `snakemake -n` on a paper config, with 1,000 MiB floors."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile",
                          str(ROOT / "config" / "papers" / config_name), "--directory", str(tmp_path),
                          "--snakefile", str(ROOT / "Snakefile"), "--config",
                          "compute={resources: {score: {mem_mb: 1000}, normalize: {mem_mb: 1000}}}"],
                         capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = {}
    for block in re.split(r"^rule ", out.stdout + out.stderr, flags=re.M)[1:]:
        wc = re.search(r"wildcards: (.*)", block)
        mem = re.search(r"mem_mb=(\d+)", block)
        if wc and mem:
            jobs[(block.split(":", 1)[0], wc.group(1))] = int(mem.group(1))
    return jobs


def test_declared_memory_follows_rows_and_shards(tmp_path):
    """mem_mb from the pool's declared rows (normalize) and, for a score shard, the shard's rows:
    a streaming scorer's shard of 262,144 rows asks 3,072 + 256 B × rows MiB, whatever the pool's
    size (POOL_MEMORY in rules/common.smk)."""
    jobs = declared_memory("sft_at_scale.yaml", tmp_path)
    shard = 262144
    assert jobs[("score_shard", "pool=openhermes, scorer=selectit, scorer_model=llama3-8b, shard=0")] == \
        3072 + 256 * shard // 2**20
    assert jobs[("score_shard", "pool=wildchat, scorer=length, scorer_model=llama3-8b, shard=2")] == \
        3072 + 256 * shard // 2**20
    # normalize: the whole pool's declared rows (1,001,551)
    assert jobs[("normalize_pool", "pool=openhermes")] == 1024 + -(-64 * 1001551 // 2**20)
    # rds feeds k-means here (`embedding:`): its file keeps the [rows, d] embeddings (d = 4,096
    # unless the model's config.json is on disk)
    assert jobs[("score_gather", "pool=openhermes, scorer=rds, scorer_model=llama3-8b")] >= \
        3072 + (8 * 4096 + 8 * 512 + 256) * 1001551 // 2**20


def test_rds_plus_score_jobs_hold_similarities_not_embeddings(tmp_path):
    """RDS+ selects on similarities only: its rds/embed score files over 5.8M rows keep no
    embedding column, so their jobs declare (8 · 512 query columns + 256) B per row, not 8 · d more."""
    jobs = declared_memory("rds_plus.yaml", tmp_path)
    rows = 5_800_000
    for scorer, model in (("rds", "llama2-7b"), ("embed", "gtr-t5-base")):
        assert jobs[("score_gather", f"pool=tulu_unfiltered, scorer={scorer}, scorer_model={model}")] == \
            3072 + -(-(8 * 512 + 256) * rows // 2**20)


def test_chasing_random_runs_alpaca_eval_as_a_judged_win_rate():
    with open(ROOT / "config" / "papers" / "chasing_random.yaml") as fh:
        wr = yaml.safe_load(fh)["evaluation"]["winrate"]["alpaca_eval"]
    assert wr["instructions"]["hub"] == "tatsu-lab/alpaca_eval" and wr["instructions"]["id_field"] is None
    assert wr["reference"] == {"field": "output"} and wr["judge"]["api_url"].startswith("https://")
    assert "model" not in wr["judge"]


@pytest.mark.slow   # plans every paper config twice (make test-fast skips it)
def test_how_a_paper_config_is_written_changes_no_job_or_param(tmp_path):
    """Issue 21 §1: the same rds_plus study written with every mapping reversed, sorted by a YAML
    dumper, or as JSON (which Snakemake reads into OrderedDicts) plans the same jobs with the same
    params, compared as Snakemake compares them for a rerun."""
    import json

    from plan_params import reversed_keys

    cfg = yaml.safe_load((ROOT / "config" / "papers" / "rds_plus.yaml").read_text())
    variants = {"reversed.yaml": yaml.safe_dump(reversed_keys(cfg), sort_keys=False),
                "sorted.yaml": yaml.safe_dump(cfg), "as.json": json.dumps(cfg, indent=1)}
    plans = {}
    for name, text in {"given.yaml": (ROOT / "config" / "papers" / "rds_plus.yaml").read_text(),
                       **variants}.items():
        (tmp_path / name).write_text(text)
        res = subprocess.run([sys.executable, str(ROOT / "tests" / "plan_params.py"), str(ROOT / "Snakefile"),
                              str(tmp_path / name), str(tmp_path / ("wd_" + name))],
                             capture_output=True, text=True, cwd=ROOT,
                             env=dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1"))
        assert res.returncode == 0, res.stderr[-3000:]
        plans[name] = res.stdout
    assert len(json.loads(plans["given.yaml"])) > 200   # 303 jobs
    for name in variants:
        assert plans[name] == plans["given.yaml"], name
