"""Cost rows: fine-tuning + every selection stage the method ran."""

from selectbench.analysis.cost import cost_row

UNIT = dict(pool="p", base_model="b", preset="x", method="m", budget="10", seed=0, score_keys=["a/t", "embed/e"])
FT = {"examples": 10, "steps": 2, "tokens_seen": 1000, "flops_estimate": 6000.0, "wall_s": 2.0}


def test_selection_cost_sums_scores_rounds_and_builds():
    scores = [{"wall_s": 1.0, "cost": {"flops_estimate": 100.0}}, {"wall_s": 3.0, "cost": None}]
    selection = {"cost": {"flops_estimate": 50.0, "wall_s": 4.0}}
    builds = [{"train": {"flops_estimate": 7.0, "wall_s": 0.5}}]
    row = cost_row(UNIT, FT, selection, scores, builds, {"wall_s": 0.25})
    assert row["selection_flops"] == 157.0
    assert row["selection_wall_s"] == 8.75
    assert row["total_flops"] == 6157.0 and row["total_wall_s"] == 10.75
    assert row["score_files"] == "a/t;embed/e"


def test_method_without_selection_cost():
    row = cost_row(dict(UNIT, score_keys=[]), FT, {"cost": None}, [], [])
    assert row["selection_flops"] == 0 and row["total_flops"] == FT["flops_estimate"]


# ---------------------------------------------------------------- measured: Snakemake benchmark TSVs
import math

import pandas as pd
import pytest

from selectbench.analysis.cost import measured_table, read_benchmark

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path, s, rss, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{s}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")
    return str(path)


def _units(tmp_path):
    score = _bench(tmp_path / "scores/a.tsv", 3600, 100, 7200)      # shared by both units
    units = []
    for budget, t in (("10", 1), ("20", 2)):
        jobs = [{"stage": "selection", "benchmark": score, "gpus": 1},
                {"stage": "selection", "benchmark": _bench(tmp_path / f"sel{t}.tsv", 36, "NA", 36), "gpus": 0},
                {"stage": "training", "benchmark": _bench(tmp_path / f"train{t}.tsv", 7200 * t, 500, 3600), "gpus": 2},
                {"stage": "evaluation", "benchmark": _bench(tmp_path / f"eval{t}.tsv", 1800, 300, 1800), "gpus": 1}]
        units.append(dict(pool="p", base_model="b", preset="x", method="m", budget=budget, seed=0, jobs=jobs))
    return units


def test_measured_hand_checked(tmp_path):
    df = measured_table(_units(tmp_path), {"gpu_hour": 4.0, "cpu_core_hour": 0.5})
    r = df.iloc[0]
    assert r["selection_wall_h"] == pytest.approx(1.01)
    assert r["selection_cpu_core_h"] == pytest.approx(2.01)
    assert r["selection_gpu_h"] == pytest.approx(1.0)               # score: 1 h × 1 GPU; select: 0 GPUs
    assert r["selection_wall_h_amortized"] == pytest.approx(0.51)   # the score file is read by 2 units
    assert r["selection_gpu_h_amortized"] == pytest.approx(0.5)
    assert r["selection_usd"] == pytest.approx(4 * 1.0 + 0.5 * 2.01)
    assert r["selection_usd_amortized"] == pytest.approx(4 * 0.5 + 0.5 * 1.01)
    assert r["training_gpu_h"] == pytest.approx(4.0) and r["training_usd"] == pytest.approx(16.5)
    assert r["evaluation_gpu_h"] == pytest.approx(0.5)
    assert r["selection_peak_rss_mb"] == 100 and r["training_peak_rss_mb"] == 500   # NA ignored
    assert r["total_usd"] == pytest.approx(r["selection_usd"] + 16.5)
    assert df.iloc[1]["training_gpu_h"] == pytest.approx(8.0)


def test_benchmark_repeats_are_averaged(tmp_path):
    p = tmp_path / "b.tsv"
    p.write_text(HEADER + "10\t0\t5\t1\t1\t1\t0\t0\t1\t4\n" + "20\t0\t7\t1\t1\t1\t0\t0\t1\t6\n")
    assert read_benchmark(p) == {"wall_s": 15.0, "cpu_s": 5.0, "max_rss_mb": 6.0}


def test_benchmark_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tsv: benchmark file missing"):
        read_benchmark(tmp_path / "missing.tsv")
    p = tmp_path / "bad.tsv"
    p.write_text("s\tmax_rss\n1\t2\n")
    with pytest.raises(ValueError, match="bad.tsv: not a Snakemake benchmark TSV: no column 'cpu_time'"):
        read_benchmark(p)
    p.write_text(HEADER + "oops\t0\t5\t1\t1\t1\t0\t0\t1\t4\n")
    with pytest.raises(ValueError, match="row 1: field 's' is not a number"):
        read_benchmark(p)


def test_prices_are_validated_at_parse_time():
    from pathlib import Path

    import yaml

    from selectbench.config import check_config
    from selectbench.errors import ConfigError

    cfg = yaml.safe_load((Path(__file__).resolve().parent.parent / "config/demo.yaml").read_text())
    cfg["report"]["prices"] = {"gpu_hour": 2.5, "cpu_core_hour": 0.01}
    check_config(cfg)
    cfg["report"]["prices"] = {"gpu_hours": 2.5}
    with pytest.raises(ConfigError, match="unknown key 'gpu_hours'.*did you mean 'gpu_hour'"):
        check_config(cfg)
    cfg["report"]["prices"] = {"gpu_hour": -1}
    with pytest.raises(ConfigError, match="report.prices.gpu_hour"):
        check_config(cfg)
