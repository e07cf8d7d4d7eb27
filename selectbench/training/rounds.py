"""Methods that train between selection steps: DiverseEvol rounds, Cherry's pre-experienced model.

DiverseEvol (Wu et al. 2023, "Self-Evolved Diverse Data Sampling for Efficient
Instruction Tuning"): round 0 is a random subset; in each later round the model
is fine-tuned on the current subset, the whole pool is embedded with that model
(last-layer, position-weighted mean pooling over real tokens, L2-normalised — the
RDS+ pooling), and greedy k-center adds the points farthest from the current set.
Every round's model and selection is a declared output of the workflow.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import SelectbenchError
from ..io import atomic_write_json
from .finetune import Preset, finetune


def round_sizes(budget: int, rounds: int) -> list[int]:
    """Budget split over rounds as evenly as possible (earlier rounds get the remainder)."""
    if rounds < 1 or budget < rounds:
        raise ValueError(f"cannot split budget {budget} over {rounds} rounds")
    return [budget // rounds + (1 if i < budget % rounds else 0) for i in range(rounds)]


def load_trained(checkpoint, base: dict, device: str, dtype):
    """A fine-tuned checkpoint as a plain causal LM (LoRA merged into the base weights)."""
    from transformers import AutoModelForCausalLM

    from ..modeling import ModelRef

    from ..modeling import checkpoint_record

    meta = checkpoint_record(checkpoint)
    if meta["peft"] == "lora":
        from peft import PeftModel

        ref = ModelRef(**base)
        model = AutoModelForCausalLM.from_pretrained(ref.name_or_path, dtype=dtype, **ref.kwargs())
        model = PeftModel.from_pretrained(model, str(checkpoint)).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=dtype)
    return model.to(device).eval()


def pool_embeddings(model, tokenizer, pool, batch_size: int, max_length: int, device: str) -> np.ndarray:
    from ..formatting import encode_many
    from ..scoring.rds import rds_embeddings

    enc = encode_many(tokenizer, list(pool["messages"]), max_length)
    return rds_embeddings(model, enc, tokenizer.pad_token_id, batch_size, device)


def diverse_evol_init(pool, size: int, seed: int) -> list[str]:
    """Round 0: a seeded uniform sample (the `random` selector)."""
    from ..selection import SELECTORS, SelectContext

    return SELECTORS.get("random").fn(SelectContext(pool, None, size, seed, {}))


def diverse_evol_round(pool, previous: list[str], add: int, base: dict, preset: Preset, seed: int,
                       device: str, model_dir, batch_size: int, max_length: int, threads: int = 1,
                       checkpointing=None, processes: int = 1) -> dict:
    """Train on `previous`, embed the pool with the trained model, add `add` k-center picks."""
    import torch

    from ..modeling import ModelRef, load_tokenizer, resolve_device, resolve_dtype
    from ..selection.kcenter import greedy_kcenter

    model_dir = Path(model_dir)
    train = finetune(pool, previous, base, preset, seed, device, model_dir,
                     model_dir / "loss.csv", model_dir / "metrics.json", threads=threads,
                     checkpointing=checkpointing, processes=processes)
    dev = resolve_device(device)
    t0 = time.time()
    model = load_trained(model_dir, base, dev, resolve_dtype(preset.precision, dev))
    tok = load_tokenizer(ModelRef(**base))
    x = pool_embeddings(model, tok, pool, batch_size, max_length, dev)
    pos = {i: k for k, i in enumerate(pool["id"].astype(str))}
    picks = greedy_kcenter(x, add, [pos[i] for i in previous], seed)
    ids = list(previous) + [str(pool["id"].iloc[p]) for p in picks]
    n_params = sum(p.numel() for p in model.parameters())
    embed_tokens = int(sum(min(len(m), max_length) for m in _token_lengths(tok, pool)))
    del model
    if dev == "cuda":
        torch.cuda.empty_cache()
    return {
        "ids": ids,
        "train": train,
        "embed_wall_s": round(time.time() - t0, 3),
        "cost": {"flops_estimate": train["flops_estimate"] + 2 * n_params * embed_tokens,
                 "wall_s": train["wall_s"] + round(time.time() - t0, 3)},
    }


def _token_lengths(tok, pool):
    from ..formatting import render

    eos = tok.eos_token or ""
    return tok([render(m, eos).text for m in pool["messages"]], add_special_tokens=True)["input_ids"]


def run_diverse_evol_round(pool_path, previous_path, out_selection, model_dir, *, round_index: int,
                           budget: int, params: dict, base: dict, seed: int, device: str, threads: int = 1,
                           checkpointing=None, processes: int = 1) -> dict:
    """Workflow entry: round ≥ 1 of method `diverse_evol` (reads round r-1, writes round r)."""
    from ..pools import read_pool

    pool = read_pool(pool_path)
    from ..io import read_json

    prev = read_json(previous_path, "previous round's selection")
    sizes = round_sizes(budget, int(params["rounds"]))
    out = diverse_evol_round(pool, prev["ids"], sizes[round_index], base, Preset.from_config(params["preset"]),
                             seed, device, model_dir, int(params["batch_size"]), int(params["max_length"]),
                             threads=threads, checkpointing=checkpointing, processes=processes)
    cost = {k: prev["cost"][k] + out["cost"][k] for k in ("flops_estimate", "wall_s")}
    record = {"round": round_index, "rounds": int(params["rounds"]), "budget": budget, "seed": seed,
              "ids": out["ids"], "train": out["train"], "cost": cost}
    atomic_write_json(record, out_selection)
    return record


def run_diverse_evol_init(pool_path, out_selection, *, budget: int, params: dict, seed: int) -> dict:
    from ..pools import read_pool

    sizes = round_sizes(budget, int(params["rounds"]))
    ids = diverse_evol_init(read_pool(pool_path), sizes[0], seed)
    record = {"round": 0, "rounds": int(params["rounds"]), "budget": budget, "seed": seed, "ids": ids,
              "cost": {"flops_estimate": 0, "wall_s": 0.0}}
    atomic_write_json(record, out_selection)
    return record


def build_pre_experienced(out_dir, *, pool_path, embeddings_path, base: dict, clusters: int, per_cluster: int,
                          preset: dict, seed: int, device: str, iters: int = 100, threads: int = 1,
                          sampling: str = "percentile", low_pct: float = 1.0, high_pct: float = 99.0,
                          batch_size: int = 16, max_length: int = 2048) -> dict:
    """Cherry's pre-experienced model: k-means on embeddings, a few rows per cluster, brief
    training, saved as a full model (LoRA merged) so scorers load it like any other model.

    `sampling: percentile` (default, Cherry's `data_by_cluster.py`): inside each cluster the
    rows whose instruction perplexity under the base model lies within [low_pct, high_pct]
    percentiles, evenly spaced; `uniform`: a seeded uniform sample per cluster."""
    from ..modeling import ModelRef, load_tokenizer
    from ..pools import read_pool
    from ..scoring.ifd import pre_experience_sample
    from ..selection.kmeans import kmeans
    from ..selection.run import load_embeddings

    pool = read_pool(pool_path)
    x = load_embeddings(embeddings_path, pool)
    labels, _ = kmeans(x, min(clusters, len(x)), seed, iters)
    if sampling not in ("percentile", "uniform"):
        raise SelectbenchError(f"pre_experienced: sampling must be 'percentile' or 'uniform' (got {sampling!r})")
    confidences = None
    if sampling == "percentile":
        from ..modeling import load_causal_lm, resolve_dtype
        from ..scoring.ifd import instruction_perplexity

        ref = ModelRef(**base)
        lm = load_causal_lm(ref, device, resolve_dtype("auto", device))
        confidences = instruction_perplexity(lm, load_tokenizer(ref), list(pool["messages"]), max_length,
                                             batch_size, device, ids=pool["id"].astype(str).tolist())
        del lm
    idx = pre_experience_sample(labels, per_cluster, seed, confidences=confidences, low_pct=low_pct,
                                high_pct=high_pct)
    ids = [str(pool["id"].iloc[i]) for i in idx]
    out_dir = Path(out_dir)
    stage = out_dir.parent / f".{out_dir.name}.train"
    p = Preset.from_config(preset)
    train = finetune(pool, ids, base, p, seed, device, stage / "model", stage / "loss.csv", stage / "metrics.json",
                     threads=threads)
    model = load_trained(stage / "model", base, "cpu", None)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    load_tokenizer(ModelRef(**base)).save_pretrained(out_dir)
    import shutil

    shutil.copy(stage / "loss.csv", out_dir / "pre_experience_loss.csv")
    shutil.rmtree(stage, ignore_errors=True)
    metrics = {"pre_experience_ids": ids, "clusters": clusters, "per_cluster": per_cluster,
               "sampling": sampling, "low_pct": low_pct, "high_pct": high_pct, "train": train}
    atomic_write_json(metrics, out_dir / "build_metrics.json")
    return metrics
