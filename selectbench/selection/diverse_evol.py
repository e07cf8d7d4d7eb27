"""`diverse_evol`: the ids DiverseEvol's training rounds chose (see selectbench/training/rounds.py).

The rounds are workflow stages (`diverse_evol_init`, `diverse_evol_round`), each
with its own model and selection file; this selector returns the final round's
selection after checking it matches the budget.
"""

from __future__ import annotations

from ..errors import SelectbenchError
from .base import SelectContext, selector


@selector("diverse_evol", needs_scores=False,
          params={"rounds": 3, "base_model": None, "preset": None, "batch_size": 16, "max_length": 512})
def diverse_evol(ctx: SelectContext) -> list[str]:
    """Greedy k-center in rounds on embeddings of a model re-trained on the growing set."""
    if ctx.previous is None:
        raise SelectbenchError("diverse_evol: no round file (the workflow's diverse_evol_round output)")
    if len(ctx.previous) != ctx.budget:
        raise SelectbenchError(f"diverse_evol: last round has {len(ctx.previous)} ids, budget is {ctx.budget}")
    return list(ctx.previous)


@selector("mods", needs_scores=True, needs_embeddings=True,
          params={"base_model": None, "preset": None, "quality_threshold": 0.0, "necessity_threshold": 0.0,
                  "seed_size": None, "max_new_tokens": 256, "batch_size": 16, "max_length": 2048, "fill": "error"})
def mods(ctx: SelectContext) -> list[str]:
    """MoDS: reward-quality filter, k-center seed set, necessity from the seed-trained model's answers."""
    if ctx.previous is None:
        raise SelectbenchError("mods: no MoDS selection file (the workflow's mods_select output)")
    if len(ctx.previous) != ctx.budget:
        raise SelectbenchError(f"mods: the MoDS stage chose {len(ctx.previous)} ids, budget is {ctx.budget}")
    return list(ctx.previous)
