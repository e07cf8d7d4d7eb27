"""Significance, generalization and verdict: hand-checked cases, scipy as oracle, the CLI, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from selectbench.analysis.generalization import generalization_tables, kendall_pairs, rankings
from selectbench.analysis.significance import (
    Options, SignificanceError, bh, bootstrap_mean_diff, check_tidy, hierarchical_bootstrap, holm,
    protocol_samples, read_tidy, significance_table, units_from_dir)
from selectbench.analysis.verdict import verdict_table
from selectbench.cli import main

DATA = Path(__file__).parent / "data"


def tidy_rows(values: dict, budget=100, tasks=("a", "b")) -> list[dict]:
    """values: method → list over seeds of list over tasks."""
    rows = []
    for method, seeds in values.items():
        for s, per_task in enumerate(seeds):
            for task, v in zip(tasks, per_task):
                rows.append(dict(pool="p", base_model="m", preset="lora", method=method, budget=budget, seed=s,
                                 task=task, subtask=task, metric="acc", filter="none", value=v))
    return rows


# ---------------------------------------------------------------- the 2410.09335 protocol
def test_protocol_sample_is_values_plus_their_mean_per_seed():
    df = check_tidy(pd.DataFrame(tidy_rows({"x": [[0.1, 0.3], [0.5, 0.9]], "random": [[0.2, 0.2]]})))
    assert protocol_samples(df, "x").tolist() == pytest.approx([0.1, 0.3, 0.2, 0.5, 0.9, 0.7])
    assert protocol_samples(df, "random").tolist() == pytest.approx([0.2, 0.2, 0.2])


def test_protocol_reproduces_published_mann_whitney_example():
    """ClickHouse's published mannWhitneyUTest('greater') example (10,11,12) vs (1,2,3) → (9,
    0.04042779918503192), fed as a tidy CSV through the protocol (see the fixture's header)."""
    tidy = read_tidy(DATA / "clickhouse_mww_protocol.csv")
    out = significance_table(tidy, Options(protocol_method="asymptotic", too_few="note"))
    row = out[out["test"] == "protocol_2410.09335"].iloc[0]
    assert row["statistic"] == 9.0
    assert row["p_value"] == pytest.approx(0.04042779918503192, rel=1e-12)
    # the paper's call (scipy default method='auto') is exact here: P(U ≥ 9) = 1 / C(6, 3)
    out = significance_table(tidy, Options(too_few="note"))
    assert out[out["test"] == "protocol_2410.09335"]["p_value"].iloc[0] == pytest.approx(1 / 20)


def test_protocol_matches_scipy_on_several_seeds():
    vals = {"x": [[0.61, 0.40, 0.72], [0.63, 0.38, 0.70]],
            "random": [[0.60, 0.41, 0.69], [0.58, 0.39, 0.71], [0.62, 0.37, 0.68]]}
    out = significance_table(pd.DataFrame(tidy_rows(vals, tasks=("a", "b", "c"))), Options())
    row = out[out["test"] == "protocol_2410.09335"].iloc[0]
    x = [v for s in vals["x"] for v in [*s, np.mean(s)]]
    y = [v for s in vals["random"] for v in [*s, np.mean(s)]]
    ref = stats.mannwhitneyu(x, y, alternative="greater")
    assert (row["statistic"], row["p_value"]) == pytest.approx((ref.statistic, ref.pvalue))
    assert (row["n_method"], row["n_baseline"]) == (8, 12)
    avg_r = [np.mean(s) for s in vals["random"]]
    assert row["within_random_range"] == (min(avg_r) <= np.mean([np.mean(s) for s in vals["x"]]) <= max(avg_r))


# ---------------------------------------------------------------- seed-level tests
def test_seed_tests_match_scipy_and_bootstrap_is_seeded():
    a, b = [0.70, 0.74, 0.72], [0.60, 0.66, 0.62, 0.64]
    rows = [dict(pool="p", base_model="m", method=m, budget=50, seed=i, task="t", metric="acc", value=v)
            for m, vs in (("x", a), ("random", b)) for i, v in enumerate(vs)]
    out = significance_table(pd.DataFrame(rows), Options(resamples=20_000, seed=3))
    w = out[out["test"] == "welch_seeds"].iloc[0]
    ref = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    assert (w["statistic"], w["p_value"]) == pytest.approx((ref.statistic, ref.pvalue))
    u = out[out["test"] == "mannwhitney_seeds"].iloc[0]
    ref = stats.mannwhitneyu(a, b, alternative="greater")
    assert (u["statistic"], u["p_value"]) == pytest.approx((ref.statistic, ref.pvalue))
    bs = out[out["test"] == "bootstrap_seeds"].iloc[0]
    assert bs["effect"] == pytest.approx(np.mean(a) - np.mean(b))
    # the bootstrap CI brackets the effect and lies within the extreme resample means
    assert min(a) - max(b) <= bs["ci_low"] <= bs["effect"] <= bs["ci_high"] <= max(a) - min(b)
    again = bootstrap_mean_diff(a, b, 20_000, 3)
    assert (bs["ci_low"], bs["ci_high"], bs["p_value"]) == (again[1], again[2], again[3])
    assert not bs["within_random_range"]          # 0.72 > the best random seed 0.66


def test_bootstrap_matches_a_direct_loop():
    a, b = np.array([1.0, 2.0, 4.0]), np.array([0.0, 1.0])
    eff, lo, hi, p = bootstrap_mean_diff(a, b, 10_000, 0)
    rng = np.random.default_rng(0)
    ia = rng.integers(0, 3, size=(10_000, 3))
    ib = rng.integers(0, 2, size=(10_000, 2))
    d = a[ia].mean(1) - b[ib].mean(1)
    assert (lo, hi) == tuple(np.quantile(d, [0.025, 0.975]))
    assert p == (1 + (d <= 0).sum()) / 10_001


# ---------------------------------------------------------------- paired per-example
def test_hierarchical_bootstrap_hand_checked_cases():
    # one seed a side, identical per-example scores: effect 0, every replicate 0 → CI [0, 0], p = 1
    x = np.array([[1, 0, 1, 1, 0]], float)
    eff, lo, hi, p = hierarchical_bootstrap(x, x.copy(), 2_000, 0)
    assert (eff, lo, hi, p) == (0.0, 0.0, 0.0, 1.0)
    # method right on every item, random wrong on every item: every replicate is exactly 1
    eff, lo, hi, p = hierarchical_bootstrap(np.ones((2, 5)), np.zeros((3, 5)), 2_000, 0)
    assert (eff, lo, hi) == (1.0, 1.0, 1.0) and p == pytest.approx(1 / 2_001)
    # seeded: same seed, same answer; another seed, other draws
    rng = np.random.default_rng(5)
    xm, xb = rng.random((2, 40)), rng.random((3, 40))
    r1 = hierarchical_bootstrap(xm, xb, 3_000, 1, chunk=500)
    assert r1 == hierarchical_bootstrap(xm, xb, 3_000, 1, chunk=500) != hierarchical_bootstrap(xm, xb, 3_000, 2, chunk=500)
    assert r1[0] == pytest.approx(xm.mean() - xb.mean())
    assert r1[1] < r1[0] < r1[2]


def test_hierarchical_bootstrap_counts_item_noise_beyond_seed_noise():
    """With one seed a side the seed bootstrap has nothing to resample; the item level still gives
    a CI whose width is close to the paired normal approximation."""
    rng = np.random.default_rng(0)
    xm = (rng.random((1, 400)) < 0.7).astype(float)
    xb = (rng.random((1, 400)) < 0.6).astype(float)
    eff, lo, hi, _ = hierarchical_bootstrap(xm, xb, 10_000, 0)
    se = (xm[0] - xb[0]).std(ddof=1) / np.sqrt(400)
    assert (hi - lo) == pytest.approx(2 * 1.96 * se, rel=0.1)


def write_evals(root: Path, per_unit: dict) -> pd.DataFrame:
    """per_unit: (method, seed) → per-example 0/1 list for task 't'. Returns the tidy table."""
    rows = []
    for (method, seed), xs in per_unit.items():
        d = root / "p" / "m" / "lora" / method / "b100" / f"s{seed}"
        d.mkdir(parents=True, exist_ok=True)
        rec = {"task": "t", "samples": {"t": [{"doc_id": i, "filter": "none", "acc": float(v)} for i, v in enumerate(xs)]}}
        (d / "t.json").write_text(json.dumps(rec))
        rows.append(dict(pool="p", base_model="m", preset="lora", method=method, budget=100, seed=seed, task="t",
                         subtask="t", metric="acc", filter="none", value=float(np.mean(xs))))
    return pd.DataFrame(rows)


def test_paired_rows_from_benchmark_jsons(tmp_path):
    rng = np.random.default_rng(2)
    per = {(m, s): (rng.random(120) < q).astype(int).tolist()
           for m, q in (("good", 0.8), ("random", 0.55)) for s in (0, 1)}
    tidy = write_evals(tmp_path, per)
    units = units_from_dir(tidy, tmp_path)
    assert len(units) == 4
    out = significance_table(tidy, Options(), units)
    row = out[out["test"] == "paired_bootstrap"].iloc[0]
    xm = np.array([per[("good", s)] for s in (0, 1)], float)
    xb = np.array([per[("random", s)] for s in (0, 1)], float)
    assert (row["effect"], row["ci_low"], row["ci_high"], row["p_value"]) == pytest.approx(
        hierarchical_bootstrap(xm, xb, 10_000, 0))
    assert row["significant"] and row["ci_low"] > 0
    # shuffled doc order in one JSON: matched by doc_id, same answer
    p = tmp_path / "p/m/lora/good/b100/s0/t.json"
    rec = json.loads(p.read_text())
    rec["samples"]["t"].reverse()
    p.write_text(json.dumps(rec))
    again = significance_table(tidy, Options(), units)
    assert again[again["test"] == "paired_bootstrap"]["p_value"].iloc[0] == row["p_value"]


def test_lower_is_better_metric_is_tested_for_improvement(tmp_path):
    """A metric lm-eval marks lower-is-better (an error rate here): the method with lower values is
    the better one in every test, effects are improvements, means stay on the metric's scale."""
    rng = np.random.default_rng(4)
    per = {(m, s): (rng.random(150) < q).astype(int).tolist()      # per-example errors
           for m, q in (("good", 0.2), ("random", 0.45)) for s in (0, 1, 2)}
    tidy = write_evals(tmp_path, per)
    tidy["higher_is_better"] = False
    units = units_from_dir(tidy, tmp_path)
    out = significance_table(tidy, Options(), units)
    assert set(out["direction"]) == {"lower"}
    for test in ("bootstrap_seeds", "welch_seeds", "paired_bootstrap"):
        row = out[out["test"] == test].iloc[0]
        assert row["effect"] > 0 and row["significant"], test
    xm = np.array([per[("good", s)] for s in (0, 1, 2)], float)
    xb = np.array([per[("random", s)] for s in (0, 1, 2)], float)
    row = out[out["test"] == "paired_bootstrap"].iloc[0]
    assert (row["effect"], row["ci_low"], row["ci_high"], row["p_value"]) == pytest.approx(
        hierarchical_bootstrap(-xm, -xb, 10_000, 0))
    assert row["method_mean"] == pytest.approx(xm.mean()) and row["baseline_mean"] == pytest.approx(xb.mean())
    seeds = out[out["test"] == "bootstrap_seeds"].iloc[0]
    assert (seeds["baseline_min"], seeds["baseline_max"]) == pytest.approx((xb.mean(axis=1).min(), xb.mean(axis=1).max()))
    # the same table without the column: lower values lose (the old, wrong reading of an error rate)
    plain = significance_table(tidy.drop(columns="higher_is_better"), Options(), units)
    assert plain[plain["test"] == "bootstrap_seeds"]["effect"].iloc[0] < 0
    ranks = rankings(tidy)
    assert ranks.set_index("method").loc["good", "rank"] == 1.0
    assert ranks.set_index("method").loc["good", "mean"] == pytest.approx(xm.mean())


def test_direction_column_bad_values_name_the_row():
    df = pd.DataFrame(tidy_rows({"x": [[0.5, 0.6]], "random": [[0.4, 0.5]]}))
    df["higher_is_better"] = ["True", "maybe", "True", "True"]
    with pytest.raises(SignificanceError, match=r"row 3: field 'higher_is_better': 'maybe'"):
        check_tidy(df)
    df["higher_is_better"] = [True, True, False, True]    # task a: True for x, False for random
    with pytest.raises(SignificanceError, match="differs between rows"):
        check_tidy(df)


def test_tidy_reads_the_direction_from_lm_eval_json(tmp_path):
    from selectbench.analysis.tidy import tidy_table

    rec = {"task": "w", "results": {"w": {"word_perplexity,none": 12.5, "acc,none": 0.5, "alias": "w"}},
           "higher_is_better": {"w": {"word_perplexity": False, "acc": True}}}
    path = tmp_path / "w.json"
    path.write_text(json.dumps(rec))
    unit = dict(pool="p", base_model="m", preset="lora", method="x", budget=1, seed=0, path=path)
    got = tidy_table([unit]).set_index("metric")["higher_is_better"].to_dict()
    assert got == {"word_perplexity": False, "acc": True}
    rec.pop("higher_is_better")
    rec["configs"] = {"w": {"metric_list": [{"metric": "word_perplexity", "higher_is_better": False}]}}
    path.write_text(json.dumps(rec))
    got = tidy_table([unit]).set_index("metric")["higher_is_better"].to_dict()
    assert got == {"word_perplexity": False, "acc": True}


def test_paired_row_states_why_when_records_are_missing(tmp_path):
    per = {("good", 0): [1, 1, 0], ("good", 1): [1, 0, 1], ("random", 0): [0, 1, 0], ("random", 1): [0, 0, 1]}
    tidy = write_evals(tmp_path, per)
    (tmp_path / "p/m/lora/random/b100/s1/t.json").write_text(json.dumps({"samples": {}}))
    out = significance_table(tidy, Options(), units_from_dir(tidy, tmp_path))
    row = out[out["test"] == "paired_bootstrap"].iloc[0]
    assert np.isnan(row["p_value"]) and "no per-example records" in row["note"]


# ---------------------------------------------------------------- corrections
def test_holm_hand_checked():
    # p sorted 0.01, 0.02, 0.03, 0.04 (m=4): 0.04, 0.06, 0.06 (monotone), 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]).tolist() == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, np.nan, 0.6]).tolist()[::2] == pytest.approx([1.0, 1.0])
    assert np.isnan(holm([0.5, np.nan])[1])


def test_bh_matches_scipy_and_hand():
    p = [0.01, 0.04, 0.03, 0.20]
    # hand: sorted .01,.03,.04,.20 → .04, .0533, .0533, .20
    assert bh(p).tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])
    assert bh(p).tolist() == pytest.approx(stats.false_discovery_control(p).tolist())


def test_correction_is_within_a_family_and_alpha_configurable():
    vals = {"x": [[0.9], [0.91]], "y": [[0.5], [0.52]], "random": [[0.6], [0.62], [0.61]]}
    t = pd.DataFrame(tidy_rows(vals, tasks=("a",)))
    out = significance_table(t, Options(alpha=0.05))
    w = out[out["test"] == "welch_seeds"].set_index("method")
    assert w["p_holm"].tolist() == pytest.approx(holm(w["p_value"].to_numpy()).tolist())
    assert w["p_bh"].tolist() == pytest.approx(bh(w["p_value"].to_numpy()).tolist())
    strict = significance_table(t, Options(alpha=1e-9, correction="bh"))
    assert not strict["significant"].dropna().astype(bool).any()
    assert (strict["p_adjusted"].dropna() == strict["p_bh"].dropna()).all()


# ---------------------------------------------------------------- bad input
def test_bad_input_names_the_group():
    good = tidy_rows({"x": [[0.5, 0.6], [0.55, 0.6]], "random": [[0.5, 0.5], [0.4, 0.6]]})
    with pytest.raises(SignificanceError, match="missing column.*seed"):
        significance_table(pd.DataFrame(good).drop(columns="seed"))
    bad = pd.DataFrame(good)
    bad.loc[3, "value"] = np.nan
    with pytest.raises(SignificanceError, match=r"row 5: field 'value'.*method=x, seed=1, task=b"):
        significance_table(bad)
    one = pd.DataFrame(tidy_rows({"x": [[0.5, 0.6], [0.55, 0.6]], "random": [[0.5, 0.5]]}))
    with pytest.raises(SignificanceError, match="budget=100, method=x, task=a.*baseline 'random' has 1 seed"):
        significance_table(one)
    noted = significance_table(one, Options(too_few="note"))
    w = noted[noted["test"] == "welch_seeds"]
    assert w["p_value"].isna().all() and w["note"].str.contains("needs ≥ 2 seeds").all()
    assert noted[noted["test"] == "protocol_2410.09335"]["p_value"].notna().all()   # pools 1 seed fine
    nobase = pd.DataFrame(tidy_rows({"x": [[0.5, 0.6]], "y": [[0.4, 0.6]]}))
    with pytest.raises(SignificanceError, match="no baseline 'random' in setup pool=p"):
        significance_table(nobase)
    assert "no baseline" in significance_table(nobase, Options(too_few="note"))["note"].iloc[0]
    with pytest.raises(SignificanceError, match="correction"):
        Options(correction="bonferroni")


# ---------------------------------------------------------------- generalization and verdict
def test_generalization_kendall_and_win_rates():
    rows = tidy_rows({"x": [[0.9, 0.2]], "y": [[0.5, 0.5]], "z": [[0.1, 0.8]], "random": [[0.4, 0.3]]})
    t = pd.DataFrame(rows)
    r = rankings(t)
    a = r[r["task"] == "a"].set_index("method")["rank"]
    assert a.to_dict() == {"random": 3.0, "x": 1.0, "y": 2.0, "z": 4.0}
    k = kendall_pairs(r)
    ref = stats.kendalltau([0.4, 0.9, 0.5, 0.1], [0.3, 0.2, 0.5, 0.8])
    assert k["tau"].iloc[0] == pytest.approx(ref.statistic)
    summary, _, _ = generalization_tables(t)
    s = summary.set_index("method")
    assert s.loc["x", "win_rate"] == 0.5 and s.loc["y", "win_rate"] == 1.0 and s.loc["z", "win_rate"] == 0.5
    assert s.loc["x", "best_transfer"] == 0.0            # best in a, not in b
    assert s.loc["(all setups)", "best_transfer"] == 0.0


def test_verdict_counts_significant_wins_and_reads_cost(tmp_path):
    rng = np.random.default_rng(0)
    per = {(m, s): (rng.random(200) < q).astype(int).tolist()
           for m, q in (("good", 0.85), ("bad", 0.4), ("random", 0.6)) for s in (0, 1)}
    tidy = write_evals(tmp_path, per)
    sig = significance_table(tidy, Options(), units_from_dir(tidy, tmp_path))
    summary, _, _ = generalization_tables(tidy, "random", sig)
    cost = pd.DataFrame({"method": ["good", "good", "bad"], "effective_cost_ratio": [0.2, 0.4, 3.0]})
    v = verdict_table(sig, summary, cost).set_index("method")
    assert v.loc["good", "beats_baseline"] == "1 of 1" and v.loc["bad", "beats_baseline"] == "0 of 1"
    assert v.loc["good", "median_effective_cost_ratio"] == pytest.approx(0.3)
    assert v.loc["good", "mean_rank"] == 1.0 and v.loc["bad", "mean_rank"] == 3.0
    v = verdict_table(sig, summary, None)
    assert v["median_effective_cost_ratio"].isna().all() and v["note"].str.contains("effective_cost.csv absent").all()


# ---------------------------------------------------------------- the CLI
def test_cli_significance_generalization_verdict(tmp_path):
    rng = np.random.default_rng(1)
    per = {(m, s): (rng.random(150) < q).astype(int).tolist()
           for m, q in (("good", 0.8), ("random", 0.6)) for s in (0, 1)}
    tidy = write_evals(tmp_path / "evals", per)
    tidy_path = tmp_path / "tidy.csv"
    tidy.to_csv(tidy_path, index=False)
    out = tmp_path / "sig.csv"
    r = subprocess.run([sys.executable, "-m", "selectbench.cli", "significance", str(tidy_path), "-o", str(out),
                        "--samples", str(tmp_path / "evals"), "--correction", "bh", "--alpha", "0.01"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(out)
    assert {"protocol_2410.09335", "bootstrap_seeds", "welch_seeds", "mannwhitney_seeds",
            "paired_bootstrap"} <= set(got["test"])
    assert (got["correction"] == "bh").all()
    ref = significance_table(read_tidy(tidy_path), Options(correction="bh", alpha=0.01),
                             units_from_dir(read_tidy(tidy_path), tmp_path / "evals"))
    pd.testing.assert_frame_equal(got, pd.read_csv(_csv(ref, tmp_path / "ref.csv")))
    gen = tmp_path / "gen.csv"
    assert main(["generalization", str(tidy_path), "-o", str(gen), "--significance", str(out),
                 "--figure", str(tmp_path / "k.png"), "--kendall", str(tmp_path / "k.csv")]) == 0
    assert (tmp_path / "k.png").stat().st_size > 1000
    ver = tmp_path / "verdict.csv"
    assert main(["verdict", str(out), str(gen), "-o", str(ver)]) == 0
    assert pd.read_csv(ver)["method"].tolist() == ["good"]


def _csv(df, path):
    df.to_csv(path, index=False)
    return path


def test_cli_bad_input_exits_1_naming_the_group(tmp_path, capsys):
    t = pd.DataFrame(tidy_rows({"x": [[0.5, 0.6], [0.55, 0.6]], "random": [[0.5, 0.5]]}))
    p = tmp_path / "one_seed.csv"
    t.to_csv(p, index=False)
    assert main(["significance", str(p), "-o", str(tmp_path / "o.csv")]) == 1
    assert "baseline 'random' has 1 seed" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()
    t.drop(columns="metric").to_csv(p, index=False)
    assert main(["significance", str(p), "-o", str(tmp_path / "o.csv")]) == 1
    assert "missing column(s) metric" in capsys.readouterr().err
    t2 = pd.DataFrame(tidy_rows({"x": [[0.5, 0.6], [0.55, 0.6]], "random": [[0.5, 0.5], [0.5, 0.4]]}))
    t2["value"] = t2["value"].astype(object)
    t2.loc[2, "value"] = "n/a"
    t2.to_csv(p, index=False)
    assert main(["significance", str(p), "-o", str(tmp_path / "o.csv")]) == 1
    assert "row 4: field 'value'" in capsys.readouterr().err
    assert main(["generalization", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "g.csv")]) == 1
    t2["value"] = 0.5
    t2.to_csv(p, index=False)
    assert main(["significance", str(p), "-o", str(tmp_path / "o.csv"), "--samples", str(tmp_path / "none")]) == 1
    assert "not a directory" in capsys.readouterr().err


def test_readme_table_from_summary(tmp_path):
    from selectbench.analysis.readme import readme_table
    from selectbench.analysis.summary import summarize

    rows = tidy_rows({"random": [[0.6, 0.5], [0.7, 0.5]], "longest": [[0.4, 0.1], [0.4, 0.1]]}, budget=500)
    rows += [dict(r, method="full", budget="all", seed=0) for r in tidy_rows({"x": [[1.0, 0.99]]})]
    rows += [dict(r, method="base", budget="none", seed=None) for r in tidy_rows({"x": [[0.5, 0.0]]})]
    s = summarize(pd.DataFrame(rows), "random")
    s.to_csv(tmp_path / "summary.csv", index=False)
    text = readme_table(tmp_path / "summary.csv")
    lines = text.splitlines()
    assert lines[0] == "| model | a acc | b acc |"
    assert lines[2] == "| base model | 0.500 | 0.000 |"
    assert lines[3] == "| random, 500 | 0.650 ± 0.071 | 0.500 |"
    assert lines[4] == "| longest, 500 | 0.400 | 0.100 |"
    assert lines[5] == "| full (all data) | 1.000 | 0.990 |"


def test_schema_defaults_match_the_package():
    import yaml

    from selectbench.analysis.significance import Options

    repo = Path(__file__).resolve().parents[1]
    props = yaml.safe_load((repo / "schemas/config.schema.yaml").read_text())["properties"]["report"]["properties"]
    d = Options()
    assert (props["alpha"]["default"], props["correction"]["default"], props["bootstrap_resamples"]["default"],
            props["bootstrap_seed"]["default"]) == (d.alpha, d.correction, d.resamples, d.seed)
    assert props["too_few"]["default"] == "note"       # the workflow states; the CLI stops (Options: error)
    for key in ("alpha", "correction", "bootstrap_resamples", "bootstrap_seed", "too_few"):
        assert props[key]["description"]


def test_demo_plans_the_report_rules(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    # a fresh working directory: a finished `make demo` in the checkout would plan nothing
    res = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(repo / "config/demo.yaml"),
                          "--directory", str(tmp_path), "--snakefile", str(repo / "Snakefile")],
                         capture_output=True, text=True, cwd=repo)
    assert res.returncode == 0, res.stderr[-3000:]
    for rule in ("report_significance", "report_generalization", "report_verdict"):
        assert rule in res.stdout
