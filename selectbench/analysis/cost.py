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

import json

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
