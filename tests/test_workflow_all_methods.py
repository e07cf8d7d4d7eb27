"""Every method of config/demo_all.yaml, end to end through the workflow, on a shrunken demo.

Covers the wiring of the training-based stages (LESS warm-up, IFD's pre-experienced model,
DiverseEvol rounds), embeddings for "km"/DEITA, query sets, and the cost table.
"""

import json

import pandas as pd
import pytest
import yaml

from test_workflow import REPO, run_config

pytestmark = pytest.mark.slow   # a whole workflow run (make test-fast skips it)


def shrunken_all_methods():
    cfg = yaml.safe_load((REPO / "config/demo_all.yaml").read_text())
    cfg["pools"]["demo"]["rows"] = 240
    cfg["pools"]["demo"]["build"]["params"]["n_rows"] = 240
    p = cfg["models"]["tiny"]["build"]["params"]
    p.update(hidden_size=32, num_layers=1, num_heads=2, pretrain_docs=200, pretrain_steps=5, vocab_size=1024)
    cfg["models"]["tiny_cherry"]["build"]["params"].update(clusters=4, per_cluster=3)
    cfg["models"]["tiny_cherry"]["build"]["params"]["preset"]["epochs"] = 1
    cfg["warmups"]["less_warm"]["preset"]["epochs"] = 2
    cfg["methods"]["diverse_evol"]["params"]["preset"]["epochs"] = 1
    cfg["methods"]["zip"]["params"] = {"k1": 60, "k2": 20, "k3": 5}
    for m in cfg["methods"].values():
        if m.get("selector") == "kmeans_top":
            m["params"]["clusters"] = 4
    cfg["scoring"]["less"]["proj_dim"] = 64
    cfg["budgets"] = [30]
    cfg["finetune"]["presets"]["lora"]["epochs"] = 1
    cfg["evaluation"]["local_tasks"]["params"]["n_per_task"] = 10
    cfg["query_sets"]["demo_dev"]["build"]["params"].update(n_per_task=10, per_task=3)
    for t in cfg["evaluation"]["tasks"].values():
        t["limit"] = 5
    cfg["evaluation"]["winrate"]["demo"]["instructions"]["build"]["params"]["n_per_task"] = 2
    cfg["evaluation"]["winrate"]["demo"]["max_new_tokens"] = 4
    return cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("wf_all")
    cfg = shrunken_all_methods()
    run_config(wd, cfg, "all.yaml")
    return wd, cfg


def test_every_method_selected_trained_and_evaluated(run):
    wd, cfg = run
    tidy = pd.read_csv(wd / "results/reports/tidy.csv")
    assert set(tidy["method"]) == set(cfg["methods"]) | {"base"}
    for method in cfg["methods"]:
        budget = "all" if method == "full" else "30"
        sel = json.loads((wd / f"results/selections/demo/{method}/b{budget}/s0.json").read_text())
        assert sel["n_selected"] == (240 if method == "full" else 30), method


def test_score_files_keep_embeddings_only_where_read(run):
    """embed/minilm feeds k-means and the DEITA filter (`embedding:`): its score file keeps the
    embedding column; rds/tiny is read for its similarities only, so its file has none."""
    wd, _ = run
    import pyarrow.parquet as pq

    for scorer, model, kept in (("embed", "minilm", True), ("rds", "tiny", False)):
        path = wd / "results" / "scores" / "demo" / scorer / f"{model}.parquet"
        assert ("embedding" in pq.read_schema(path).names) is kept, path
        assert json.loads(path.with_suffix(".json").read_text())["embeddings"] is kept
        assert "score" in pq.read_schema(path).names


def test_judged_win_rate_reaches_the_reports_and_the_cost(run):
    wd, cfg = run
    tidy = pd.read_csv(wd / "results/reports/tidy.csv")
    wr = tidy[tidy["task"] == "winrate_demo"]
    assert set(wr["metric"]) == {"win_rate", "winning_score", "win_rate_ties_half"}
    assert set(wr["method"]) == set(cfg["methods"]) | {"base"} and (wr["n"] == 4).all()
    sig = pd.read_csv(wd / "results/reports/significance.csv")
    assert (sig["task"] == "winrate_demo").any()
    measured = pd.read_csv(wd / "results/reports/cost_measured.csv")
    assert len(measured) == len(cfg["methods"])


def test_training_stages_are_declared_outputs(run):
    wd, _ = run
    warm = json.loads((wd / "results/warmups/demo/less_warm/warmup.json").read_text())
    assert warm["epochs"] == 2 and (wd / "results/warmups/demo/less_warm/epoch_1").is_dir()
    assert (wd / "results/models/tiny_cherry/build_metrics.json").exists()
    assert (wd / "results/rounds/demo/diverse_evol/b30/s0/r1_model/adapter_model.safetensors").exists()
    r1 = json.loads((wd / "results/rounds/demo/diverse_evol/b30/s0/r1.json").read_text())
    r0 = json.loads((wd / "results/rounds/demo/diverse_evol/b30/s0/r0.json").read_text())
    assert r1["ids"][:15] == r0["ids"] and len(r1["ids"]) == 30


def test_cost_counts_training_based_selection(run):
    wd, _ = run
    cost = pd.read_csv(wd / "results/reports/cost.csv").set_index("method")
    for method in ("less", "diverse_evol", "ifd_pre", "longest_km", "deita"):
        assert cost.loc[method, "selection_flops"] > 0, method
    assert cost.loc["random", "selection_flops"] == 0
    assert cost.loc["zip", "selection_wall_s"] > 0        # the select job's own time (compression)
    assert cost.loc["ifd_pre", "selection_flops"] > cost.loc["ifd", "selection_flops"]
