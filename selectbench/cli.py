"""The `selectbench` command: what is not a Snakemake rule.

    selectbench list [scorers|selectors|formats|generators]
    selectbench validate CONFIG [--tasks]     (--tasks: also check lm-eval task names; ~10 s)
    selectbench tasks CONFIG                  the benchmarks a config evaluates
    selectbench cost estimate CONFIG -o OUT.csv [--tokens-per-row N] [--gpu-flops F]
                                              modelled FLOPs (and GPU-hours) of every unit, before running
"""

from __future__ import annotations

import argparse
import sys

from .errors import SelectbenchError


def _list(what: str) -> None:
    from .config import GENERATORS
    from .pools import FORMATS
    from .scoring import SCORERS
    from .selection import SELECTORS

    if what in ("all", "scorers"):
        print("scorers:")
        for name in SCORERS:
            s = SCORERS.get(name)
            print(f"  {name:<16} {'model' if s.needs_model else '-':<6} {s.doc.splitlines()[0] if s.doc else ''}")
            if s.params:
                print(f"  {'':<16} params: {', '.join(f'{k}={v!r}' for k, v in s.params.items())}")
    if what in ("all", "selectors"):
        print("selectors:")
        for name in SELECTORS:
            s = SELECTORS.get(name)
            kind = "scores" if s.needs_scores else "-"
            print(f"  {name:<16} {kind:<6} {s.doc.splitlines()[0] if s.doc else ''}")
    if what in ("all", "formats"):
        print("pool formats:", ", ".join(FORMATS))
    if what in ("all", "generators"):
        for kind, gens in GENERATORS.items():
            for g, params in gens.items():
                print(f"{kind} generator {g}: {', '.join(sorted(params))}")


def _validate(path: str, tasks: bool) -> None:
    from .config import load_config

    exp = load_config(path)
    if tasks:
        from .evaluation import local_task_names
        from .evaluation.lmeval import _check_task_names, _task_manager

        local = exp.raw["evaluation"].get("local_tasks")
        if local:
            import tempfile

            from .evaluation import write_local_tasks

            tmp = tempfile.mkdtemp(prefix="selectbench-tasks-")
            write_local_tasks(local["generator"], tmp, local["params"])
            names = local_task_names(local["generator"])
        else:
            tmp, names = None, ()
        need_defaults = any(t["lm_eval_task"] not in names for t in exp.tasks.values())
        _check_task_names(_task_manager(tmp, need_defaults), exp.tasks)
    n_sel, n_ft = len(exp.selection_units()), len(exp.finetune_units())
    print(f"{path}: OK — {len(exp.pools)} pool(s), {len(exp.methods)} method(s), "
          f"{len(exp.score_units())} score file(s), {n_sel} selection(s), {n_ft} fine-tune(s), "
          f"{len(exp.tasks)} task(s)")


def _tasks(path: str) -> None:
    from .config import load_config

    exp = load_config(path)
    for key, t in exp.tasks.items():
        print(f"{key:<16} lm-eval task {t['lm_eval_task']:<24} {t['num_fewshot']}-shot"
              + (f", limit {t['limit']}" if t.get("limit") else ""))


def _cost_estimate(path: str, out: str, tokens_per_row: float | None, gpu_flops: float | None,
                   stats_dir: str) -> None:
    from .analysis.flops import estimate
    from .config import load_config
    from .io import atomic_write_text

    if not out.endswith(".csv"):
        raise ValueError(f"-o {out}: the estimate is written as CSV; give a path ending in .csv")
    df = estimate(load_config(path), stats_dir, tokens_per_row, gpu_flops)
    atomic_write_text(df.to_csv(index=False), out)
    total = df["total_flops_amortized"].sum()
    msg = (f"{out}: {len(df)} unit(s), {total:.3g} FLOPs in all, each shared job counted once "
           f"(selection {df['selection_flops_amortized'].sum():.3g})")
    if gpu_flops:
        msg += f", {df['total_amortized_gpu_hours'].sum():.4g} GPU-hours at {gpu_flops:.3g} FLOP/s per GPU"
    print(msg)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="selectbench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("list", help="registered scorers, selectors, pool formats, generators")
    p.add_argument("what", nargs="?", default="all", choices=["all", "scorers", "selectors", "formats", "generators"])
    p = sub.add_parser("validate", help="validate a config (as the Snakefile does at parse time)")
    p.add_argument("config")
    p.add_argument("--tasks", action="store_true", help="also resolve lm-eval task names (slower)")
    p = sub.add_parser("tasks", help="list the benchmarks of a config")
    p.add_argument("config")
    p = sub.add_parser("cost", help="cost models")
    csub = p.add_subparsers(dest="cost_cmd", required=True)
    p = csub.add_parser("estimate", help="modelled FLOPs of every fine-tuned unit of a config, before running")
    p.add_argument("config")
    p.add_argument("-o", "--output", required=True, help="CSV to write")
    p.add_argument("--tokens-per-row", type=float, default=None,
                   help="mean tokens per pool row when results/pools/POOL/stats.json does not exist")
    p.add_argument("--gpu-flops", type=float, default=None,
                   help="sustained FLOP/s per GPU: adds GPU-hour columns (e.g. 4e14 for an H100 at ~40%% MFU)")
    p.add_argument("--stats-dir", default="results/pools", help="where normalized pools' stats.json live")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "list":
            _list(args.what)
        elif args.cmd == "validate":
            _validate(args.config, args.tasks)
        elif args.cmd == "tasks":
            _tasks(args.config)
        elif args.cmd == "cost":
            _cost_estimate(args.config, args.output, args.tokens_per_row, args.gpu_flops, args.stats_dir)
    except (SelectbenchError, ValueError, FileNotFoundError) as e:
        print(f"selectbench: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
