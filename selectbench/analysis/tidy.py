"""Benchmark JSONs → one tidy table (one row per unit × task × subtask × metric)."""

from __future__ import annotations


import pandas as pd

from ..io import read_json

TIDY_COLUMNS = ["pool", "base_model", "preset", "method", "budget", "seed",
                "task", "subtask", "metric", "filter", "value", "stderr", "n", "higher_is_better"]


def higher_is_better(record: dict, subtask: str, metric: str) -> bool:
    """lm-eval's direction of `metric`: the JSON's `higher_is_better` block, else the task
    config's `metric_list`, else True (lm-eval's own default for a metric it does not know)."""
    hib = (record.get("higher_is_better") or {}).get(subtask, {})
    if metric in hib and hib[metric] is not None:
        return bool(hib[metric])
    for m in ((record.get("configs") or {}).get(subtask, {}).get("metric_list") or []):
        if m.get("metric") == metric and m.get("higher_is_better") is not None:
            return bool(m["higher_is_better"])
    return True


def metric_rows(record: dict) -> list[dict]:
    """Flatten lm-eval's {'acc,none': v, 'acc_stderr,none': se, 'alias': ...} per subtask."""
    rows = []
    for subtask, metrics in record["results"].items():
        n_samples = record.get("n-samples", record.get("n_samples", {}))  # old files: n_samples
        n = n_samples.get(subtask, {}).get("effective")
        for key, value in metrics.items():
            if "," not in key or "_stderr," in key:
                continue
            name, filt = key.split(",", 1)
            se = metrics.get(f"{name}_stderr,{filt}")
            rows.append({
                "task": record["task"], "subtask": subtask, "metric": name, "filter": filt,
                "value": float(value),
                "stderr": float(se) if isinstance(se, (int, float)) else float("nan"),
                "n": n,
                "higher_is_better": higher_is_better(record, subtask, name),
            })
    return rows


def tidy_table(units: list[dict]) -> pd.DataFrame:
    """`units`: dicts with pool, base_model, preset, method, budget, seed and `path` (a JSON)."""
    rows = []
    for u in units:
        record = read_json(u["path"], "benchmark JSON")
        keys = {k: u[k] for k in TIDY_COLUMNS[:6]}
        rows.extend({**keys, **r} for r in metric_rows(record))
    df = pd.DataFrame(rows, columns=TIDY_COLUMNS)
    return df.sort_values(TIDY_COLUMNS[:10], kind="stable").reset_index(drop=True)
