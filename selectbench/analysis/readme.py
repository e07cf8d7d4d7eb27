"""The README's demo results table, printed from the demo's summary.csv (so it cannot drift)."""

from __future__ import annotations

import math

import pandas as pd


def _cell(mean, std, n) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    s = f"{mean:.3f}"
    if n and n > 1 and isinstance(std, float) and not math.isnan(std) and std > 0:
        s += f" ± {std:.3f}"
    return s


def readme_table(summary_path, baseline: str = "random") -> str:
    """Markdown: one row per (method, budget) (base model first, full data last), one column per
    task metric of the primary subtask; cells mean ± std over seeds (std omitted for one seed or 0)."""
    df = pd.read_csv(summary_path, dtype={"budget": str})
    need = {"method", "budget", "task", "subtask", "metric", "filter", "mean", "std", "n_seeds"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise ValueError(f"{summary_path}: missing column(s) {', '.join(missing)}")
    df = df[df["subtask"] == df["task"]] if (df["subtask"] == df["task"]).any() else df
    cols = sorted({(t, m, f) for t, m, f in zip(df["task"], df["metric"], df["filter"])})
    header = ["model"] + [f"{t} {m}" + (f" ({f})" if f not in ("none", "") else "") for t, m, f in cols]

    def order(key):
        method, budget = key
        num = pd.to_numeric(budget, errors="coerce")
        kind = 0 if method == "base" else (2 if pd.isna(num) else 1)
        return (kind, -(num if not pd.isna(num) else 0), method != baseline, method)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, budget in sorted({(m, b) for m, b in zip(df["method"], df["budget"])}, key=order):
        d = df[(df["method"] == method) & (df["budget"] == budget)]
        label = "base model" if method == "base" else (f"{method} (all data)" if budget == "all" else f"{method}, {budget}")
        cells = []
        for t, m, f in cols:
            r = d[(d["task"] == t) & (d["metric"] == m) & (d["filter"] == f)]
            cells.append(_cell(float(r["mean"].iloc[0]), float(r["std"].iloc[0]), int(r["n_seeds"].iloc[0]))
                         if len(r) else "–")
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines) + "\n"
