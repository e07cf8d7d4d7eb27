"""`make bench`: speed and memory figures → BENCHMARKS.md (never asserted in tests).

    python -m selectbench.bench --out BENCHMARKS.md [--rows 1000000]
    python -m selectbench.bench --gpu      # on a GPU node: fine-tuning tokens/s and MFU
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pools"


def _timed(fn, repeat=3):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_selectors(rows: int) -> list[dict]:
    from .selection import SELECTORS, SelectContext

    rng = np.random.default_rng(0)
    pool = pd.DataFrame({"id": [f"r{i}" for i in range(rows)],
                         "source": [f"s{i % 50}" for i in range(rows)]})
    scores = pd.DataFrame({"id": pool["id"], "score": rng.random(rows)})
    out = []
    for name, budget in (("random", 50_000), ("top_k", 50_000), ("bottom_k", 50_000),
                         ("balanced_random", 50_000)):
        spec = SELECTORS.get(name)
        ctx = SelectContext(pool, scores if spec.needs_scores else None, budget, 0, {})
        secs, ids = _timed(lambda: spec.fn(ctx))
        out.append({"what": f"selector `{name}`", "size": f"{rows:,} rows → {len(ids):,}", "seconds": secs})
    return out


def bench_diversity(rows: int = 100_000, dim: int = 384) -> list[dict]:
    """Embedding-based selectors at pool scale (none materialises an n×n matrix)."""
    from .selection import SELECTORS, SelectContext

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(rows, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    pool = pd.DataFrame({"id": [f"r{i}" for i in range(rows)], "source": "s",
                         "messages": [[{"role": "user", "content": f"q{i} " * (i % 7 + 1)},
                                       {"role": "assistant", "content": f"answer {i} " * (i % 5 + 1)}]
                                      for i in range(rows)]})
    scores = pd.DataFrame({"id": pool["id"], "score": rng.random(rows)})
    out = []
    for name, budget, params in (("kcenter", 1_000, {}), ("kmeans_top", 10_000, {"clusters": 100, "iters": 20}),
                                 ("deita_filter", 10_000, {"threshold": 0.9})):
        spec = SELECTORS.get(name)
        ctx = SelectContext(pool, scores if spec.needs_scores else None, budget, 0, params, emb)
        secs, ids = _timed(lambda: spec.fn(ctx), repeat=1)
        out.append({"what": f"selector `{name}` ({dim}-d embeddings)", "size": f"{rows:,} rows → {len(ids):,}",
                    "seconds": secs})
    small = pool.iloc[:5_000].reset_index(drop=True)
    ctx = SelectContext(small, None, 500, 0, {"k1": 2_000, "k2": 200, "k3": 50})
    secs, ids = _timed(lambda: SELECTORS.get("zip").fn(ctx), repeat=1)
    out.append({"what": "selector `zip` (k1 2000, k2 200, k3 50)", "size": f"5,000 rows → {len(ids):,}", "seconds": secs})
    return out


def bench_scoring(n: int = 256) -> list[dict]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from .demo.data import make_pretrain_corpus, pool_examples
    from .demo.tiny_model import train_tokenizer
    from .formatting import encode_many
    from .scoring.lm import response_nll

    torch.set_num_threads(1)
    tok = train_tokenizer(make_pretrain_corpus(2000, 0), vocab_size=4096)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=128, intermediate_size=344, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
        pad_token_id=tok.pad_token_id)).eval()
    convs = [ex.messages() for _, _, ex in pool_examples(n, 0, 0.0)]
    enc = encode_many(tok, convs, 512)
    tokens = sum(len(e.input_ids) for e in enc)
    rows = []
    for label, bs in (("length-bucketed, batch 32", 32), ("one at a time", 1)):
        secs, _ = _timed(lambda: response_nll(model, enc, tok.pad_token_id, bs, "cpu"), repeat=2)
        rows.append({"what": f"perplexity pass, tiny Llama h128/L2, 1 thread, {label}",
                     "size": f"{n} examples, {tokens:,} tokens", "seconds": secs,
                     "rate": f"{tokens / secs:,.0f} tok/s"})
    return rows


def bench_normalize() -> list[dict]:
    from .pools import normalize_pool

    path = SHARED / "gsm8k-train.jsonl.gz"
    if not path.exists():
        return [{"what": "normalize GSM8K train (shared data)", "size": "skipped: ../shared absent", "seconds": float("nan")}]
    cfg = {"rows": 7473, "sources": [{"name": "gsm8k", "path": str(path), "format": "question_answer"}]}
    secs, df = _timed(lambda: normalize_pool("gsm8k", cfg), repeat=2)
    return [{"what": "normalize GSM8K train (shared data)", "size": f"{len(df):,} rows", "seconds": secs,
             "rate": f"{len(df) / secs:,.0f} rows/s"}]


def bench_dryrun() -> list[dict]:
    repo = Path(__file__).resolve().parents[1]
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules"], cwd=repo,
                         capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    secs = time.perf_counter() - t0
    total = next((ln.split()[-1] for ln in res.stdout.splitlines() if ln.startswith("total")), "?")
    return [{"what": "`snakemake -n` on config/config.yaml (paper scale)", "size": f"{total} jobs", "seconds": secs}]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="BENCHMARKS.md")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--gpu", action="store_true",
                    help="GPU fine-tuning tokens/s and MFU only (needs CUDA); its own section of --out")
    args = ap.parse_args(argv)
    if args.gpu:
        from .training.bench_gpu import main_gpu

        return main_gpu(args.out)
    from .training.bench_train import bench_finetune_padding

    rows = (bench_selectors(args.rows) + bench_diversity() + bench_scoring() + bench_normalize() + bench_dryrun()
            + bench_finetune_padding())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {time.strftime('%Y-%m-%d')}: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}. Best of 2–3 runs.",
        "Speed and memory targets live here, never in timed tests.",
        "",
        "| what | size | seconds | rate |",
        "|---|---|---:|---|",
    ]
    lines += [f"| {r['what']} | {r['size']} | {r['seconds']:.3f} | {r.get('rate', '')} |" for r in rows]
    lines += ["", f"Peak resident memory of the bench process: {peak_mb:,.0f} MiB.", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
