"""Run one scorer over a normalized pool and write the score file + provenance."""

from __future__ import annotations

import json
import time

import pandas as pd

from .. import __version__
from ..io import atomic_write_json, atomic_write_parquet
from ..pools import pool_ids, read_pool
from .base import SCORERS, PoolFile, ScoreContext, check_scores


def score_pool(pool_path, stats_path, scorer: str, params: dict, model: dict | None,
               device: str, threads: int, out_path, provenance_path, models: dict | None = None) -> pd.DataFrame:
    """`models`: config model name → {name_or_path, revision} for *_model(s) parameters."""
    from ..modeling import ModelRef, resolve_device

    spec = SCORERS.get(scorer)
    params = spec.resolved_params(params)
    pool = PoolFile(str(pool_path)) if spec.streams else read_pool(pool_path)
    with open(stats_path) as fh:
        stats = json.load(fh)
    ref = ModelRef(**model) if model else None
    uses_torch = spec.needs_model or bool(models)
    dev = resolve_device(device) if uses_torch else "cpu"
    if uses_torch:
        import torch

        torch.set_num_threads(threads)
    t0 = time.time()
    refs = {k: ModelRef(**v) for k, v in (models or {}).items()}
    scores = spec.fn(pool, ScoreContext(params=params, model=ref, device=dev, threads=threads, models=refs))
    wall = time.time() - t0
    check_scores(scores, pool_ids(pool_path) if spec.streams else pool["id"].astype(str),
                 f"scorer '{scorer}' on {pool_path}")
    provenance = {
        "scorer": scorer,
        "params": params,
        "model": ref.as_dict() if ref else None,
        "models": {k: r.as_dict() for k, r in refs.items()},
        "pool": str(pool_path),
        "pool_sha256": stats["pool_sha256"],
        "rows": len(scores),
        "device": dev,
        "wall_s": round(wall, 3),
        "cost": scores.attrs.get("cost"),
        "versions": _versions(),
    }
    atomic_write_parquet(scores, out_path)
    atomic_write_json(provenance, provenance_path)
    return scores


def _versions() -> dict:
    import importlib.metadata as md

    out = {"selectbench": __version__}
    for pkg in ("torch", "transformers", "peft", "sentence-transformers", "lm_eval", "pandas"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out
