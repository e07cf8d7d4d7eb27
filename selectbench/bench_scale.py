"""Pool-scale memory benchmark: normalize → length scores → top-k on a synthetic big pool.

The pool is made from the real T0 rows in ``../shared/datasets/pools/`` by
perturbing them (a variant number in the id and the prompt, a rotated word
order for variants > 0), so every id is unique and the text has real lengths.
Each stage runs as its own child process (as a workflow job would) and its peak
resident memory is read from the kernel (`os.wait4` rusage of that child).

    python -m selectbench.bench_scale --rows 5800000 --out BENCHMARKS.md   # make bench-scale
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

SHARED = Path(os.environ.get("SELECTBENCH_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "datasets" / "pools"
T0 = SHARED / "t0-train-50k.jsonl.gz"
BUDGET = 50_000
# The `length` job's threads: every core this process may use, as a score job declaring that many
# threads gets on a node (its tokenizer's threads follow the job's; modeling.use_threads).
THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def build_scaled_pool(rows: int, out_path, src=T0) -> int:
    """Write `rows` JSONL rows {id, source, prompt, completion} made from the T0 rows, streaming."""
    base = []
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line) if line.strip() else None
            if r and r["prompt"].strip() and r["completion"].strip():   # a few T0 rows have empty text
                base.append((r["id"], r["source"], r["prompt"], r["completion"]))
    n = len(base)
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    with open(out_path, "w", encoding="utf-8") as out:
        for i in range(rows):
            k, (rid, source, prompt, completion) = divmod(i, n)[0], base[i % n]
            if k:
                words = prompt.split(" ")
                cut = k % len(words)
                prompt = f"[{k}] " + " ".join(words[cut:] + words[:cut])
            out.write(dumps({"id": f"{rid}#{k}", "source": source, "prompt": prompt,
                             "completion": completion}) + "\n")
    return rows


def pool_config(raw_path, rows: int) -> dict:
    return {"rows": rows, "sources": [{"name": "t0x", "path": str(raw_path), "format": "prompt_completion",
                                       "id_field": "id", "source_field": "source"}]}


def stage(name: str, work: str, rows: int) -> None:
    """One benchmark stage, run in this (child) process."""
    work = Path(work)
    if name == "normalize":
        from .pools import write_normalized_pool

        write_normalized_pool("t0x", pool_config(work / "raw.jsonl", rows), work / "pool.parquet",
                              work / "stats.json")
    elif name == "length":
        from .scoring.run import score_pool

        score_pool(work / "pool.parquet", work / "stats.json", "length", {},
                   {"name_or_path": str(work / "tokenizer"), "revision": None}, "cpu", THREADS,
                   work / "length.parquet", work / "length.json")
    elif name == "random":
        from .selection.run import select

        select(work / "pool.parquet", work / "stats.json", None, "random", "random", {},
               min(BUDGET, rows), 0, work / "random.json")
    elif name == "top_k":
        from .selection.run import select

        select(work / "pool.parquet", work / "stats.json", work / "length.parquet", "longest", "top_k", {},
               min(BUDGET, rows), 0, work / "top_k.json")
    else:
        raise SystemExit(f"unknown stage {name}")


# A tiny launcher between the bench and each stage: Linux counts the RSS that a process had
# when it called exec into the child's ru_maxrss, so a stage started straight from the
# (large) bench process would report at least the bench's own RSS.
LAUNCHER = ("import os, subprocess, sys\n"
            "p = subprocess.Popen(sys.argv[2:])\n"
            "_, status, usage = os.wait4(p.pid, 0)\n"
            "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
            "sys.exit(os.waitstatus_to_exitcode(status))\n")


def run_child(args: list[str], env=None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process; raises if it fails."""
    with tempfile.NamedTemporaryFile(suffix=".maxrss") as fh:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", LAUNCHER, fh.name, *args], env=env)
        secs = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited with {proc.returncode}")
        return secs, int(Path(fh.name).read_text()) / 1024


def t0_texts(limit: int | None = None) -> list[str]:
    """Prompts and completions of the T0 rows, in file order (the first `limit` texts)."""
    texts = []
    with gzip.open(T0, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                texts += [r["prompt"], r["completion"]]
                if limit is not None and len(texts) >= limit:
                    break
    return texts


def make_tokenizer(out_dir) -> None:
    """A byte-level BPE (vocab 8,192) trained on 5,000 T0 rows, saved as a transformers tokenizer
    (the demo's kind, which makes every space its own token; the LM-scoring ratio of `make bench`)."""
    from .demo.tiny_model import train_tokenizer

    train_tokenizer(t0_texts(10_000), vocab_size=8192, out_dir=out_dir, model_max_length=1 << 20)


def make_scorer_tokenizer(out_dir) -> None:
    """The `length` stage's tokenizer: a byte-level BPE with the GPT-2 / Llama-3 pre-tokenizer and
    Llama-2's vocabulary size (32,000), trained on every T0 row, saved as a transformers tokenizer.

    Not the demo's kind (`make_tokenizer`): that one makes every space its own token (475 tokens
    per T0 row against 278 for this pre-tokenizer at the same 8,192 vocabulary, 211 at 32,000),
    which suits the demo's tiny models but would overstate what tokenizing a pool costs with a
    real scorer model.
    """
    from .demo.tiny_model import train_tokenizer

    train_tokenizer(t0_texts(), vocab_size=32_000, out_dir=out_dir, model_max_length=1 << 20,
                    isolate_whitespace=False)


STAGES = {
    "normalize": "normalize + write pool (one job)",
    "random": "`random` selection of {budget:,} (one job; reads the id and source columns)",
    "length": f"`length` scores (tokenize every row; one job, {THREADS} threads)",
    "top_k": "`top_k` selection of {budget:,} by length (one job; reads ids + scores)",
}


def pipeline(rows: int, work=None, report=None) -> list[dict]:
    """Build the pool and run the stages; one row per stage with time and peak RSS.

    `report(rows_so_far)` is called after every stage (so a long run records what it measured).
    """
    if not T0.exists():
        return [{"what": f"{rows:,}-row pool (normalize, length, top_k)", "size": "skipped: ../shared absent",
                 "seconds": float("nan")}]
    tmp = Path(tempfile.mkdtemp(prefix="selectbench-scale-", dir=work))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="true")
    try:
        t0 = time.perf_counter()
        build_scaled_pool(rows, tmp / "raw.jsonl")
        raw_s = time.perf_counter() - t0
        raw_gb = (tmp / "raw.jsonl").stat().st_size / 1e9
        make_scorer_tokenizer(tmp / "tokenizer")
        out = [{"what": f"build a {rows:,}-row pool from perturbed T0 rows (JSONL, {raw_gb:.1f} GB)",
                "size": f"{rows:,} rows", "seconds": raw_s}]
        for name, what in STAGES.items():
            if report:
                report(out)
            secs, peak = run_child([sys.executable, "-m", "selectbench.bench_scale", "--stage", name,
                                    "--work", str(tmp), "--rows", str(rows)], env)
            rate = f"{rows / secs:,.0f} rows/s"
            if name == "length":     # tokens, so that other tokenizers' costs can be estimated from it
                tokens = int(pq.read_table(tmp / "length.parquet", columns=["total_tokens"])
                             .column(0).to_numpy().sum())
                rate += f", {tokens / secs:,.0f} tok/s ({tokens / rows:,.0f} tok/row)"
            out.append({"what": what.format(budget=min(BUDGET, rows)), "size": f"{rows:,} rows", "seconds": secs,
                        "rate": rate, "peak_mib": peak})
            if name == "normalize":
                (tmp / "raw.jsonl").unlink()     # free the disk before the next stages
        out.append({"what": "whole run (build, tokenizer training, every stage above)",
                    "size": f"{rows:,} rows", "seconds": time.perf_counter() - t0})
        if report:
            report(out)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def format_rows(rows: list[dict]) -> list[str]:
    lines = ["| what | size | seconds | rate | peak RSS (MiB) |", "|---|---|---:|---|---:|"]
    for r in rows:
        peak = f"{r['peak_mib']:,.0f}" if r.get("peak_mib") is not None else ""
        lines.append(f"| {r['what']} | {r['size']} | {r['seconds']:.1f} | {r.get('rate', '')} | {peak} |")
    return lines


def update_section(path, name: str, body: list[str]) -> None:
    """Replace (or append) the block between `<!-- begin NAME -->` and `<!-- end NAME -->`."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = "\n".join([begin, *body, end])
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def machine() -> str:
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_800_000)
    ap.add_argument("--out", default="BENCHMARKS.md")
    ap.add_argument("--work", default=None, help="folder for the temporary pool (default: the system temp)")
    ap.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--reuse", default=None, metavar="DIR",
                    help="measure --stages again on the pool a stopped run left in DIR (no rebuild)")
    ap.add_argument("--stages", default="random", help="with --reuse: comma-separated stages")
    args = ap.parse_args(argv)
    if args.stage:
        stage(args.stage, args.work, args.rows)
        return 0
    if args.reuse:
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
        rows = []
        for name in args.stages.split(","):
            secs, peak = run_child([sys.executable, "-m", "selectbench.bench_scale", "--stage", name,
                                    "--work", args.reuse, "--rows", str(args.rows)], env)
            rows.append({"what": STAGES[name].format(budget=min(BUDGET, args.rows)) + ", on the pool above",
                         "size": f"{args.rows:,} rows", "seconds": secs, "rate": f"{args.rows / secs:,.0f} rows/s",
                         "peak_mib": peak})
        body = [f"Re-measured by `python -m selectbench.bench_scale --reuse DIR --stages {args.stages} "
                f"--rows {args.rows}` on {machine()}:", "", *format_rows(rows)]
        update_section(args.out, "bench-scale-reuse", body)
        print("\n".join(body), flush=True)
        return 0
    started = machine()

    def report(rows):
        body = ["## Pool scale (`make bench-scale`)", "",
                f"Written by `make bench-scale` (`python -m selectbench.bench_scale --rows {args.rows}`) on "
                f"{started}. Each stage is one child process; peak RSS is that process's maximum resident set "
                "(kernel rusage via `os.wait4`, read by a small launcher process). Target: under 4 GiB (4,096 MiB) per job.", "",
                *format_rows(rows)]
        if len(rows) <= len(STAGES) + 1:
            body += ["", f"(run in progress or stopped: {len(STAGES) + 2 - len(rows)} row(s) not measured)"]
        update_section(args.out, "bench-scale", body)
        print("\n".join(body), flush=True)

    pipeline(args.rows, args.work, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
