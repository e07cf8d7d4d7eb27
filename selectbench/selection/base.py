"""The selector interface: (pool, scores, budget, seed, params) → ids in selection order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..registry import Registry, origin_of


@dataclass(frozen=True)
class SelectContext:
    pool: pd.DataFrame              # normalized pool: the selector's `pool_columns` (id, source)
    scores: pd.DataFrame | None     # score table aligned to pool order (id, score, ...)
    budget: int | None              # None: the selector takes what it takes (full data)
    seed: int
    params: dict
    embeddings: "np.ndarray | None" = None  # [n_pool, d] float32, pool order (method `embedding:`)
    previous: list | None = None             # ids chosen by the method's training rounds (DiverseEvol)


@dataclass(frozen=True)
class SelectorSpec:
    name: str
    fn: Callable[[SelectContext], list]
    needs_scores: bool
    uses_budget: bool = True
    needs_embeddings: bool = False
    params: dict = field(default_factory=dict)
    doc: str = ""
    # pool columns the selector reads: only these are loaded (messages cost kilobytes per row)
    pool_columns: tuple[str, ...] = ("id", "source")


SELECTORS: Registry[SelectorSpec] = Registry("selector", group="selectbench.selectors")


def selector(name: str, *, needs_scores: bool, uses_budget: bool | None = None, params: dict | None = None,
             needs_embeddings: bool = False, pool_columns: tuple[str, ...] = ("id", "source")):
    """Register `fn(ctx) -> list[str]` as selector `name`; `params`: allowed name → default
    (`registry.REQUIRED`: the config must give it).

    `uses_budget`, the budget contract: True — the selector returns exactly `ctx.budget` ids
    (the workflow checks it), one selection file per budget; False — it takes what it takes
    (`ctx.budget` is None), one file for all budgets. A plug-in must say which; selectbench's
    own selectors default to True.
    `pool_columns`: the only pool columns `ctx.pool` holds (add "messages" only if the
    selector reads the text: it is the one column whose memory grows with the text).
    """

    def deco(fn):
        nonlocal uses_budget
        if uses_budget is None:
            origin = origin_of(fn)
            if not origin.builtin:
                raise ConfigError(
                    f"selector '{name}' ({origin}) has no budget contract: pass uses_budget=True (it "
                    "returns exactly ctx.budget ids) or uses_budget=False (it takes what it takes) "
                    "to @selector")
            uses_budget = True
        SELECTORS.register(name, source=fn)(SelectorSpec(name, fn, needs_scores, uses_budget, needs_embeddings,
                                              dict(params or {}), (fn.__doc__ or "").strip(),
                                              tuple(pool_columns)))
        return fn

    return deco
