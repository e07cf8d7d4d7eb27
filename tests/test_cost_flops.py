"""The fixed-length FLOPs model (2503.01807) and `selectbench cost estimate`, on hand-computed numbers."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from selectbench.analysis.flops import estimate, model_params, tiny_llama_params
from selectbench.cli import main
from selectbench.config import check_config

ROOT = Path(__file__).resolve().parent.parent
# the demo's tiny Llama: V=4096, h=128, 2 layers, intermediate 4h, tied embeddings
TINY = 4096 * 128 + 2 * (4 * 128 * 128 + 3 * 128 * 512 + 2 * 128) + 128
MINILM = 0.0227e9


def _config(name):
    return yaml.safe_load((ROOT / "config" / name).read_text())


def test_tiny_llama_params_formula():
    assert TINY == 1_049_216
    assert tiny_llama_params(_config("demo.yaml")["models"]["tiny"]["build"]["params"]) == TINY


def test_model_params_declared_derived_or_error():
    cfg = _config("demo_all.yaml")
    assert model_params(cfg["models"], "minilm") == 22_700_000
    assert model_params(cfg["models"], "tiny_cherry") == TINY        # a pre-experienced model: its base
    with pytest.raises(Exception, match="models.m: declare 'params_b'"):
        model_params({"m": {"hub": "x/y"}}, "m")


def test_demo_estimate_formulas(tmp_path):
    df = estimate(check_config(_config("demo.yaml")), tmp_path, tokens_per_row_fallback=100)
    df = df.set_index(["method", "budget", "seed"])
    L, y, E = 100, 2000, 3
    assert df.loc[("random", "150", 0), "finetune_flops"] == 6 * TINY * L * 150 * E
    assert df.loc[("random", "150", 0), "selection_flops"] == 0
    assert df.loc[("longest", "500", 1), "selection_flops"] == 0                       # length: a tokenizer pass
    assert df.loc[("ppl_high", "150", 0), "selection_flops"] == 2 * TINY * L * y       # forward-only scorer
    assert df.loc[("full", "all", 0), "finetune_flops"] == 6 * TINY * L * y * E
    assert (df["full_data_flops"] == 6 * TINY * L * y * E).all()
    assert (df["total_flops"] == df["selection_flops"] + df["finetune_flops"]).all()
    assert df.loc[("random", "150", 0), "tokens_per_row_from"] == "--tokens-per-row"


def test_all_methods_estimate_formulas(tmp_path):
    df = estimate(check_config(_config("demo_all.yaml")), tmp_path, tokens_per_row_fallback=10,
                  gpu_flops=1e12).set_index("method")
    L, y, x, E = 10, 2000, 300, 3
    pre = 6 * TINY * L * (10 * 5) * E + 2 * MINILM * L * y          # Cherry stage 1 + its embedding pass
    assert df.loc["embed", "selection_flops"] == pytest.approx(2 * MINILM * L * y)
    assert df.loc["ifd", "selection_flops"] == pytest.approx(2 * (2 * TINY * L * y))          # two passes
    assert df.loc["ifd_pre", "selection_flops"] == pytest.approx(pre + 2 * (2 * TINY * L * y))
    less = 6 * TINY * L * round(0.05 * y) * E + 6 * TINY * L * y * E   # warm-up + one fwd+bwd per row per checkpoint
    assert df.loc["less", "selection_flops"] == pytest.approx(less)
    assert df.loc["less_km", "selection_flops"] == pytest.approx(less + 2 * MINILM * L * y)
    assert df.loc["deita", "selection_flops"] == pytest.approx(2 * TINY * L * y + pre + 2 * TINY * L * y
                                                               + 2 * MINILM * L * y)
    # DiverseEvol, 2 rounds of 150: round 1 trains on round 0's 150 rows and embeds the pool
    assert df.loc["diverse_evol", "selection_flops"] == pytest.approx(6 * TINY * L * 150 * E + 2 * TINY * L * y)
    assert df.loc["zip", "selection_flops"] == 0                     # selector compute: measured, not modelled
    assert df.loc["random", "total_gpu_hours"] == pytest.approx(6 * TINY * L * x * E / 1e12 / 3600)


def test_tokens_per_row_from_stats(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "stats.json").write_text('{"approx_tokens": {"total": {"0.5": 40.0}}}')
    df = estimate(check_config(_config("demo.yaml")), tmp_path)
    assert (df["tokens_per_row"] == 40.0).all() and df["tokens_per_row_from"].str.endswith("(median)").all()
    (tmp_path / "demo" / "stats.json").write_text('{"approx_tokens": {"total": {"0.5": 40.0}}, '
                                                  '"approx_tokens_mean": {"total": 55.5}}')
    df = estimate(check_config(_config("demo.yaml")), tmp_path)
    assert (df["tokens_per_row"] == 55.5).all() and df["tokens_per_row_from"].str.endswith("(mean)").all()


def test_pool_stats_record_the_mean_tokens():
    import pandas as pd

    from selectbench.pools.stats import pool_stats

    df = pd.DataFrame({"id": ["a", "b"], "source": ["s", "s"], "origin": ["f:1", "f:2"],
                       "messages": [[{"role": "user", "content": "a b"}, {"role": "assistant", "content": "c"}],
                                    [{"role": "user", "content": "d"}, {"role": "assistant", "content": "e f g"}]]})
    assert pool_stats(df)["approx_tokens_mean"] == {"prompt": 1.5, "response": 2.0, "total": 3.5}


def test_cli_estimate_demo(tmp_path, capsys):
    out = tmp_path / "est.csv"
    assert main(["cost", "estimate", str(ROOT / "config/demo.yaml"), "-o", str(out), "--tokens-per-row", "100",
                 "--stats-dir", str(tmp_path), "--gpu-flops", "1e12"]) == 0
    df = pd.read_csv(out)
    assert len(df) == 6 * 2 * 2 - 2   # 5 budgeted methods × 2 budgets × 2 seeds + full × 2 seeds
    for c in ["pool", "base_model", "preset", "method", "budget", "seed", "selection_flops", "finetune_flops",
              "total_flops", "total_gpu_hours"]:
        assert c in df.columns
    assert "22 unit(s)" in capsys.readouterr().out


def test_cli_estimate_paper_config_through_the_command(tmp_path):
    out = tmp_path / "paper.csv"
    r = subprocess.run([sys.executable, "-m", "selectbench.cli", "cost", "estimate", "config/config.yaml",
                        "-o", str(out), "--tokens-per-row", "500", "--stats-dir", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    row = df[(df.method == "random") & (df.budget == "10000") & (df.base_model == "llama3-8b")
             & (df.preset == "lora_lr2e-5")].iloc[0]
    assert row["finetune_flops"] == pytest.approx(6 * 8.03e9 * 500 * 10000 * 2)


def test_cli_estimate_without_token_count_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "est.csv"
    assert main(["cost", "estimate", str(ROOT / "config/demo.yaml"), "-o", str(out),
                 "--stats-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "pool 'demo'" in err and "--tokens-per-row" in err
    assert not out.exists()


def test_shared_score_file_amortized(tmp_path):
    df = estimate(check_config(_config("demo.yaml")), tmp_path, tokens_per_row_fallback=100)
    one_pass = 2 * TINY * 100 * 2000
    ppl = df[df["method"].isin(["ppl_high", "ppl_low"])]        # both read perplexity/tiny: 2 × 2 budgets × 2 seeds
    assert (ppl["selection_flops"] == one_pass).all()
    assert ppl["selection_flops_amortized"].to_numpy() == pytest.approx([one_pass / 8] * 8)
    assert df["selection_flops_amortized"].sum() == pytest.approx(one_pass)   # the job counted once in all


def test_unknown_model_size_is_an_error_for_the_cli_and_a_note_in_the_report(tmp_path):
    cfg = _config("demo.yaml")
    cfg["models"]["hubby"] = {"hub": "org/model"}
    cfg["methods"]["ppl_hub"] = {"scorer": "perplexity", "scorer_model": "hubby", "selector": "top_k"}
    exp = check_config(cfg)
    with pytest.raises(Exception, match="models.hubby: declare 'params_b'"):
        estimate(exp, tmp_path, 100)
    df = estimate(exp, tmp_path, 100, strict=False)
    hub = df[df["method"] == "ppl_hub"]
    assert hub["total_flops"].isna().all() and hub["note"].str.contains("models.hubby: declare 'params_b'").all()
    assert df[df["method"] == "random"]["total_flops"].notna().all()
