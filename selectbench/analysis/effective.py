"""Effective cost (2410.15225) and the cost–score Pareto figure (2503.01807 Fig. 1).

Effective cost of a unit = (selection + training on the subset) ÷ (training on the full
pool), in priced measured compute (`effective_cost_ratio`) and in token-based FLOPs
(`effective_flops_ratio`). The full-data training cost is the mean over seeds of the
config's `full` method (same pool, base model, preset) when it has one; otherwise it is
modelled with the fixed-length FLOPs model, in which training cost is linear in the rows
trained on: the unit's own training cost × pool rows ÷ selected rows (`full_cost_from`
says which).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..io import atomic_path, atomic_write_text
from .cost import KEYS

SETUP = ["pool", "base_model", "preset"]


def _keyed(df: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = [k for k in KEYS if k not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")
    df = df.copy()
    for k in KEYS:
        df[k] = df[k].map(_key_text)
    return df


def _key_text(v) -> str:
    """A key as text; integral numbers without a decimal part (a seed column holding NaN for
    the base model is written as 0.0, 1.0 ... by pandas)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    text = str(v)
    try:
        f = float(text)
    except ValueError:
        return text
    return str(int(f)) if f.is_integer() else text


def unit_scores(tidy: pd.DataFrame) -> pd.DataFrame:
    """Average benchmark score per unit: per task, the mean `value` over the metrics (and
    filters) of its primary subtask (the one named like the task, or the shortest name);
    then the mean over tasks, each task weighted equally. Metrics lm-eval marks lower-is-better
    (`higher_is_better` False: perplexity, error rates) are left out: they share no scale with
    accuracies and would pull a better model's average down."""
    from .plots import _primary

    need = ["task", "subtask", "value"]
    missing = [c for c in need if c not in tidy.columns]
    if missing:
        raise ValueError(f"tidy table: missing column(s) {', '.join(missing)}")
    t = _keyed(tidy, "tidy table")
    if "higher_is_better" in t.columns:
        t = t[t["higher_is_better"].astype(str).str.strip().str.lower().isin(["true", "1", "1.0"])]
    t = t[t["subtask"] == t["task"].map(_primary(t))]
    per_task = t.groupby(list(KEYS) + ["task"], sort=True)["value"].mean().reset_index()
    out = per_task.groupby(list(KEYS), sort=True).agg(score=("value", "mean"), tasks=("task", "count")).reset_index()
    return out


def effective_cost(cost: pd.DataFrame, measured: pd.DataFrame, tidy: pd.DataFrame, pool_rows: dict,
                   baseline: str | None = "random", full_methods=("full",)) -> pd.DataFrame:
    """One row per fine-tuned unit; see the module doc. `cost`: cost.csv (token FLOPs),
    `measured`: cost_measured.csv, `tidy`: tidy.csv, `pool_rows`: pool → declared rows."""
    c = _keyed(cost, "cost table")[list(KEYS) + ["examples", "selection_flops", "finetune_flops"]]
    m = _keyed(measured, "measured cost table")
    df = c.merge(m, on=list(KEYS), how="inner", validate="one_to_one")
    if len(df) != len(c):
        raise ValueError(f"measured cost table lacks {len(c) - len(df)} unit(s) of the cost table")
    df = df.merge(unit_scores(tidy), on=list(KEYS), how="left")
    unknown = sorted(set(df["pool"]) - set(pool_rows))
    if unknown:
        raise ValueError(f"pool rows unknown for pool(s) {', '.join(unknown)}")
    y = df["pool"].map(pool_rows).astype(float)

    full = df[df["method"].isin(list(full_methods))]
    full_mean = full.groupby(SETUP)[["training_usd", "finetune_flops"]].mean().rename(
        columns={"training_usd": "full_training_usd", "finetune_flops": "full_training_flops"}).reset_index()
    df = df.merge(full_mean, on=SETUP, how="left")
    modelled = df["full_training_usd"].isna()
    scale = y / df["examples"].astype(float)
    df.loc[modelled, "full_training_usd"] = (df["training_usd"] * scale)[modelled]
    df.loc[modelled, "full_training_flops"] = (df["finetune_flops"] * scale)[modelled]
    df["full_cost_from"] = np.where(modelled, "modelled: this unit's training × pool rows / selected rows",
                                    "measured: mean over seeds of method " + "/".join(full_methods))

    for suffix in ("", "_amortized"):
        df[f"effective_cost_ratio{suffix}"] = (df[f"selection_usd{suffix}"] + df["training_usd"]) / df["full_training_usd"]
    df["selection_exceeds_full"] = df["selection_usd"] > df["full_training_usd"]
    df["selection_exceeds_full_amortized"] = df["selection_usd_amortized"] > df["full_training_usd"]
    df["effective_flops_ratio"] = (df["selection_flops"] + df["finetune_flops"]) / df["full_training_flops"]
    df["selection_flops_exceed_full"] = df["selection_flops"] > df["full_training_flops"]

    df["note"] = ""
    if baseline is not None:
        base = df[df["method"] == baseline].groupby(SETUP + ["budget"]).agg(
            baseline_score=("score", "mean"), baseline_total_usd=("total_usd", "mean")).reset_index()
        df = df.merge(base, on=SETUP + ["budget"], how="left")
        df["score_gain_vs_baseline"] = df["score"] - df["baseline_score"]
        df["extra_usd_vs_baseline"] = df["total_usd"] - df["baseline_total_usd"]
        ok = df["extra_usd_vs_baseline"] > 0
        df["gain_per_extra_usd"] = (df["score_gain_vs_baseline"] / df["extra_usd_vs_baseline"]).where(ok)
        df.loc[df["baseline_score"].isna(), "note"] = f"no {baseline} run at this budget"
        df.loc[df["baseline_score"].notna() & ~ok, "note"] = f"costs no more than {baseline}: gain per cost undefined"
        df.loc[df["method"] == baseline, "note"] = "baseline"
        df.insert(df.columns.get_loc("baseline_score"), "baseline", baseline)
    df.loc[df["score"].isna(), "note"] = (df["note"] + "; no benchmark score").str.lstrip("; ")
    first = list(KEYS) + ["score", "effective_cost_ratio", "effective_cost_ratio_amortized", "selection_exceeds_full",
                          "effective_flops_ratio", "full_cost_from"]
    return df[first + [c for c in df.columns if c not in first]]


def write_effective_cost(cost_csv, measured_csv, tidy_csv, pool_rows: dict, baseline, full_methods, out_path):
    df = effective_cost(_read(cost_csv), _read(measured_csv), _read(tidy_csv), pool_rows, baseline, full_methods)
    atomic_write_text(df.to_csv(index=False), out_path)
    return df


def _read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"budget": str, "seed": str}, keep_default_na=True)


# ---------------------------------------------------------------- Pareto
def pareto_points(eff: pd.DataFrame, cost_col: str = "total_usd") -> pd.DataFrame:
    """Mean score and mean cost over seeds, one point per (setup, method, budget), with an
    `on_frontier` flag: no other point of the setup is at most as costly and scores higher."""
    pts = eff.dropna(subset=["score"]).groupby(SETUP + ["method", "budget"], sort=True).agg(
        score=("score", "mean"), cost=(cost_col, "mean"), seeds=("seed", "count")).reset_index()
    pts["on_frontier"] = False
    for _, g in pts.groupby(SETUP):
        best = -np.inf
        for i in g.sort_values(["cost", "score"], ascending=[True, False]).index:
            if pts.at[i, "score"] > best:
                pts.at[i, "on_frontier"] = True
                best = pts.at[i, "score"]
    return pts


def plot_pareto(eff: pd.DataFrame, out_path, baseline: str | None = "random", full_methods=("full",),
                cost_col: str = "total_usd") -> pd.DataFrame:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = pareto_points(eff, cost_col)
    setups = sorted({tuple(r) for r in pts[SETUP].itertuples(index=False)}) or [("", "", "")]
    fig, axes = plt.subplots(1, len(setups), figsize=(6 * len(setups), 4.5), squeeze=False)
    for ax, setup in zip(axes[0], setups):
        g = pts[(pts[SETUP] == pd.Series(setup, index=SETUP)).all(axis=1)]
        front = g[g["on_frontier"]].sort_values("cost")
        if len(front):
            xs = list(front["cost"]) + [g["cost"].max() * 1.5]
            ys = list(front["score"]) + [front["score"].iloc[-1]]
            ax.fill_between(xs, ys, g["score"].min() - 0.02, step="post", color="tab:green", alpha=0.15,
                            label="dominated by the frontier")
            ax.step(xs, ys, where="post", color="tab:green", lw=1)
        for _, p in g.iterrows():
            is_base, is_full = p["method"] == baseline, p["method"] in full_methods
            ax.scatter(p["cost"], p["score"], s=70 if (is_base or is_full) else 35,
                       marker="s" if is_base else "*" if is_full else "o",
                       color="black" if is_base else "tab:red" if is_full else "tab:blue", zorder=3)
            ax.annotate(f"{p['method']} {p['budget']}", (p["cost"], p["score"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(f"total cost per unit, selection + training ({cost_col}, log scale)")
        ax.set_ylabel("average benchmark score")
        legend = (f"■ {baseline}   " if baseline else "") + "★ full data   ● other methods"
        ax.set_title(" / ".join(setup) + "\n" + legend, fontsize=9)
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return pts


def write_pareto(effective_csv, baseline, full_methods, out_path) -> pd.DataFrame:
    return plot_pareto(_read(effective_csv), out_path, baseline, tuple(full_methods))
