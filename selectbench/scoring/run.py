"""Run one scorer over a normalized pool (or one shard of its rows) and write the score file + provenance.

Sharded scoring (`compute.score_shard_rows`): each shard job scores the rows [start, stop) of
the pool (`rows=`), and `merge_score_shards` concatenates the shard files in row order into the
same score file an unsharded job writes, byte for byte (the cost estimate lives in the
provenance JSON, not in the Parquet metadata, so the table alone defines the file).
"""

from __future__ import annotations

import json
import time

import pandas as pd

from .. import __version__
from ..errors import ScoreError
from ..io import atomic_write_json, atomic_write_parquet, parquet_input, read_json
from ..pools import pool_ids as pool_id_array
from ..pools import pool_num_rows, read_pool
from .base import SCORERS, PoolFile, ScoreContext, check_scores


def score_pool(pool_path, stats_path, scorer: str, params: dict, model: dict | None,
               device: str, threads: int, out_path, provenance_path, models: dict | None = None,
               rows: tuple[int, int] | list | None = None, embeddings: bool = True) -> pd.DataFrame:
    """`models`: config model name → {name_or_path, revision} for *_model(s) parameters.

    `rows`: score only the pool rows [start, stop) (one shard); None = the whole pool.
    `embeddings`: an embedding scorer (rds, embed) also writes its `embedding` column (d floats
    per row); the workflow asks for it only where a method or a built model reads it.
    """
    from ..modeling import ModelRef, resolve_device, use_threads

    spec = SCORERS.get(scorer)
    params = spec.resolved_params(params)
    n_rows = pool_num_rows(pool_path)
    stats = read_json(stats_path, "pool stats")
    if rows is not None:
        if not spec.shardable:
            raise ScoreError(f"scorer '{scorer}' needs the whole pool at once; it cannot score a shard "
                             "(unset compute.score_shard_rows)")
        start, stop = int(rows[0]), int(rows[1])
        if not 0 <= start < stop <= n_rows:
            raise ScoreError(f"{pool_path}: shard rows [{start}, {stop}) outside the pool's {n_rows} rows "
                             "(does the pool's declared `rows` match?)")
        if start % spec.shard_align:
            raise ScoreError(f"scorer '{scorer}': a shard must start at a multiple of {spec.shard_align} rows "
                             f"(got row {start}); make compute.score_shard_rows a multiple of {spec.shard_align}")
        rows = (start, stop)
    if spec.streams:      # read in chunks of rows (aligned to the shard's first row)
        pool = PoolFile(str(pool_path), start=rows[0] if rows else 0, stop=rows[1] if rows else None)
        expected_ids = pool.ids()
    else:
        pool = read_pool(pool_path)
        if rows is not None:
            pool = pool.iloc[rows[0]:rows[1]].reset_index(drop=True)
        expected_ids = pool["id"].astype(str)
    ref = ModelRef(**model) if model else None
    uses_torch = spec.needs_model or bool(models)
    dev = resolve_device(device) if uses_torch else "cpu"
    if uses_torch:
        use_threads(threads)    # torch and the tokenizer's threads
    t0 = time.time()
    refs = {k: ModelRef(**v) for k, v in (models or {}).items()}
    scores = spec.fn(pool, ScoreContext(params=params, model=ref, device=dev, threads=threads, models=refs,
                                        rows=rows, embeddings=bool(embeddings)))
    wall = time.time() - t0
    where = f"scorer '{scorer}' on {pool_path}" + (f" rows [{rows[0]}, {rows[1]})" if rows else "")
    check_scores(scores, expected_ids, where)
    cost = scores.attrs.get("cost")
    scores.attrs = {}   # pandas would write attrs into the Parquet metadata; the cost goes to provenance
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
        "cost": cost,
        "versions": _versions(),
    }
    if spec.embeds:
        provenance["embeddings"] = bool(embeddings)
    if rows:
        provenance["shard_rows"] = list(rows)
    atomic_write_parquet(scores, out_path)
    atomic_write_json(provenance, provenance_path)
    return scores


# cost entries that describe the scorer's model or its warm-up, not the rows scored: a merged
# cost keeps them once; every other number is summed over the shards (work repeated per shard,
# such as embedding a query set, is real cost of sharding and counted)
ONCE_COST_KEYS = ("params", "checkpoints", "warmup_tokens", "warmup_flops")


def merge_costs(costs: list[dict | None]) -> dict | None:
    """One cost dict for a sharded score job from its shards' cost dicts."""
    costs = [c for c in costs if c]
    if not costs:
        return None
    out = {}
    for key in dict.fromkeys(k for c in costs for k in c):
        vals = [c.get(key) for c in costs]
        if key in ONCE_COST_KEYS and all(v == vals[0] for v in vals):
            out[key] = vals[0]
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            out[key] = sum(vals)
        else:
            out[key] = vals
    if isinstance(out.get("warmup_flops"), (int, float)) and isinstance(out.get("flops_estimate"), (int, float)):
        out["flops_estimate"] -= (len(costs) - 1) * out["warmup_flops"]   # the warm-up ran once
    return out


def merge_score_shards(shard_paths: list, shard_provenance_paths: list, pool_path, stats_path,
                       out_path, provenance_path) -> pd.DataFrame:
    """Concatenate shard score files (in row order) into one score file + provenance.

    The shards must cover the pool's rows exactly once, in pool order; the result is the
    file an unsharded score job writes (same table, same Parquet writer).
    """
    if len(shard_paths) != len(shard_provenance_paths) or not shard_paths:
        raise ScoreError(f"merging scores into {out_path}: {len(shard_paths)} shard files, "
                         f"{len(shard_provenance_paths)} provenance files")
    provs = []
    for path in shard_provenance_paths:
        with open(path) as fh:
            provs.append(json.load(fh))
    with open(stats_path) as fh:
        stats = json.load(fh)
    expect = 0
    for path, prov in zip(shard_provenance_paths, provs):
        start, stop = prov.get("shard_rows") or (None, None)
        if start != expect:
            raise ScoreError(f"{path}: shard starts at row {start}, expected {expect} (shards must tile the pool)")
        if prov.get("pool_sha256") != stats["pool_sha256"]:
            raise ScoreError(f"{path}: scored another version of the pool than {stats_path} describes")
        for key in ("scorer", "params", "model", "models", "embeddings"):
            if prov.get(key) != provs[0].get(key):
                raise ScoreError(f"{path}: `{key}` differs from shard 0's ({shard_provenance_paths[0]})")
        expect = stop
    parts = []
    for p in shard_paths:
        with parquet_input(p, "score shard"):
            parts.append(pd.read_parquet(p))
    scores = pd.concat(parts, ignore_index=True)
    pool_ids = pool_id_array(pool_path).to_pandas().astype(str)
    where = f"merged shards of scorer '{provs[0]['scorer']}' on {pool_path}"
    check_scores(scores, pool_ids, where)
    if not scores["id"].astype(str).reset_index(drop=True).equals(pool_ids.reset_index(drop=True)):
        raise ScoreError(f"{where}: rows are not in pool order")
    first = provs[0]
    provenance = {
        **{k: first[k] for k in ("scorer", "params", "model", "models", "pool", "pool_sha256")},
        **({"embeddings": first["embeddings"]} if "embeddings" in first else {}),
        "rows": len(scores),
        "device": first["device"],
        "wall_s": round(sum(p["wall_s"] for p in provs), 3),
        "cost": merge_costs([p.get("cost") for p in provs]),
        "shards": [{"rows": p["shard_rows"], "wall_s": p["wall_s"]} for p in provs],
        "versions": first["versions"],
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
