"""Do rankings of methods carry over across pools, models, presets, budgets and benchmarks?

A *setup* is one (pool, base_model, preset, budget, task, subtask, metric, filter). Per setup the
methods (the baseline included; base model and full data excluded) are ranked by their mean over
seeds (rank 1 = best, ties share the average rank; for a metric lm-eval marks lower-is-better,
e.g. perplexity, the lowest mean ranks first: `score` is the mean negated, `mean` stays on the
metric's own scale). Between every pair of setups, Kendall's τ
(scipy.stats.kendalltau, τ-b) over the methods both contain. Per method: its mean rank, its win
rate against the baseline (mean above the baseline's mean) and, given a significance table, its
rate of significant wins (primary test, corrected — see `primary_tests`); and how often the best
method of one setup is also the best in another.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from .significance import METRIC_KEYS, SETUP_KEYS, check_tidy, comparable

SETUP = SETUP_KEYS + METRIC_KEYS
PRIMARY_ORDER = ("paired_bootstrap", "bootstrap_seeds")


def setup_label(row) -> str:
    sub = f"/{row['subtask']}" if row["subtask"] not in ("", row["task"]) else ""
    filt = f" ({row['filter']})" if row["filter"] not in ("", "none") else ""
    preset = f"/{row['preset']}" if row["preset"] else ""
    return f"{row['pool']}/{row['base_model']}{preset}/b{row['budget']} {row['task']}{sub}:{row['metric']}{filt}"


def rankings(tidy: pd.DataFrame, source: str = "tidy table") -> pd.DataFrame:
    """One row per setup × method: mean over seeds, seeds, rank (1 = best), best flag."""
    df = comparable(check_tidy(tidy, source))      # value: oriented so that greater is better
    g = df.groupby(SETUP + ["method"], sort=True).agg(
        score=("value", "mean"), n_seeds=("value", "count"), higher_is_better=("higher_is_better", "first"),
    ).reset_index()
    g["mean"] = g["score"].where(g["higher_is_better"], -g["score"])   # the metric's own scale
    g["setup"] = g.apply(setup_label, axis=1)
    g["rank"] = g.groupby("setup")["score"].rank(ascending=False, method="average")
    g["n_methods"] = g.groupby("setup")["method"].transform("count")
    g["best"] = g.groupby("setup")["score"].transform("max") == g["score"]
    return g[["setup"] + SETUP + ["method", "mean", "higher_is_better", "score", "n_seeds", "rank", "n_methods",
              "best"]]


def kendall_pairs(ranks: pd.DataFrame) -> pd.DataFrame:
    """Kendall's τ-b between every pair of setups over the methods both rank (needs ≥ 2)."""
    by = {s: d.set_index("method")["score"] for s, d in ranks.groupby("setup", sort=True)}
    rows = []
    for a, b in itertools.combinations(sorted(by), 2):
        common = sorted(set(by[a].index) & set(by[b].index))
        row = {"setup_a": a, "setup_b": b, "n_methods": len(common), "tau": np.nan, "p_value": np.nan, "note": ""}
        if len(common) < 2:
            row["note"] = "fewer than 2 methods in common"
        else:
            x, y = by[a][common].to_numpy(), by[b][common].to_numpy()
            if np.ptp(x) == 0 or np.ptp(y) == 0:
                row["note"] = "all methods tie in one setup: τ undefined"
            else:
                res = stats.kendalltau(x, y)
                row.update(tau=float(res.statistic), p_value=float(res.pvalue))
        rows.append(row)
    return pd.DataFrame(rows, columns=["setup_a", "setup_b", "n_methods", "tau", "p_value", "note"])


def primary_tests(sig: pd.DataFrame) -> pd.DataFrame:
    """Per (setup, method): the paired per-example bootstrap row where it has a p-value, else the
    seed bootstrap row. These rows decide a "significant win" (significant after correction and
    effect > 0) in the generalization and verdict tables."""
    s = sig.copy()
    for c in SETUP + ["method"]:
        s[c] = s[c].map(lambda v: "" if pd.isna(v) else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))
    s = s[s["test"].isin(PRIMARY_ORDER) & s["p_value"].notna()]
    s = s.assign(_o=s["test"].map({t: i for i, t in enumerate(PRIMARY_ORDER)})).sort_values("_o", kind="stable")
    return s.drop_duplicates(SETUP + ["method"], keep="first").drop(columns="_o")


def method_summary(ranks: pd.DataFrame, kendall: pd.DataFrame, baseline: str = "random",
                   sig: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per method: setups, mean rank, wins vs baseline, significant wins, best counts and transfer."""
    base = ranks[ranks["method"] == baseline].set_index("setup")["score"]
    best = ranks[ranks["best"]].groupby("setup")["method"].apply(set)
    prim = None
    if sig is not None and not sig.empty:
        prim = primary_tests(sig)
        prim = prim.assign(setup=prim.apply(setup_label, axis=1)).set_index(["setup", "method"])
    rows = []
    for method, d in ranks.groupby("method", sort=True):
        vs = d[d["setup"].isin(base.index)]
        wins = int((vs["score"].to_numpy() > base[vs["setup"]].to_numpy()).sum()) if method != baseline else 0
        row = {"method": method, "setups": d["setup"].nunique(), "mean_rank": float(d["rank"].mean()),
               "setups_vs_baseline": len(vs) if method != baseline else 0, "wins_vs_baseline": wins,
               "win_rate": wins / len(vs) if method != baseline and len(vs) else np.nan,
               "times_best": int(d["best"].sum())}
        if prim is not None and method != baseline:
            keys = [(s, method) for s in d["setup"] if (s, method) in prim.index]
            p = prim.loc[keys] if keys else prim.iloc[:0]
            sw = int(((p["significant"].astype(str) == "True") & (p["effect"] > 0)).sum())
            row.update(setups_tested=len(p), significant_wins=sw,
                       significant_win_rate=sw / len(p) if len(p) else np.nan)
        # best in one setup → also best in another?
        mine = [s for s in best.index if method in best[s]]
        trials = [(a, b) for a in mine for b in best.index if b != a and method in set(ranks[ranks["setup"] == b]["method"])]
        row["best_transfer"] = (sum(method in best[b] for _, b in trials) / len(trials)) if trials else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    trials = [(a, b) for a in best.index for b in best.index if a != b]
    overall = {"method": "(all setups)", "setups": len(best), "times_best": len(best),
               "best_transfer": (sum(bool(best[a] & best[b]) for a, b in trials) / len(trials)) if trials else np.nan,
               "mean_kendall_tau": float(kendall["tau"].mean()) if kendall["tau"].notna().any() else np.nan,
               "median_kendall_tau": float(kendall["tau"].median()) if kendall["tau"].notna().any() else np.nan}
    return pd.concat([out, pd.DataFrame([overall])], ignore_index=True)


def plot_kendall(ranks: pd.DataFrame, kendall: pd.DataFrame, out_path) -> None:
    """Heatmap of Kendall's τ between setups (diagonal 1, grey where undefined)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted(ranks["setup"].unique())
    idx = {s: i for i, s in enumerate(labels)}
    m = np.full((len(labels), len(labels)), np.nan)
    np.fill_diagonal(m, 1.0)
    for r in kendall.itertuples(index=False):
        m[idx[r.setup_a], idx[r.setup_b]] = m[idx[r.setup_b], idx[r.setup_a]] = r.tau
    size = max(4.0, 0.45 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    cmap = plt.get_cmap("RdBu").with_extremes(bad="lightgrey")
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=-1, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    if len(labels) <= 20:
        for i, j in itertools.product(range(len(labels)), repeat=2):
            if not np.isnan(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if abs(m[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, label="Kendall's τ-b")
    ax.set_title("Do method rankings carry over between setups?")
    fig.tight_layout()
    fig.savefig(out_path, dpi=100, format="png")
    plt.close(fig)


def generalization_tables(tidy: pd.DataFrame, baseline: str = "random", sig: pd.DataFrame | None = None,
                          source: str = "tidy table"):
    """(per-method summary, rankings, Kendall pairs)."""
    ranks = rankings(tidy, source)
    kend = kendall_pairs(ranks)
    return method_summary(ranks, kend, baseline, sig), ranks, kend


def write_generalization(tidy: pd.DataFrame, out_path, baseline: str = "random", sig: pd.DataFrame | None = None,
                         rankings_path=None, kendall_path=None, figure_path=None, source: str = "tidy table"):
    """generalization.csv (per method) + optional rankings CSV, Kendall CSV and heatmap PNG."""
    from ..io import atomic_path, atomic_write_text

    summary, ranks, kend = generalization_tables(tidy, baseline, sig, source)
    if figure_path is not None:
        with atomic_path(figure_path) as tmp:
            plot_kendall(ranks, kend, tmp)
    if rankings_path is not None:
        atomic_write_text(ranks.to_csv(index=False), rankings_path)
    if kendall_path is not None:
        atomic_write_text(kend.to_csv(index=False), kendall_path)
    atomic_write_text(summary.to_csv(index=False), out_path)
    return summary, ranks, kend
