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

    @property
    def row_offset(self) -> int:
        """Position of the first row scored in the whole pool (0 unless sharded)."""
        return self.rows[0] if self.rows else 0


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

    def resolved_params(self, given: dict) -> dict:
        return {**self.params, **given}


SCORERS: Registry[ScorerSpec] = Registry("scorer")


def scorer(name: str, *, needs_model: bool, params: dict | None = None, embeds: bool = False,
           shardable: bool = True, shard_align: int = 1):
    """Register `fn(pool, ctx) -> DataFrame` as scorer `name`.

    `params`: allowed parameter → default. A parameter whose name ends in `_file`
    is a path the workflow declares as an input of the scoring job; one ending in
    `_model` (a name) or `_models` (a list of names) names models of the config,
    which reach the scorer as `ctx.models[name]` (ModelRef).
    """

    def deco(fn):
        SCORERS.register(name)(ScorerSpec(name, fn, needs_model, dict(params or {}),
                                          (fn.__doc__ or "").strip(), embeds, shardable, shard_align))
        return fn

    return deco


def check_scores(scores: pd.DataFrame, pool_ids, where: str) -> pd.DataFrame:
    """Scores must cover the pool exactly, once per id, with finite values."""
    if list(scores.columns[:2]) != ["id", "score"]:
        raise ScoreError(f"{where}: a score table starts with columns id, score (got {list(scores.columns)})")
    ids = scores["id"].astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise ScoreError(f"{where}: id '{dup.iloc[0]}' scored twice")
    missing = set(pool_ids) - set(ids)
    if missing:
        raise ScoreError(f"{where}: {len(missing)} pool ids have no score, e.g. '{sorted(missing)[0]}'")
    extra = set(ids) - set(pool_ids)
    if extra:
        raise ScoreError(f"{where}: {len(extra)} scored ids are not in the pool, e.g. '{sorted(extra)[0]}'")
    values = pd.to_numeric(scores["score"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScoreError(f"{where}: score of id '{ids.iloc[i]}' is {scores['score'].iloc[i]!r} "
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
