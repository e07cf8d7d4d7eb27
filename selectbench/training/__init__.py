"""Fine-tuning a base model on a selection."""

from __future__ import annotations


from .finetune import Preset, finetune

__all__ = ["Preset", "finetune", "finetune_selection", "warmup_random_fraction"]


def finetune_selection(pool_path, selection_path, base: dict, preset: dict, seed: int, device: str,
                       checkpoint_dir, loss_path, metrics_path, threads: int = 1, checkpointing=None,
                       processes: int = 1) -> dict:
    """Read a selected-index file and only those rows of the pool, then `finetune` (on `processes` devices)."""
    from ..io import read_json
    from ..pools import read_pool_rows

    selection = read_json(selection_path, "selection")
    metrics = finetune(read_pool_rows(pool_path, selection["ids"]), selection["ids"], base,
                       Preset.from_config(preset), seed, device, checkpoint_dir, loss_path, metrics_path,
                       threads=threads, checkpointing=checkpointing, processes=processes)
    return metrics


def warmup_random_fraction(pool_path, base: dict, preset: dict, fraction: float, seed: int, device: str,
                           out_dir, threads: int = 1, checkpointing=None) -> dict:
    """LESS warm-up on a seeded random `fraction` of the pool (the `random` selector's sample)."""
    from ..pools import read_pool, read_pool_rows
    from ..selection import SELECTORS, SelectContext
    from .warmup import warmup

    pool = read_pool(pool_path, columns=SELECTORS.get("random").pool_columns)
    n = max(1, round(fraction * len(pool)))
    ids = SELECTORS.get("random").fn(SelectContext(pool, None, n, seed, {}))
    return warmup(read_pool_rows(pool_path, ids), ids, base, Preset.from_config(preset), seed, device, out_dir,
                  threads=threads, checkpointing=checkpointing)
