"""MoDS (Du et al. 2023, arXiv:2311.15653): quality → coverage → necessity.

1. **Quality**: keep the examples whose reward-model score (the method's `reward` score file)
   is ≥ `quality_threshold`.
2. **Coverage (seed set)**: greedy k-center on the method's embeddings of the high-quality
   examples, `seed_size` of them (first centre drawn with the seed).
3. **Necessity**: fine-tune the base model on the seed set, let it answer every other
   high-quality instruction (greedy, `max_new_tokens`), score (instruction, its answer) with the
   same reward model; an example is *necessary* when that reward is < `necessity_threshold`
   (the seed-trained model does not yet handle it well).
4. **Augmentation**: greedy k-center over the necessary examples, continuing from the seed set,
   until the budget is full. Final selection = seed set, then the augmented examples.

If fewer necessary examples remain than the budget needs, `fill: error` (default) stops with a
message; `fill: lowest` adds the other high-quality examples, lowest generated reward first.
Everything runs in one workflow job (rule `mods_select`): its output is the selection and the
seed-trained model, like DiverseEvol's rounds.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SelectbenchError
from ..io import atomic_write_json, parquet_input
from .finetune import Preset, finetune

DEFAULTS = {"quality_threshold": 0.0, "necessity_threshold": 0.0, "seed_size": None, "max_new_tokens": 256,
            "batch_size": 16, "max_length": 2048, "fill": "error"}


def split_budget(budget: int, seed_size) -> tuple[int, int]:
    s = budget // 2 if seed_size is None else int(seed_size)
    if not 1 <= s <= budget:
        raise SelectbenchError(f"mods: seed_size must be in [1, budget={budget}] (got {s})")
    return s, budget - s


def prompts_of(pool: pd.DataFrame) -> list[list[dict]]:
    """The context before each conversation's last assistant turn (what the model answers)."""
    out = []
    for i, messages in zip(pool["id"], pool["messages"]):
        a = max((k for k, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
        if a < 1:
            raise SelectbenchError(f"mods: id '{i}' has no instruction before its last assistant turn")
        out.append(list(messages[:a]))
    return out


def augment(x: np.ndarray, seed_idx: list[int], candidates: np.ndarray, k: int, seed: int) -> list[int]:
    """k greedy k-center picks among `candidates`, continuing from the seed set (row indices of x)."""
    from ..selection.kcenter import greedy_kcenter

    if k == 0:
        return []
    sub = np.concatenate([np.asarray(seed_idx, dtype=np.int64), candidates])
    picks = greedy_kcenter(x[sub], k, list(range(len(seed_idx))), seed)
    return [int(sub[p]) for p in picks]


def mods_select(pool: pd.DataFrame, quality: np.ndarray, x: np.ndarray, budget: int, seed: int, base: dict,
                reward: dict, reward_params: dict, preset: dict, params: dict, device: str, model_dir,
                threads: int = 1) -> dict:
    """The MoDS selection (ids in order) with its cost; trains the seed model into `model_dir`."""
    import torch

    from ..formatting import prompt_for
    from ..modeling import ModelRef, load_tokenizer, resolve_device, resolve_dtype
    from ..scoring.rating import generate_texts
    from ..scoring.reward import reward_score
    from ..scoring.base import ScoreContext
    from ..selection.kcenter import greedy_kcenter
    from .rounds import load_trained

    p = {**DEFAULTS, **params}
    if p["fill"] not in ("error", "lowest"):
        raise SelectbenchError(f"mods: fill must be 'error' or 'lowest' (got {p['fill']!r})")
    n_seed, n_aug = split_budget(budget, p["seed_size"])
    hq = np.flatnonzero(np.asarray(quality, dtype=float) >= float(p["quality_threshold"]))
    if len(hq) < budget:
        raise SelectbenchError(f"mods: only {len(hq)} examples have quality >= {p['quality_threshold']}, "
                               f"fewer than the budget {budget}; lower params.quality_threshold")
    ids = pool["id"].astype(str).to_numpy()
    seed_idx = [int(hq[i]) for i in greedy_kcenter(x[hq], n_seed, (), seed)]
    t0 = time.time()
    model_dir = Path(model_dir)
    train = finetune(pool, [ids[i] for i in seed_idx], base, Preset.from_config(preset), seed, device, model_dir,
                     model_dir / "loss.csv", model_dir / "metrics.json", threads=threads)
    rest = np.setdiff1d(hq, seed_idx)                       # pool order
    dev = resolve_device(device)
    model = load_trained(model_dir, base, dev, resolve_dtype(Preset.from_config(preset).precision, dev))
    tok = load_tokenizer(ModelRef(**base))
    contexts = prompts_of(pool.iloc[rest])
    enc = tok([prompt_for(c) for c in contexts], add_special_tokens=True)["input_ids"]
    enc = [list(e)[-int(p["max_length"]):] for e in enc]
    answers = generate_texts(model, tok, enc, int(p["max_new_tokens"]), int(p["batch_size"]), dev)
    n_params = sum(t.numel() for t in model.parameters())
    gen_tokens = int(sum(len(e) for e in enc)) + len(enc) * int(p["max_new_tokens"])
    del model
    if dev == "cuda":
        torch.cuda.empty_cache()
    answered = pd.DataFrame({"id": ids[rest], "messages": [c + [{"role": "assistant", "content": a or " "}]
                                                           for c, a in zip(contexts, answers)]})
    scored = reward_score(answered, ScoreContext(params=reward_params, model=ModelRef(**reward), device=dev,
                                                 threads=threads))
    gen_reward = scored["score"].to_numpy(dtype=float)
    needed = rest[gen_reward < float(p["necessity_threshold"])]
    if len(needed) >= n_aug:
        aug = augment(x, seed_idx, needed, n_aug, seed)
    elif p["fill"] == "error":
        raise SelectbenchError(f"mods: only {len(needed)} high-quality examples are 'necessary' (generated reward "
                               f"< {p['necessity_threshold']}), the budget needs {n_aug} after the {n_seed}-example "
                               "seed set; raise params.necessity_threshold or set params.fill: lowest")
    else:
        others = rest[gen_reward >= float(p["necessity_threshold"])]
        others = others[np.argsort(gen_reward[np.isin(rest, others)], kind="stable")]
        aug = list(needed) + [int(i) for i in others[: n_aug - len(needed)]]
    selected = [ids[i] for i in seed_idx] + [ids[i] for i in aug]
    cost = scored.attrs.get("cost", {})
    return {
        "ids": selected,
        "n_high_quality": int(len(hq)),
        "n_seed": n_seed,
        "n_necessary": int(len(needed)),
        "generated_reward": {"mean": float(gen_reward.mean()) if len(gen_reward) else None},
        "train": train,
        "cost": {"flops_estimate": train["flops_estimate"] + 2 * n_params * gen_tokens
                 + int(cost.get("flops_estimate", 0)),
                 "wall_s": train["wall_s"] + round(time.time() - t0, 3)},
    }


def run_mods(pool_path, scores_path, embeddings_path, out_selection, model_dir, *, budget: int, seed: int,
             params: dict, base: dict, reward: dict, reward_params: dict, device: str, threads: int = 1) -> dict:
    """Workflow entry (rule `mods_select`)."""
    from ..pools import read_pool
    from ..selection.run import load_embeddings

    pool = read_pool(pool_path)
    with parquet_input(scores_path, "score file"):
        scores = pd.read_parquet(scores_path, columns=["id", "score"])
    if scores["id"].astype(str).tolist() != pool["id"].astype(str).tolist():
        raise SelectbenchError(f"{scores_path}: ids are not those of {pool_path} in pool order; rescore the pool")
    x = load_embeddings(embeddings_path, pool)
    keys = {k: v for k, v in params.items() if k not in ("base_model", "preset")}
    out = mods_select(pool, scores["score"].to_numpy(dtype=float), x, budget, seed, base, reward, reward_params,
                      params["preset"], keys, device, model_dir, threads)
    record = {"method": "mods", "budget": budget, "seed": seed, **out}
    atomic_write_json(record, out_selection)
    return record
