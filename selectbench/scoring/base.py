"""The scorer interface: a pool in, one row per example out (`id`, `score`, extras)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import ScoreError
from ..registry import Registry


@dataclass(frozen=True)
class ScoreContext:
    """Everything a scorer may use besides the pool."""

    params: dict
    model: object | None = None        # selectbench.modeling.ModelRef, for model-based scorers
    device: str = "cpu"
    threads: int = 1
    # config model name → ModelRef for parameters named *_model / *_models (e.g. DEITA's quality model)
    models: dict = field(default_factory=dict)
    # the pool rows [start, stop) this call scores (a shard of a sharded score job); None = all rows
    rows: tuple[int, int] | None = None
    # an embedding scorer (`embeds`) writes its `embedding` column only when this is True; the
    # workflow sets it only for score files that a method's `embedding:` or a built model reads
    embeddings: bool = True

    @property
    def row_offset(self) -> int:
        """Position of the first row scored in the whole pool (0 unless sharded)."""
        return self.rows[0] if self.rows else 0


@dataclass(frozen=True)
class PoolFile:
    """A pool on disk, read in chunks: what a streaming scorer gets instead of a table.

    Memory is one chunk of rows plus the id column (Arrow: bytes per row). `start`/`stop`
    restrict it to the rows [start, stop) (one shard of a sharded score job); chunks are
    `chunk_rows` rows counted from `start`, whatever the file's row groups, so a shard that
    starts at a multiple of `chunk_rows` sees exactly the chunks of an unsharded pass.
    """

    path: str
    chunk_rows: int = 1024
    start: int = 0
    stop: int | None = None

    def ids(self):
        """The id column (one Arrow string array), in pool order."""
        from ..pools import pool_ids

        ids = pool_ids(self.path)
        stop = len(ids) if self.stop is None else self.stop
        return ids.slice(self.start, stop - self.start)

    def id_series(self) -> pd.Series:
        """The ids as a pandas string Series backed by Arrow (no Python objects per row)."""
        return pd.Series(self.ids(), dtype=pd.ArrowDtype(__import__("pyarrow").string())).astype("str")

    def chunks(self, columns=("id", "messages")):
        """Yield dicts column → Python list, `chunk_rows` rows at a time (the last may be shorter)."""
        import pyarrow as pa

        from ..pools import iter_pool

        def emit(table):
            return {c: table.column(c).to_pylist() for c in columns}

        pos, buf, buffered = 0, [], 0
        for batch in iter_pool(self.path, columns, self.chunk_rows):
            n = batch.num_rows
            lo = max(self.start - pos, 0)
            hi = n if self.stop is None else min(self.stop - pos, n)
            pos += n
            if hi > lo:
                buf.append(batch.slice(lo, hi - lo))
                buffered += hi - lo
                while buffered >= self.chunk_rows:
                    table = pa.Table.from_batches(buf)
                    yield emit(table.slice(0, self.chunk_rows))
                    buf = table.slice(self.chunk_rows).to_batches()
                    buffered -= self.chunk_rows
            if self.stop is not None and pos >= self.stop:
                break
        if buffered:
            yield emit(pa.Table.from_batches(buf))


def pool_chunks(pool, columns=("id", "messages"), chunk_rows: int = 1024):
    """Chunks (column → list) of a PoolFile or of an in-memory pool table."""
    if isinstance(pool, PoolFile):
        yield from pool.chunks(columns)
        return
    for start in range(0, len(pool), chunk_rows):
        part = pool.iloc[start:start + chunk_rows]
        yield {c: part[c].tolist() for c in columns}


def pool_id_series(pool) -> pd.Series:
    """The pool's ids as strings, in pool order (PoolFile or table)."""
    return pool.id_series() if isinstance(pool, PoolFile) else pool["id"].astype(str).reset_index(drop=True)


@dataclass(frozen=True)
class ScorerSpec:
    name: str
    fn: Callable[[pd.DataFrame, ScoreContext], pd.DataFrame]
    needs_model: bool
    params: dict = field(default_factory=dict)   # allowed parameter → default
    doc: str = ""
    embeds: bool = False    # writes an `embedding` column (list of floats) besides `score`
    # each row's score depends only on that row (and the pool position, `ctx.row_offset`), so
    # scoring shards of the pool and concatenating them equals scoring the pool at once;
    # a scorer that normalises over the pool must say False (sharding it is then refused)
    shardable: bool = True
    # shards must start at multiples of this many rows for merged scores to be byte-identical
    # to an unsharded pass (the scorer batches rows in blocks of it); 1 = any row
    shard_align: int = 1
    streams: bool = False   # fn gets a PoolFile (reads the pool in chunks), not a DataFrame
    # bytes per pool row a streaming job keeps beyond the ids and a few score columns (e.g. a
    # judge's reply text); the workflow adds it to the declared mem_mb; None = nothing more
    row_bytes: int | None = None

    def resolved_params(self, given: dict) -> dict:
        return {**self.params, **given}


SCORERS: Registry[ScorerSpec] = Registry("scorer", group="selectbench.scorers")


def scorer(name: str, *, needs_model: bool, params: dict | None = None, embeds: bool = False,
           shardable: bool = True, shard_align: int = 1, streams: bool = False, row_bytes: int | None = None):
    """Register `fn(pool, ctx) -> DataFrame` as scorer `name`.

    `params`: allowed parameter → default. A parameter whose name ends in `_file`
    is a path the workflow declares as an input of the scoring job; one ending in
    `_model` (a name) or `_models` (a list of names) names models of the config,
    which reach the scorer as `ctx.models[name]` (ModelRef). `streams=True`: the
    scorer receives a `PoolFile` and reads the pool chunk by chunk; `row_bytes`: what it keeps
    per row beyond ids and scores (declared memory).
    """

    def deco(fn):
        SCORERS.register(name, source=fn)(ScorerSpec(name, fn, needs_model, dict(params or {}),
                                          (fn.__doc__ or "").strip(), embeds, shardable, shard_align,
                                          streams, row_bytes))
        return fn

    return deco


def check_scores(scores: pd.DataFrame, pool_ids, where: str) -> pd.DataFrame:
    """Scores must cover the pool exactly, once per id, with finite values."""
    if list(scores.columns[:2]) != ["id", "score"]:
        raise ScoreError(f"{where}: a score table starts with columns id, score (got {list(scores.columns)})")
    if _same_ids_in_order(scores["id"], pool_ids):    # the usual case: no per-row Python sets
        return _check_finite(scores, where)
    ids = scores["id"].astype(str)
    pool_ids = pd.Series(pool_ids).astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise ScoreError(f"{where}: id '{dup.iloc[0]}' scored twice")
    missing = set(pool_ids) - set(ids)
    if missing:
        raise ScoreError(f"{where}: {len(missing)} pool ids have no score, e.g. '{sorted(missing)[0]}'")
    extra = set(ids) - set(pool_ids)
    if extra:
        raise ScoreError(f"{where}: {len(extra)} scored ids are not in the pool, e.g. '{sorted(extra)[0]}'")
    return _check_finite(scores, where)


def _arrow_strings(values):
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values
    else:
        arr = pa.array(pd.Series(values).astype(str), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.string()) if not __import__("pyarrow").types.is_string(arr.type) else arr


def _same_ids_in_order(score_ids, pool_ids) -> bool:
    """Score ids equal the pool's, in pool order, with no repeat in the pool (Arrow, vectorized)."""
    import pyarrow.compute as pc

    a, b = _arrow_strings(score_ids), _arrow_strings(pool_ids)
    if len(a) != len(b) or not a.equals(b):
        return False
    return len(pc.unique(b)) == len(b)


def _check_finite(scores: pd.DataFrame, where: str) -> pd.DataFrame:
    values = pd.to_numeric(scores["score"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScoreError(f"{where}: score of id '{scores['id'].iloc[i]}' is {scores['score'].iloc[i]!r} "
                         f"({int(bad.sum())} non-finite scores in all); refusing to rank it")
    return scores



NOT_CONFIG_MODELS = ("api_model",)   # a remote endpoint's model name, not a config model


def model_param_names(params: dict) -> list[str]:
    """Config model names referenced by *_model / *_models parameters (except `api_model`)."""
    out = []
    for key, value in params.items():
        if key in NOT_CONFIG_MODELS:
            continue
        if key.endswith("_model") and value:
            out.append(value)
        elif key.endswith("_models") and value:
            out.extend(value)
    return out
