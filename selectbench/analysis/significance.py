"""Significance of "method − random": pure functions on a tidy table (see docs/statistics.md).

Tests, one output row each (columns `OUT_COLUMNS`):

* ``protocol_2410.09335`` — the protocol of "Rethinking Data Selection at Scale" (Xia et al.,
  2410.09335): for one setup (pool, base_model, preset, budget) and one method, the method's
  sample is its value on every benchmark metric plus the average of those values, per seed;
  the baseline's sample pools the same over every baseline seed;
  ``scipy.stats.mannwhitneyu(method, baseline, alternative="greater")`` → U and p.
* ``bootstrap_seeds`` — per benchmark metric: mean over the method's seeds − mean over the
  baseline's seeds, percentile CI and one-sided p from a seeded bootstrap that resamples the
  seeds of each side (≥ 10,000 resamples, vectorised).
* ``welch_seeds`` / ``mannwhitney_seeds`` — per benchmark metric, over seeds, one-sided
  (method > baseline); only where both sides have ≥ 2 seeds (else the row says why).
* ``paired_bootstrap`` — per benchmark metric, from lm-eval's per-example records: a
  hierarchical bootstrap that resamples training seeds (each side) and benchmark items
  (shared by both sides: paired by ``doc_id``) together.

Direction: a tidy table may carry lm-eval's `higher_is_better` per metric (the workflow's
tidy.csv does; absent = every metric higher-is-better). Values of a lower-is-better metric
(perplexity, error rates) are negated before testing, so every one-sided test asks "is the
method *better* than the baseline", `effect`/CI are improvements (positive = better), and the
means and the random range are reported back on the metric's own scale (`direction` column).
The 2410.09335 protocol pools the oriented values of a setup's metrics.

Adjusted p-values (Holm and Benjamini-Hochberg) are computed within a *family*: the rows of
one setup, one test and one benchmark metric, across the methods compared in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import SelectbenchError

REQUIRED = ["pool", "base_model", "method", "budget", "seed", "task", "metric", "value"]
SETUP_KEYS = ["pool", "base_model", "preset", "budget"]
METRIC_KEYS = ["task", "subtask", "metric", "filter"]
REFERENCE_METHODS = ("base",)          # evaluated base model: not a selection method
REFERENCE_BUDGETS = ("all", "none")    # full data / base model: no random at that budget
TESTS = ("protocol_2410.09335", "bootstrap_seeds", "welch_seeds", "mannwhitney_seeds", "paired_bootstrap")
OUT_COLUMNS = ["pool", "base_model", "preset", "method", "budget", "task", "subtask", "metric", "filter",
               "direction", "baseline", "test", "statistic", "p_value", "p_holm", "p_bh", "correction", "p_adjusted",
               "effect", "ci_low", "ci_high", "n_method", "n_baseline", "method_mean", "baseline_mean",
               "baseline_min", "baseline_max", "significant", "within_random_range", "note"]


class SignificanceError(SelectbenchError):
    """The tidy table cannot be tested as asked; the message names the group or row."""


@dataclass(frozen=True)
class Options:
    baseline: str = "random"
    alpha: float = 0.05
    correction: str = "holm"          # holm | bh
    resamples: int = 10_000
    seed: int = 0
    too_few: str = "error"            # error | note: one baseline seed, missing baseline
    protocol_method: str = "auto"     # scipy.stats.mannwhitneyu `method`
    chunk: int = 1_000                # bootstrap replicates per block (memory bound)

    def __post_init__(self):
        if self.correction not in ("holm", "bh"):
            raise SignificanceError(f"correction must be 'holm' or 'bh', got {self.correction!r}")
        if not 0 < self.alpha < 1:
            raise SignificanceError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if self.resamples < 1:
            raise SignificanceError(f"bootstrap resamples must be ≥ 1, got {self.resamples!r}")
        if self.too_few not in ("error", "note"):
            raise SignificanceError(f"too_few must be 'error' or 'note', got {self.too_few!r}")


# ---------------------------------------------------------------- input
def check_tidy(tidy: pd.DataFrame, source: str = "tidy table") -> pd.DataFrame:
    """Validated copy: required columns, numeric finite values, no duplicate keys.

    Optional grouping columns (preset, subtask, filter) are added as '' when absent. Every
    key column becomes a string (budget '500', seed '0'; an empty seed stays '')."""
    missing = [c for c in REQUIRED if c not in tidy.columns]
    if missing:
        raise SignificanceError(f"{source}: missing column(s) {', '.join(missing)} "
                                f"(need at least {', '.join(REQUIRED)})")
    df = tidy.copy()
    for c in ("preset", "subtask", "filter"):
        if c not in df.columns:
            df[c] = ""
    if "subtask" in tidy.columns:
        df["subtask"] = df["subtask"].where(df["subtask"].notna(), df["task"])
    for c in SETUP_KEYS + METRIC_KEYS + ["method", "seed"]:
        df[c] = df[c].map(_key_str)
    for c in ("budget", "seed"):          # '0.0' (a float column written by pandas) is seed '0'
        df[c] = df[c].map(_int_str)
    values = pd.to_numeric(df["value"], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.fillna(0.0))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        r = df.iloc[i]
        raise SignificanceError(
            f"{source}: row {i + 2}: field 'value': not a finite number ({tidy['value'].iloc[i]!r}) "
            f"in group {_group_name(r, SETUP_KEYS + ['method', 'seed'] + METRIC_KEYS)}")
    df["value"] = values.astype(float)
    key = SETUP_KEYS + ["method", "seed"] + METRIC_KEYS
    dup = df.duplicated(key, keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise SignificanceError(f"{source}: row {i + 2}: duplicate value for "
                                f"{_group_name(df.iloc[i], key)}")
    df["higher_is_better"] = _directions(tidy, df, source)
    df["value"] = df["value"].where(df["higher_is_better"], -df["value"])   # oriented: greater is better
    return df


_TRUE, _FALSE = {"true", "1", "1.0", "yes"}, {"false", "0", "0.0", "no"}


def _directions(tidy: pd.DataFrame, df: pd.DataFrame, source: str) -> pd.Series:
    """The optional `higher_is_better` column as booleans (all True when absent); one direction
    per benchmark metric, else an error naming the row."""
    if "higher_is_better" not in tidy.columns:
        return pd.Series(True, index=df.index)
    out = []
    for i, v in enumerate(tidy["higher_is_better"].tolist()):
        t = str(v).strip().lower() if v is not None and not (isinstance(v, float) and math.isnan(v)) else ""
        if t not in _TRUE | _FALSE:
            raise SignificanceError(f"{source}: row {i + 2}: field 'higher_is_better': {v!r} is not True or False "
                                    f"in group {_group_name(df.iloc[i], SETUP_KEYS + ['method', 'seed'] + METRIC_KEYS)}")
        out.append(t in _TRUE)
    hib = pd.Series(out, index=df.index)
    mixed = hib.groupby([df[c] for c in METRIC_KEYS]).transform("nunique") > 1
    if mixed.any():
        i = int(np.flatnonzero(mixed.to_numpy())[0])
        raise SignificanceError(f"{source}: row {i + 2}: field 'higher_is_better' differs between rows of "
                                f"{_group_name(df.iloc[i], METRIC_KEYS)}")
    return hib


def _key_str(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _int_str(v: str) -> str:
    try:
        f = float(v)
    except ValueError:
        return v
    return str(int(f)) if f.is_integer() else v


def _group_name(row, keys) -> str:
    return ", ".join(f"{k}={row[k]}" for k in keys if row[k] != "")


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that take part in tests: not the base model, not a budget without random (all/none)."""
    return df[~df["method"].isin(REFERENCE_METHODS) & ~df["budget"].isin(REFERENCE_BUDGETS)]


# ---------------------------------------------------------------- statistics
def protocol_samples(setup: pd.DataFrame, method: str) -> np.ndarray:
    """2410.09335's sample of one method in one setup: per seed, every metric's value + their mean."""
    d = setup[setup["method"] == method]
    out = []
    for _, s in d.groupby("seed", sort=True):
        v = s.sort_values(METRIC_KEYS)["value"].to_numpy(float)
        out.extend([*v, v.mean()])
    return np.asarray(out, float)


def bootstrap_mean_diff(a, b, resamples: int, seed: int, alpha: float = 0.05):
    """mean(a) − mean(b), percentile CI (1 − alpha) and one-sided p (H1: > 0) from resampling
    each side with replacement; p = (1 + #{Δ* ≤ 0}) / (B + 1)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, len(a), size=(resamples, len(a)))].mean(axis=1)
    db = b[rng.integers(0, len(b), size=(resamples, len(b)))].mean(axis=1)
    delta = da - db
    lo, hi = np.quantile(delta, [alpha / 2, 1 - alpha / 2])
    p = (1 + int((delta <= 0).sum())) / (resamples + 1)
    return float(a.mean() - b.mean()), float(lo), float(hi), p


def hierarchical_bootstrap(xm: np.ndarray, xb: np.ndarray, resamples: int, seed: int,
                           alpha: float = 0.05, chunk: int = 1_000):
    """Paired per-example bootstrap of mean(method) − mean(baseline).

    `xm` (seeds_m × items), `xb` (seeds_b × items): per-example scores, columns aligned on the
    same benchmark items. Each replicate draws the items once (N with replacement, shared by
    both sides: paired) and, independently, the seeds of each side (with replacement); the
    replicate's statistic is mean over drawn method seeds of the mean over drawn items, minus
    the same for the baseline. Returns (effect, ci_low, ci_high, p one-sided H1: > 0)."""
    xm, xb = np.asarray(xm, float), np.asarray(xb, float)
    n = xm.shape[1]
    xm32, xb32 = xm.astype(np.float32), xb.astype(np.float32)
    rng = np.random.default_rng(seed)
    deltas = []
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        draws = rng.integers(0, n, size=(b, n))                                  # items with replacement
        w = np.bincount((draws + np.arange(b)[:, None] * n).ravel(), minlength=b * n).reshape(b, n)
        w = w.astype(np.float32)                                                 # counts: exact in float32
        im = (xm32 @ w.T).astype(float) / n                                      # seeds_m × b item means
        ib = (xb32 @ w.T).astype(float) / n
        sm = rng.integers(0, xm.shape[0], size=(b, xm.shape[0]))
        sb = rng.integers(0, xb.shape[0], size=(b, xb.shape[0]))
        cols = np.arange(b)[:, None]
        deltas.append(im[sm, cols].mean(axis=1) - ib[sb, cols].mean(axis=1))
    delta = np.concatenate(deltas)
    lo, hi = np.quantile(delta, [alpha / 2, 1 - alpha / 2])
    p = (1 + int((delta <= 0).sum())) / (resamples + 1)
    return float(xm.mean() - xb.mean()), float(lo), float(hi), p


def holm(p) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN stays NaN, excluded from the family)."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate([(m - i) * p[j] for i, j in enumerate(order)])
    out[order] = np.minimum(adj, 1.0)
    return out


def bh(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values via scipy.stats.false_discovery_control (NaN kept)."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


# ---------------------------------------------------------------- tests on a tidy table
def seed_tests(tidy: pd.DataFrame, opts: Options = Options(), source: str = "tidy table") -> list[dict]:
    """Protocol + per-metric seed tests of every method against the baseline, per setup."""
    df = comparable(check_tidy(tidy, source))
    rows: list[dict] = []
    for setup_vals, setup in df.groupby(SETUP_KEYS, sort=True):
        setup_id = dict(zip(SETUP_KEYS, setup_vals))
        methods = sorted(m for m in setup["method"].unique() if m != opts.baseline)
        base = setup[setup["method"] == opts.baseline]
        for method in methods:
            ident = {**setup_id, "method": method, "baseline": opts.baseline}
            if base.empty:
                _too_few(opts, f"no baseline '{opts.baseline}' in setup {_group_name(pd.Series(setup_id), SETUP_KEYS)}")
                rows.append({**ident, "test": TESTS[0], "note": f"no baseline '{opts.baseline}' in this setup"})
                continue
            d = setup[setup["method"] == method]
            rows.append({**_protocol_row(ident, setup, d, base, method, opts), "direction": _direction(d)})
            for mvals, dm in d.groupby(METRIC_KEYS, sort=True):
                mid = {**ident, **dict(zip(METRIC_KEYS, mvals)), "direction": _direction(dm)}
                db = base.merge(pd.DataFrame([dict(zip(METRIC_KEYS, mvals))]), on=METRIC_KEYS)
                rows.extend(_metric_rows(mid, dm["value"].to_numpy(float), db["value"].to_numpy(float), opts))
    return rows


def _direction(rows: pd.DataFrame) -> str:
    hib = set(rows["higher_is_better"])
    return "higher" if hib == {True} else "lower" if hib == {False} else "mixed"


def _too_few(opts: Options, message: str) -> None:
    if opts.too_few == "error":
        raise SignificanceError(message)


def _protocol_row(ident, setup, d, base, method, opts) -> dict:
    row = {**ident, "test": TESTS[0]}
    mset = {tuple(k) for k in d[METRIC_KEYS].drop_duplicates().itertuples(index=False)}
    bset = {tuple(k) for k in base[METRIC_KEYS].drop_duplicates().itertuples(index=False)}
    per_seed = [set(map(tuple, s[METRIC_KEYS].itertuples(index=False))) for _, s in
                pd.concat([d, base]).groupby(["method", "seed"])]
    if mset != bset or any(s != mset for s in per_seed):
        row["note"] = ("protocol needs the same benchmark metrics for every seed of both methods; "
                       f"method has {len(mset)}, baseline {len(bset)}")
        _too_few(opts, f"{method} vs {opts.baseline} in setup {_group_name(pd.Series(ident), SETUP_KEYS)}: {row['note']}")
        return row
    x, y = protocol_samples(setup, method), protocol_samples(setup, opts.baseline)
    res = stats.mannwhitneyu(x, y, alternative="greater", method=opts.protocol_method)
    avg_m = d.groupby("seed")["value"].mean()
    avg_b = base.groupby("seed")["value"].mean()
    row.update(statistic=float(res.statistic), p_value=float(res.pvalue), effect=float(avg_m.mean() - avg_b.mean()),
               n_method=len(x), n_baseline=len(y), method_mean=float(avg_m.mean()),
               baseline_mean=float(avg_b.mean()), baseline_min=float(avg_b.min()), baseline_max=float(avg_b.max()),
               note=f"U over {len(avg_m)} method seed(s) × ({len(mset)} metrics + their mean) vs "
                    f"{len(avg_b)} baseline seed(s); effect = difference of the seeds' mean average")
    return row


def _metric_rows(mid: dict, a: np.ndarray, b: np.ndarray, opts: Options) -> list[dict]:
    common = dict(n_method=len(a), n_baseline=len(b), method_mean=float(a.mean()) if len(a) else np.nan)
    if len(b) == 0:
        msg = f"no baseline '{opts.baseline}' value for this metric"
        _too_few(opts, f"{_group_name(pd.Series(mid), SETUP_KEYS + ['method'] + METRIC_KEYS)}: {msg}")
        return [{**mid, **common, "test": t, "note": msg} for t in TESTS[1:4]]
    common.update(baseline_mean=float(b.mean()), baseline_min=float(b.min()), baseline_max=float(b.max()))
    eff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        msg = f"needs ≥ 2 seeds on both sides (method {len(a)}, baseline {len(b)})"
        if len(b) < 2:
            _too_few(opts, f"{_group_name(pd.Series(mid), SETUP_KEYS + ['method'] + METRIC_KEYS)}: "
                           f"baseline '{opts.baseline}' has {len(b)} seed; the seed-level tests {msg} "
                           "(run more seeds of it, or state it in the row: --too-few note / report.too_few: note)")
        return [{**mid, **common, "test": t, "effect": eff, "note": msg} for t in TESTS[1:4]]
    eff, lo, hi, p = bootstrap_mean_diff(a, b, opts.resamples, opts.seed, opts.alpha)
    rows = [{**mid, **common, "test": "bootstrap_seeds", "statistic": eff, "p_value": p, "effect": eff,
             "ci_low": lo, "ci_high": hi,
             "note": f"{opts.resamples} resamples of seeds, seed {opts.seed}; percentile CI {1 - opts.alpha:.0%}"}]
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        w_stat, w_p, wnote = np.nan, (0.0 if eff > 0 else 1.0), "no variance on either side: p is 0 if the means differ upward, else 1"
    else:
        w = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
        w_stat, w_p, wnote = float(w.statistic), float(w.pvalue), "scipy.stats.ttest_ind(equal_var=False, alternative='greater')"
    u = stats.mannwhitneyu(a, b, alternative="greater")
    rows.append({**mid, **common, "test": "welch_seeds", "statistic": w_stat, "p_value": w_p, "effect": eff, "note": wnote})
    rows.append({**mid, **common, "test": "mannwhitney_seeds", "statistic": float(u.statistic), "p_value": float(u.pvalue),
                 "effect": eff, "note": "scipy.stats.mannwhitneyu(alternative='greater') over seeds"})
    return rows


# ---------------------------------------------------------------- paired, per example
def per_example_scores(record: dict, subtask: str, metric: str, filt: str) -> dict:
    """doc_id → per-example value of `metric` under `filt` from one benchmark JSON's `samples`."""
    out = {}
    for s in (record.get("samples") or {}).get(subtask, []):
        if s.get("filter", "none") != filt or metric not in s:
            continue
        v = s[metric]
        if isinstance(v, bool) or isinstance(v, (int, float)):
            out[s["doc_id"]] = float(v)
    return out


def paired_tests(units: list[dict], tidy: pd.DataFrame, opts: Options = Options(),
                 source: str = "tidy table") -> list[dict]:
    """`units`: pool, base_model, preset, method, budget, seed, task, `path` (benchmark JSON).

    One `paired_bootstrap` row per (setup, method, benchmark metric) present in the tidy table,
    computed from the JSONs' per-example records matched by doc_id. The JSONs of one setup and
    task are read once and dropped before the next (memory: one setup × task)."""
    import json

    df = comparable(check_tidy(tidy, source))
    uk = SETUP_KEYS + ["method", "seed", "task"]
    paths = {}
    for u in units:
        key = {k: _key_str(u.get(k, "")) for k in uk}
        key["budget"], key["seed"] = _int_str(key["budget"]), _int_str(key["seed"])
        paths[tuple(key[k] for k in uk)] = u["path"]
    rows = []
    for _, st in df.groupby(SETUP_KEYS + ["task"], sort=True):
        if not (st["method"] == opts.baseline).any():
            continue                     # stated by the seed tests' rows
        records = {}
        for (method, seed), _ in st.groupby(["method", "seed"]):
            r0 = st[(st["method"] == method) & (st["seed"] == seed)].iloc[0]
            path = paths.get(tuple(r0[k] for k in uk))
            if path is not None:
                with open(path) as fh:
                    records[(method, seed)] = json.load(fh).get("samples") or {}
        for gvals, g in st.groupby(METRIC_KEYS, sort=True):
            gid = {**dict(zip(SETUP_KEYS, st[SETUP_KEYS].iloc[0])), **dict(zip(METRIC_KEYS, gvals))}
            base = g[g["method"] == opts.baseline]
            if base.empty:
                continue
            sign = 1.0 if bool(g["higher_is_better"].iloc[0]) else -1.0   # g's values are oriented too
            scores = {k: {i: sign * v for i, v in
                          per_example_scores({"samples": rec}, gid["subtask"], gid["metric"], gid["filter"]).items()}
                      for k, rec in records.items()}
            for method in sorted(m for m in g["method"].unique() if m != opts.baseline):
                ident = {**gid, "method": method, "baseline": opts.baseline, "test": "paired_bootstrap",
                         "direction": _direction(g)}
                ms = [scores.get((method, s)) for s in sorted(g[g["method"] == method]["seed"])]
                bs = [scores.get((opts.baseline, s)) for s in sorted(base["seed"])]
                rows.append(_paired_row(ident, ms, bs, g, method, opts))
        del records
    return rows


def _paired_row(ident, ms, bs, g, method, opts) -> dict:
    if any(s is None for s in ms + bs):
        return {**ident, "note": "no benchmark JSON for some seed of this metric"}
    if any(len(s) == 0 for s in ms + bs):
        return {**ident, "note": "no per-example records for this metric (metric not logged per example)"}
    items = sorted(set.intersection(*(set(s) for s in ms + bs)), key=lambda v: (isinstance(v, str), v))
    if not items:
        return {**ident, "note": "no benchmark item (doc_id) common to every seed of both methods"}
    xm = np.array([[s[i] for i in items] for s in ms])
    xb = np.array([[s[i] for i in items] for s in bs])
    # the per-example mean must be the reported score, else the metric is not a per-example mean
    for x, who in ((xm, method), (xb, opts.baseline)):
        rep = g[g["method"] == who].sort_values("seed")["value"].to_numpy(float)
        if len(items) == min(len(s) for s in ms + bs) and not np.allclose(x.mean(axis=1), rep, atol=1e-6):
            return {**ident, "note": "per-example mean differs from the reported score: "
                                     "not a mean-aggregated metric, paired test skipped"}
    eff, lo, hi, p = hierarchical_bootstrap(xm, xb, opts.resamples, opts.seed, opts.alpha, opts.chunk)
    bseeds = xb.mean(axis=1)
    return {**ident, "statistic": eff, "p_value": p, "effect": eff, "ci_low": lo, "ci_high": hi,
            "n_method": xm.shape[0], "n_baseline": xb.shape[0], "method_mean": float(xm.mean()),
            "baseline_mean": float(xb.mean()), "baseline_min": float(bseeds.min()), "baseline_max": float(bseeds.max()),
            "note": f"{len(items)} items paired by doc_id × seeds {xm.shape[0]} vs {xb.shape[0]}; "
                    f"{opts.resamples} resamples, seed {opts.seed}"}


# ---------------------------------------------------------------- the table
def significance_table(tidy: pd.DataFrame, opts: Options = Options(), units: list[dict] | None = None,
                       source: str = "tidy table") -> pd.DataFrame:
    """Every test row, adjusted p-values within families, flags. `units` adds paired rows."""
    rows = seed_tests(tidy, opts, source)
    if units is not None:
        rows += paired_tests(units, tidy, opts, source)
    out = pd.DataFrame(rows)
    for c in OUT_COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    out = out[OUT_COLUMNS].copy()
    for c in METRIC_KEYS:
        out[c] = out[c].astype(object).where(out[c].notna(), "")
    # a lower-is-better metric was tested on −value: means and the random range back on its own scale
    low = out["direction"] == "lower"
    if low.any():
        out.loc[low, ["method_mean", "baseline_mean"]] = -out.loc[low, ["method_mean", "baseline_mean"]].to_numpy(float)
        lo_hi = out.loc[low, ["baseline_min", "baseline_max"]].to_numpy(float)
        out.loc[low, "baseline_min"], out.loc[low, "baseline_max"] = -lo_hi[:, 1], -lo_hi[:, 0]
        out.loc[low, "note"] = out.loc[low, "note"].fillna("").astype(str) + \
            "; lower is better: tested on −value, effect and CI are improvements"
    mixed = out["direction"] == "mixed"
    out.loc[mixed, "note"] = out.loc[mixed, "note"].fillna("").astype(str) + \
        "; lower-is-better metrics pooled as −value (means on that oriented scale)"
    out["baseline"] = opts.baseline
    out["correction"] = opts.correction
    family = SETUP_KEYS + ["test"] + METRIC_KEYS
    out["p_holm"] = np.nan
    out["p_bh"] = np.nan
    for _, idx in out.groupby(family, sort=False).groups.items():
        p = out.loc[idx, "p_value"].to_numpy(float)
        out.loc[idx, "p_holm"] = holm(p)
        out.loc[idx, "p_bh"] = bh(p)
    out["p_adjusted"] = out["p_holm"] if opts.correction == "holm" else out["p_bh"]
    has_p = out["p_adjusted"].notna()
    out["significant"] = (has_p & (out["p_adjusted"] <= opts.alpha)).where(has_p, other=pd.NA)
    has_range = out["baseline_min"].notna() & out["method_mean"].notna()
    within = (out["method_mean"] >= out["baseline_min"] - 1e-12) & (out["method_mean"] <= out["baseline_max"] + 1e-12)
    out["within_random_range"] = within.where(has_range, other=pd.NA)
    out["note"] = out["note"].fillna("")
    order = {t: i for i, t in enumerate(TESTS)}
    out = out.assign(_t=out["test"].map(order)).sort_values(
        SETUP_KEYS + ["_t"] + METRIC_KEYS + ["method"], kind="stable").drop(columns="_t")
    return out.reset_index(drop=True)


# ---------------------------------------------------------------- files
def read_tidy(path) -> pd.DataFrame:
    """A tidy CSV (lines starting with '#' are comments); the key columns are read as text."""
    from pathlib import Path

    if not Path(path).exists():
        raise SignificanceError(f"{path}: no such file")
    try:
        return pd.read_csv(path, comment="#", dtype={"budget": str, "seed": str, "preset": str, "subtask": str,
                                                      "filter": str, "method": str, "pool": str, "base_model": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise SignificanceError(f"{path}: not a readable CSV: {e}") from e


def units_from_dir(tidy: pd.DataFrame, evals_dir) -> list[dict]:
    """Benchmark JSONs of the tidy rows under an evals directory laid out like results/evals."""
    from pathlib import Path

    if not Path(evals_dir).is_dir():
        raise SignificanceError(f"{evals_dir}: not a directory (expected benchmark JSONs laid out like results/evals)")
    df = check_tidy(tidy)
    keys = SETUP_KEYS + ["method", "seed", "task"]
    units = []
    for r in df[keys].drop_duplicates().itertuples(index=False):
        u = dict(zip(keys, r))
        path = Path(evals_dir) / u["pool"] / u["base_model"] / u["preset"] / u["method"] / f"b{u['budget']}" \
            / f"s{u['seed']}" / f"{u['task']}.json"
        if path.exists():
            units.append({**u, "path": str(path)})
    return units


def write_significance(tidy: pd.DataFrame, out_path, opts: Options = Options(), units: list[dict] | None = None,
                       source: str = "tidy table") -> pd.DataFrame:
    from ..io import atomic_write_text

    out = significance_table(tidy, opts, units, source)
    atomic_write_text(out.to_csv(index=False), out_path)
    return out
