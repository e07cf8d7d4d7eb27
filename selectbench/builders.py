"""Generators of inputs the workflow builds itself (config `build:` blocks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .errors import ConfigError
from .io import atomic_write_json
from .registry import REQUIRED, Registry


@dataclass(frozen=True)
class PoolGenerator:
    name: str
    fn: Callable[..., object]    # fn(out_dir, **params): writes the raw pool's files into out_dir
    params: dict = field(default_factory=dict)   # allowed parameter → default (REQUIRED: none)
    doc: str = ""


POOL_GENERATORS: Registry[PoolGenerator] = Registry("pool generator", group="selectbench.pool_generators")


def pool_generator(name: str, *, params: dict | None = None):
    """Register `fn(out_dir, **params)` as pool generator `name` (a config's
    `pools.<p>.build.generator`): it writes the raw files that `pools.<p>.sources` then read,
    under `results/raw/<p>/`. `params`: allowed parameter → default (`REQUIRED`: the config
    must give it); the function gets the config's params only."""

    def deco(fn):
        POOL_GENERATORS.register(name, source=fn)(PoolGenerator(name, fn, dict(params or {}),
                                                                (fn.__doc__ or "").strip()))
        return fn

    return deco


@pool_generator("demo_pool", params={"n_rows": REQUIRED, "seed": REQUIRED, "defect_rate": REQUIRED})
def demo_pool(out_dir, **params) -> dict:
    """the demo pool: five JSONL files with labelled defects (selectbench.demo.data)"""
    from .demo.data import make_demo_pool

    return make_demo_pool(out_dir, **params)


def make_raw_pool(build: dict, out_dir) -> object:
    """`build: {generator: NAME, params: {...}}` → the raw files of a generated pool."""
    gen = POOL_GENERATORS.get(build["generator"], "build.generator")
    return gen.fn(out_dir, **build["params"])


PRE_EXPERIENCED_OPTIONAL = ("sampling", "low_pct", "high_pct", "batch_size", "max_length")


def build_model(build: dict, out_dir, threads: int = 1, models: dict | None = None, device: str = "cpu",
                inputs: list | None = None) -> dict:
    """`build: {generator: tiny_llama | pre_experienced, params: {...}}` → a save_pretrained directory.

    `models`: resolved config models the generator names; `inputs`: the rule's input
    files (pre_experienced: pool parquet, embedding score file, base model).
    """
    if build["generator"] == "pre_experienced":
        from .modeling import use_threads
        from .training.rounds import build_pre_experienced

        use_threads(threads)
        p = build["params"]
        return build_pre_experienced(out_dir, pool_path=inputs[0], embeddings_path=inputs[1],
                                     base=models["base"], clusters=p["clusters"], per_cluster=p["per_cluster"],
                                     preset=p["preset"], seed=p["seed"], device=device, threads=threads,
                                     **{k: p[k] for k in PRE_EXPERIENCED_OPTIONAL if k in p})
    if build["generator"] == "tiny_llama":
        from .demo.data import make_pretrain_corpus
        from .demo.tiny_model import build_tiny_llama
        from .modeling import use_threads

        use_threads(threads)
        params = dict(build["params"])
        corpus = make_pretrain_corpus(params.pop("pretrain_docs"), params["seed"])
        metrics = build_tiny_llama(out_dir, corpus, threads=threads, **params)
        atomic_write_json(metrics, f"{out_dir}/build_metrics.json")
        return metrics
    raise ConfigError(f"unknown model generator '{build['generator']}'")


def make_query_set(build: dict, out_path) -> int:
    """`build: {generator: demo_queries, params: {seed, n_per_task, per_task}}` → JSONL."""
    if build["generator"] == "demo_queries":
        from .demo.queries import write_demo_queries

        return write_demo_queries(out_path, **build["params"])
    if build["generator"] == "lm_eval_fewshot":
        from .evaluation.fewshot_queries import write_lm_eval_queries

        return write_lm_eval_queries(out_path, **build["params"])
    raise ConfigError(f"unknown query-set generator '{build['generator']}'")
