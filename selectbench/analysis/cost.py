"""Compute per fine-tuned unit: selection (scoring, training-based stages) + fine-tuning.

Selection cost of a unit = every score file its method reads (scorer + embedding
scorer; LESS's warm-up is inside its scorer's estimate) + the training rounds
recorded in its selection file (DiverseEvol) + the training of any pre-experienced
model its scorers use + the select job itself (wall time only: selector compute
such as ZIP's compression or k-center is not counted in FLOPs). A score file is shared by every budget and seed of the
methods that read it; its cost is listed in full on each row, not divided.
FLOPs follow the RDS+ paper's model: training 6·N·tokens, forward-only 2·N·tokens.
"""

from __future__ import annotations


import pandas as pd

from ..io import atomic_write_text, read_json

KEYS = ("pool", "base_model", "preset", "method", "budget", "seed")


def _flops(record: dict | None) -> float:
    return float(((record or {}).get("cost") or {}).get("flops_estimate", 0.0) or 0.0)


def cost_row(unit: dict, finetune: dict, selection: dict, scores: list[dict], builds: list[dict],
             select_job: dict | None = None) -> dict:
    """One row: fine-tune metrics + the selection cost parts (each a loaded JSON).

    `select_job`: the select job's own wall time (selector compute: ZIP, k-center, k-means...).
    """
    sel_flops = sum(_flops(s) for s in scores) + _flops(selection) + sum(b["train"]["flops_estimate"] for b in builds)
    sel_wall = (sum(float(s.get("wall_s", 0.0)) for s in scores)
                + float((selection.get("cost") or {}).get("wall_s", 0.0))
                + sum(b["train"]["wall_s"] for b in builds)
                + float((select_job or {}).get("wall_s", 0.0)))
    return {
        **{k: unit[k] for k in KEYS},
        "examples": finetune["examples"], "steps": finetune["steps"], "tokens_seen": finetune["tokens_seen"],
        "finetune_flops": finetune["flops_estimate"], "finetune_wall_s": finetune["wall_s"],
        "score_files": ";".join(unit.get("score_keys", [])),
        "selection_flops": sel_flops, "selection_wall_s": round(sel_wall, 3),
        "total_flops": finetune["flops_estimate"] + sel_flops,
        "total_wall_s": round(finetune["wall_s"] + sel_wall, 3),
    }


def write_cost_table(units: list[dict], out_path) -> pd.DataFrame:
    """`units`: unit keys + paths: `metrics`, `selection`, `selection_cost`, `scores` (list),
    `builds` (model dirs)."""
    cache: dict[str, dict] = {}

    def load(path):
        if path not in cache:
            cache[path] = read_json(path)
        return cache[path]

    rows = [cost_row(u, load(u["metrics"]), load(u["selection"]), [load(p) for p in u["scores"]],
                     [load(f"{d}/build_metrics.json") for d in u["builds"]], load(u["selection_cost"]))
            for u in units]
    df = pd.DataFrame(rows)
    atomic_write_text(df.to_csv(index=False), out_path)
    return df


# ---------------------------------------------------------------- measured (Snakemake benchmark TSVs)
STAGES = ("selection", "training", "evaluation")
BENCH_COLUMNS = ("s", "max_rss", "cpu_time")
DEFAULT_PRICES = {"gpu_hour": 4.10, "cpu_core_hour": 0.0425}


def read_benchmark(path) -> dict:
    """One Snakemake benchmark TSV → {wall_s, cpu_s, max_rss_mb} (mean over `repeat` rows;
    'NA' readings, which Snakemake writes for jobs too short to sample, count as 0 / unknown)."""
    try:
        df = pd.read_csv(path, sep="\t")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: benchmark file missing (the job ran before it had a "
                                "`benchmark:`; rerun it with --forcerun)") from None
    missing = [c for c in BENCH_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not a Snakemake benchmark TSV: no column {', '.join(map(repr, missing))}")
    if df.empty:
        raise ValueError(f"{path}: benchmark file has no rows")
    num = df[list(BENCH_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    if num["s"].isna().any():
        raise ValueError(f"{path}: row {int(num['s'].isna().to_numpy().argmax()) + 1}: field 's' is not a number")
    rss = num["max_rss"].mean()
    return {"wall_s": float(num["s"].mean()), "cpu_s": float(num["cpu_time"].fillna(0.0).mean()),
            "max_rss_mb": float(rss) if pd.notna(rss) else float("nan")}


def measured_table(units: list[dict], prices: dict | None = None) -> pd.DataFrame:
    """Per fine-tuned unit: wall hours, CPU core-hours (measured CPU time), GPU-hours (wall ×
    GPUs the rule requested), peak RSS and price, per stage (selection / training / evaluation).

    `units`: unit keys + `jobs`: [{stage, benchmark, gpus}]. A job read by several units (a score
    file shared by budgets and seeds, a selection shared by base models and presets) counts in
    full on each of them (`*_attributed`) and divided by the number of units that read it
    (`*_amortized`).
    """
    prices = {**DEFAULT_PRICES, **(prices or {})}
    share: dict[str, int] = {}
    for u in units:
        for j in {j["benchmark"] for j in u["jobs"]}:
            share[j] = share.get(j, 0) + 1
    cache: dict[str, dict] = {}
    rows = []
    for u in units:
        row = {k: u[k] for k in KEYS}
        seen = set()
        for stage in STAGES:
            acc = dict(wall_h=0.0, cpu_core_h=0.0, gpu_h=0.0, wall_h_am=0.0, cpu_core_h_am=0.0, gpu_h_am=0.0)
            rss, n = [], 0
            for j in u["jobs"]:
                if j["stage"] != stage or j["benchmark"] in seen:
                    continue
                seen.add(j["benchmark"])
                if j["benchmark"] not in cache:
                    cache[j["benchmark"]] = read_benchmark(j["benchmark"])
                b, k = cache[j["benchmark"]], share[j["benchmark"]]
                wall, cpu, gpu = b["wall_s"] / 3600, b["cpu_s"] / 3600, b["wall_s"] * float(j["gpus"]) / 3600
                acc["wall_h"] += wall
                acc["cpu_core_h"] += cpu
                acc["gpu_h"] += gpu
                acc["wall_h_am"] += wall / k
                acc["cpu_core_h_am"] += cpu / k
                acc["gpu_h_am"] += gpu / k
                rss.append(b["max_rss_mb"])
                n += 1
            for suffix, tag in (("", ""), ("_amortized", "_am")):
                row[f"{stage}_wall_h{suffix}"] = acc[f"wall_h{tag}"]
                row[f"{stage}_cpu_core_h{suffix}"] = acc[f"cpu_core_h{tag}"]
                row[f"{stage}_gpu_h{suffix}"] = acc[f"gpu_h{tag}"]
                row[f"{stage}_usd{suffix}"] = (acc[f"gpu_h{tag}"] * prices["gpu_hour"]
                                               + acc[f"cpu_core_h{tag}"] * prices["cpu_core_hour"])
            known = [r for r in rss if r == r]
            row[f"{stage}_peak_rss_mb"] = max(known) if known else float("nan")
            row[f"{stage}_jobs"] = n
        for suffix in ("", "_amortized"):   # selection + training (evaluation is the same for every method)
            row[f"total_usd{suffix}"] = row[f"selection_usd{suffix}"] + row["training_usd"]
        row["price_gpu_hour"], row["price_cpu_core_hour"] = prices["gpu_hour"], prices["cpu_core_hour"]
        rows.append(row)
    return pd.DataFrame(rows)


def write_measured_table(units: list[dict], prices: dict | None, out_path) -> pd.DataFrame:
    df = measured_table(units, prices)
    atomic_write_text(df.to_csv(index=False), out_path)
    return df
