"""Effective cost (2410.15225): ratio, flag, amortization, gain per extra $; Pareto frontier."""

import pandas as pd
import pytest

from selectbench.analysis.effective import effective_cost, pareto_points, plot_pareto, unit_scores

KEYS = ["pool", "base_model", "preset", "method", "budget", "seed"]


def _unit(method, budget, seed):
    return dict(pool="p", base_model="b", preset="x", method=method, budget=budget, seed=seed)


def _tables(with_full=True):
    units = [("random", "10", 0, 10, 0.0, 0.0, 2.0), ("random", "10", 1, 10, 0.0, 0.0, 2.0),
             ("ppl", "10", 0, 10, 30.0, 15.0, 2.0)]
    if with_full:
        units += [("full", "all", 0, 100, 0.0, 0.0, 20.0)]
    cost = pd.DataFrame([dict(_unit(m, b, s), examples=x, selection_flops=sel * 1e3, finetune_flops=tr * 1e3,
                              total_flops=(sel + tr) * 1e3) for m, b, s, x, sel, _, tr in units])
    measured = pd.DataFrame([dict(_unit(m, b, s), selection_usd=sel, selection_usd_amortized=am, training_usd=tr,
                                  total_usd=sel + tr, total_usd_amortized=am + tr) for m, b, s, x, sel, am, tr in units])
    scores = {("random", 0): 0.5, ("random", 1): 0.6, ("ppl", 0): 0.75, ("full", 0): 0.9}
    tidy = pd.DataFrame([dict(_unit(m, b, s), task=t, subtask=t, metric="acc", filter="none",
                              value=scores[(m, s)] + d) for m, b, s, *_ in units for t, d in (("a", 0.1), ("c", -0.1))])
    return cost, measured, tidy


def test_unit_score_averages_tasks_equally():
    tidy = pd.DataFrame([dict(_unit("m", "10", 0), task="a", subtask="a", metric="acc", value=0.2),
                         dict(_unit("m", "10", 0), task="a", subtask="a", metric="acc_norm", value=0.4),
                         dict(_unit("m", "10", 0), task="g", subtask="g", metric="em", value=0.9),
                         dict(_unit("m", "10", 0), task="g", subtask="g_sub1", metric="em", value=0.0)])
    assert unit_scores(tidy)["score"].iloc[0] == pytest.approx((0.3 + 0.9) / 2)


def test_unit_score_leaves_lower_is_better_metrics_out():
    tidy = pd.DataFrame([dict(_unit("m", "10", 0), task="a", subtask="a", metric="acc", value=0.6, higher_is_better=True),
                         dict(_unit("m", "10", 0), task="w", subtask="w", metric="word_perplexity", value=35.0,
                              higher_is_better=False),
                         dict(_unit("m", "10", 0), task="w", subtask="w", metric="acc", value=0.2,
                              higher_is_better="True")])
    assert unit_scores(tidy)["score"].iloc[0] == pytest.approx((0.6 + 0.2) / 2)


def test_ratio_flag_amortized_and_gain():
    cost, measured, tidy = _tables()
    tidy["seed"] = tidy["seed"].astype(float).astype(str)     # as tidy.csv is read back: "0.0"
    df = effective_cost(cost, measured, tidy, {"p": 100}, "random", ["full"]).set_index(["method", "seed"])
    ppl = df.loc[("ppl", "0")]
    assert ppl["full_training_usd"] == 20.0 and ppl["full_cost_from"].startswith("measured")
    assert ppl["effective_cost_ratio"] == pytest.approx((30 + 2) / 20)
    assert ppl["effective_cost_ratio_amortized"] == pytest.approx((15 + 2) / 20)
    assert bool(ppl["selection_exceeds_full"]) and not bool(ppl["selection_exceeds_full_amortized"])
    assert ppl["effective_flops_ratio"] == pytest.approx(32 / 20)
    assert ppl["score"] == pytest.approx(0.75) and ppl["baseline_score"] == pytest.approx(0.55)
    assert ppl["extra_usd_vs_baseline"] == pytest.approx(30.0)
    assert ppl["gain_per_extra_usd"] == pytest.approx(0.2 / 30)
    r = df.loc[("random", "0")]
    assert r["effective_cost_ratio"] == pytest.approx(0.1) and r["note"] == "baseline"
    assert df.loc[("full", "0")]["note"] == "no random run at this budget"


def test_full_data_cost_modelled_without_full_method():
    cost, measured, tidy = _tables(with_full=False)
    df = effective_cost(cost, measured, tidy, {"p": 100}, "random", []).set_index(["method", "seed"])
    ppl = df.loc[("ppl", "0")]
    assert ppl["full_cost_from"].startswith("modelled")
    assert ppl["full_training_usd"] == pytest.approx(2.0 * 100 / 10)
    assert ppl["effective_cost_ratio"] == pytest.approx(32 / 20)


def test_bad_input_names_the_table():
    cost, measured, tidy = _tables()
    with pytest.raises(ValueError, match="measured cost table: missing column"):
        effective_cost(cost, measured.drop(columns=["seed"]), tidy, {"p": 100})
    with pytest.raises(ValueError, match="pool rows unknown for pool"):
        effective_cost(cost, measured, tidy, {"q": 100})
    with pytest.raises(ValueError, match="lacks 1 unit"):
        effective_cost(cost, measured.iloc[:-1], tidy, {"p": 100})


def test_pareto_frontier(tmp_path):
    cost, measured, tidy = _tables()
    eff = effective_cost(cost, measured, tidy, {"p": 100}, "random", ["full"])
    pts = pareto_points(eff).set_index("method")
    # random (2 $, 0.55) and full (20 $, 0.9) are on the frontier; ppl (32 $, 0.75) is dominated by full
    assert pts.loc["random", "on_frontier"] and pts.loc["full", "on_frontier"]
    assert not pts.loc["ppl", "on_frontier"]
    plot_pareto(eff, tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
