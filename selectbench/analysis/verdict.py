"""The front page: per method, does it beat random, at what cost, and how stable is its rank?

Columns:
* ``significant_wins`` of ``setups_tested`` — setups (pool × base model × preset × budget ×
  benchmark metric) in which the method's primary test (paired per-example hierarchical
  bootstrap where per-example records exist, else the seed bootstrap; see
  `generalization.primary_tests`) is significant after the configured correction (Holm or BH
  across the methods of that setup) with a positive effect.
* ``protocol_wins`` of ``protocol_setups`` — the same with 2410.09335's pooled Mann-Whitney
  protocol (one test per pool × base model × preset × budget).
* ``median_effective_cost_ratio`` — median over the method's units (budgets × seeds) of
  ``effective_cost_ratio`` (selection + training on the subset ÷ training on the full pool) from
  ``effective_cost.csv``; NaN with a note when that table is absent.
* ``mean_rank`` — mean rank across setups (1 = best; generalization table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .generalization import primary_tests

EVIDENCE = "wins: significance.csv; cost: effective_cost.csv; rank: generalization.csv, kendall_tau.png"


def verdict_table(sig: pd.DataFrame, general: pd.DataFrame, cost: pd.DataFrame | None,
                  baseline: str = "random") -> pd.DataFrame:
    prim = primary_tests(sig)
    proto = sig[(sig["test"] == "protocol_2410.09335") & sig["p_value"].notna()]
    gen = general[general["method"] != "(all setups)"].set_index("method")
    methods = sorted((set(sig["method"].dropna().astype(str)) | set(gen.index)) - {baseline})
    rows = []
    for m in methods:
        p = prim[prim["method"] == m]
        q = proto[proto["method"].astype(str) == m]
        win = lambda d: int(((d["significant"].astype(str) == "True") & (d["effect"] > 0)).sum())  # noqa: E731
        row = {"method": m, "significant_wins": win(p), "setups_tested": len(p),
               "protocol_wins": win(q), "protocol_setups": len(q),
               "win_rate_vs_baseline": gen["win_rate"].get(m, np.nan),
               "mean_rank": gen["mean_rank"].get(m, np.nan), "note": ""}
        row["beats_baseline"] = f"{row['significant_wins']} of {row['setups_tested']}"
        if cost is None:
            row["median_effective_cost_ratio"] = np.nan
            row["note"] = "effective_cost.csv absent: cost column not computed"
        else:
            c = cost[cost["method"].astype(str) == m]["effective_cost_ratio"]
            c = pd.to_numeric(c, errors="coerce").dropna()
            row["median_effective_cost_ratio"] = float(c.median()) if len(c) else np.nan
            if not len(c):
                row["note"] = "no effective_cost_ratio row for this method"
        row["evidence"] = EVIDENCE
        rows.append(row)
    cols = ["method", "beats_baseline", "significant_wins", "setups_tested", "protocol_wins", "protocol_setups",
            "median_effective_cost_ratio", "mean_rank", "win_rate_vs_baseline", "evidence", "note"]
    out = pd.DataFrame(rows, columns=cols)
    out.insert(1, "baseline", baseline)
    return out.sort_values(["significant_wins", "mean_rank"], ascending=[False, True], kind="stable").reset_index(drop=True)


def read_cost(path) -> pd.DataFrame | None:
    """effective_cost.csv (written by the cost report) or None when it does not exist."""
    from pathlib import Path

    if path is None or not Path(path).exists():
        return None
    df = pd.read_csv(path)
    missing = [c for c in ("method", "effective_cost_ratio") if c not in df.columns]
    if missing:
        from .significance import SignificanceError

        raise SignificanceError(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def write_verdict(sig_path, general_path, cost_path, out_path, baseline: str = "random") -> pd.DataFrame:
    from ..io import atomic_write_text

    out = verdict_table(pd.read_csv(sig_path), pd.read_csv(general_path), read_cost(cost_path), baseline)
    atomic_write_text(out.to_csv(index=False), out_path)
    return out
