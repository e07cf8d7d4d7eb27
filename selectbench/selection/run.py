"""Run one selector and write the selected-index file (byte-identical on reruns)."""

from __future__ import annotations


from .. import __version__
from ..errors import SelectbenchError
from ..errors import DataError
from ..io import atomic_write_json, parquet_input, read_json, reads_parquet, sha256_file
from ..pools import pool_ids, read_pool
from .base import SELECTORS, SelectContext


def select(pool_path, stats_path, scores_path, method: str, selector: str, params: dict,
           budget: int | None, seed: int, out_path, embeddings_path=None, rounds_path=None,
           cost_path=None) -> dict:
    """Write the selected-index file (deterministic bytes) and, if `cost_path`, the job's wall time."""
    import time

    t0 = time.time()
    import pandas as pd

    spec = SELECTORS.get(selector)
    pool = read_pool(pool_path, columns=spec.pool_columns)
    pool_sha = read_json(stats_path, "pool stats")["pool_sha256"]
    scores = None
    ids_in_order = pool_ids(pool_path) if spec.needs_scores or spec.needs_embeddings else None
    if spec.needs_scores:
        with parquet_input(scores_path, "score file"):
            scores = pd.read_parquet(scores_path, columns=_score_columns(scores_path))
        if not same_ids(scores_path, ids_in_order):
            raise SelectbenchError(f"{scores_path}: ids are not those of {pool_path} in pool order; "
                                   "rescore the pool")
        check_finite_scores(scores, scores_path)
    embeddings = load_embeddings(embeddings_path, ids_in_order) if spec.needs_embeddings else None
    del ids_in_order
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


@reads_parquet("path", "score file")
def _score_columns(path) -> list[str]:
    """Every column of a score file except `embedding` (selectors read embeddings separately)."""
    import pyarrow.parquet as pq

    return [c for c in pq.ParquetFile(path).schema_arrow.names if c != "embedding"]


@reads_parquet("path", "score file")
def same_ids(path, ids) -> bool:
    """Whether the `id` column of Parquet file `path` equals `ids` (Arrow), element by element."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    other = pq.read_table(path, columns=["id"]).column("id").combine_chunks()
    if not pa.types.is_string(other.type):
        other = other.cast(pa.string())
    return len(other) == len(ids) and other.equals(ids)


@reads_parquet("path", "score file")
def load_embeddings(path, ids):
    """The `embedding` column of a score file as a [n, d] float32 array in pool order.

    `ids`: the pool's id column (Arrow). Read as a flat float buffer (no per-row objects).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path is None:
        raise SelectbenchError("this selector needs an embedding file (method key 'embedding')")
    if not isinstance(ids, pa.Array):   # a pool table
        ids = pa.array(ids["id"].astype(str).tolist(), type=pa.string())
    if not same_ids(path, ids):
        raise SelectbenchError(f"{path}: ids are not those of the pool in pool order; rescore the pool")
    if "embedding" not in pq.read_schema(path).names:
        raise SelectbenchError(f"{path}: no `embedding` column; the workflow writes it only for score files that a "
                               "method's `embedding:` (or a pre-experienced model build) names, so rescore with this "
                               "method in the config")
    col = pq.read_table(path, columns=["embedding"]).column("embedding").combine_chunks()
    if len(col) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    if col.null_count:
        raise SelectbenchError(f"{path}: an embedding is missing")
    if isinstance(col, pa.FixedSizeListArray):
        emb = col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), col.type.list_size)
    else:
        offsets = col.offsets.to_numpy()
        width = np.diff(offsets)
        if (width != width[0]).any():
            raise SelectbenchError(f"{path}: embeddings must all have the same length")
        flat = col.values.to_numpy(zero_copy_only=False)
        emb = flat[offsets[0]:offsets[-1]].reshape(len(col), int(width[0]))
    emb = emb.astype(np.float32)
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SelectbenchError(f"{path}: embedding of id '{ids[row].as_py()}' is not finite")
    return emb
