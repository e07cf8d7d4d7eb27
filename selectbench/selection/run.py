"""Run one selector and write the selected-index file (byte-identical on reruns)."""

from __future__ import annotations


from .. import __version__
from ..errors import SelectbenchError
from ..errors import DataError
from ..io import atomic_write_json, read_json, sha256_file
from ..pools import read_pool
from .base import SELECTORS, SelectContext


def select(pool_path, stats_path, scores_path, method: str, selector: str, params: dict,
           budget: int | None, seed: int, out_path, embeddings_path=None, rounds_path=None,
           cost_path=None) -> dict:
    """Write the selected-index file (deterministic bytes) and, if `cost_path`, the job's wall time."""
    import time

    t0 = time.time()
    import pandas as pd

    spec = SELECTORS.get(selector)
    pool = read_pool(pool_path)
    pool_sha = read_json(stats_path, "pool stats")["pool_sha256"]
    scores = None
    if spec.needs_scores:
        scores = pd.read_parquet(scores_path)
        if scores["id"].astype(str).tolist() != pool["id"].astype(str).tolist():
            raise SelectbenchError(f"{scores_path}: ids are not those of {pool_path} in pool order; "
                                   "rescore the pool")
        check_finite_scores(scores, scores_path)
    embeddings = load_embeddings(embeddings_path, pool) if spec.needs_embeddings else None
    rounds = None
    if rounds_path:
        rounds = read_json(rounds_path, "DiverseEvol round")
    ids = spec.fn(SelectContext(pool, scores, budget, seed, dict(params), embeddings,
                                rounds["ids"] if rounds else None))
    if spec.uses_budget and len(ids) != budget:
        raise SelectbenchError(f"selector '{selector}' returned {len(ids)} ids for budget {budget}")
    if len(set(ids)) != len(ids):
        raise SelectbenchError(f"selector '{selector}' returned duplicate ids")
    record = {
        "method": method,
        "selector": selector,
        "params": params,
        "budget": budget,
        "seed": seed,
        "pool": str(pool_path),
        "pool_sha256": pool_sha,
        "scores": str(scores_path) if scores_path else None,
        "scores_sha256": sha256_file(scores_path) if scores_path else None,
        "embeddings": str(embeddings_path) if embeddings_path else None,
        "embeddings_sha256": sha256_file(embeddings_path) if embeddings_path else None,
        "rounds": str(rounds_path) if rounds_path else None,
        "cost": rounds["cost"] if rounds else None,
        "n_selected": len(ids),
        "selectbench": __version__,
        "ids": ids,
    }
    atomic_write_json(record, out_path)
    if cost_path is not None:
        atomic_write_json({"wall_s": round(time.time() - t0, 3)}, cost_path)
    return record


def check_finite_scores(scores, path) -> None:
    """A NaN or infinite score (a hand-edited or foreign score file) is an error naming the
    file, row and id; otherwise ranking would silently never (or always) pick it."""
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(scores["score"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, i + 1, "score", f"score of id '{scores['id'].iloc[i]}' is "
                        f"{scores['score'].iloc[i]!r} ({int(bad.sum())} non-finite scores in all); "
                        "refusing to rank it — rescore the pool")


def load_embeddings(path, pool):
    """The `embedding` column of a score file as a [n, d] float32 array in pool order."""
    import numpy as np
    import pandas as pd

    if path is None:
        raise SelectbenchError("this selector needs an embedding file (method key 'embedding')")
    df = pd.read_parquet(path, columns=["id", "embedding"])
    if df["id"].astype(str).tolist() != pool["id"].astype(str).tolist():
        raise SelectbenchError(f"{path}: ids are not those of the pool in pool order; rescore the pool")
    emb = np.stack(df["embedding"].to_numpy()).astype(np.float32)
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        raise SelectbenchError(f"{path}: embedding of id '{df['id'].iloc[int(np.flatnonzero(bad)[0])]}' "
                               "is not finite")
    return emb
