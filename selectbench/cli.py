"""The `selectbench` command: what is not a Snakemake rule.

    selectbench list [scorers|selectors|formats|generators]
    selectbench validate CONFIG [--tasks]     (--tasks: also check lm-eval task names; ~10 s)
    selectbench tasks CONFIG                  the benchmarks a config evaluates
    selectbench config-reference [--write [PAGE]]     every config key (from the schema) [into config/README.md]
    selectbench audit trace PATH [--row k=v ...] [--json]   what made an output / a report row
    selectbench audit stale [--configfile F] [--config k=v ...] [--directory D]  what would rerun, and why
    selectbench audit orphans [--directory D] [--remove]   provenance records whose output is gone
    selectbench significance TIDY.csv -o OUT.csv   method − random tests (docs/statistics.md)
    selectbench generalization TIDY.csv -o OUT.csv rankings across setups, Kendall's τ, win rates
    selectbench verdict SIG.csv GEN.csv -o OUT.csv the report's front-page table
    selectbench readme-table SUMMARY.csv      the README's demo results table (Markdown)
    selectbench cost estimate CONFIG -o OUT.csv [--tokens-per-row N] [--gpu-flops F]
                                              modelled FLOPs (and GPU-hours) of every unit, before running
    selectbench rulegraph [--configfile F] [--write README.md]   the README's pipeline picture (Mermaid)
"""

from __future__ import annotations

import argparse
import sys

from .errors import SelectbenchError


def _list(what: str, config: str | None = None) -> None:
    """Every registered name with where it comes from (package, module:line); `config`:
    also that config's `plugins.modules`."""
    from .builders import POOL_GENERATORS
    from .config import GENERATORS
    from .plugins import load
    from .pools import FORMATS
    from .scoring import SCORERS
    from .selection import SELECTORS

    if config:
        from .config import load_yaml_strict

        load((load_yaml_strict(config) or {}).get("plugins"))
    if what in ("all", "scorers"):
        print("scorers:")
        for name in SCORERS:
            s = SCORERS.get(name)
            print(f"  {name:<16} {'model' if s.needs_model else '-':<6} {s.doc.splitlines()[0] if s.doc else ''}")
            print(f"  {'':<16} from {SCORERS.origin(name)}")
            if s.params:
                print(f"  {'':<16} params: {', '.join(f'{k}={v!r}' for k, v in s.params.items())}")
    if what in ("all", "selectors"):
        print("selectors:")
        for name in SELECTORS:
            s = SELECTORS.get(name)
            kind = "scores" if s.needs_scores else "-"
            print(f"  {name:<16} {kind:<6} {s.doc.splitlines()[0] if s.doc else ''}")
            print(f"  {'':<16} from {SELECTORS.origin(name)}")
            if s.params:
                print(f"  {'':<16} params: {', '.join(f'{k}={v!r}' for k, v in s.params.items())}")
    if what in ("all", "formats"):
        print("pool formats:", ", ".join(FORMATS))
    if what in ("all", "generators"):
        for g in POOL_GENERATORS:
            params = POOL_GENERATORS.get(g).params
            print(f"pool generator {g}: {', '.join(sorted(params))}  (from {POOL_GENERATORS.origin(g)})")
        for kind, gens in GENERATORS.items():
            for g, params in gens.items():
                print(f"{kind} generator {g}: {', '.join(sorted(params))}")


def _validate(path: str, tasks: bool) -> None:
    from .config import load_config

    exp = load_config(path)
    if tasks:
        import tempfile

        from .evaluation import write_local_tasks
        from .evaluation.lmeval import _check_task_names, _task_manager
        from .evaluation.run import task_includes

        evaluation = exp.raw["evaluation"]
        local = evaluation.get("local_tasks")
        tmp = tempfile.mkdtemp(prefix="selectbench-tasks-")
        if local:
            write_local_tasks(local["generator"], tmp, local["params"])
        # include_path relative to the workflow directory: run this from there
        include, names = task_includes(evaluation, tmp)
        need_defaults = any(t["lm_eval_task"] not in names for t in exp.tasks.values())
        _check_task_names(_task_manager(include, need_defaults), exp.tasks, include)
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


def _config_reference(write: str | None) -> None:
    from .configref import reference, write_readme

    if write:
        changed = write_readme(write)
        print(f"{write}: configuration reference {'updated' if changed else 'already up to date'}")
    else:
        print(reference(), end="")


def _rulegraph(configfile: str, write: str | None) -> None:
    from .rulegraph import rulegraph
    from .rulegraph import write as write_graph

    graph = rulegraph(configfile)
    if write:
        changed = write_graph(write, graph)
        print(f"{write}: rule graph {'updated' if changed else 'already up to date'}")
    else:
        print(graph, end="")


def _audit(args) -> None:
    import json
    from pathlib import Path

    from . import audit

    if args.audit_cmd == "trace":
        if not Path(args.path).exists():
            raise FileNotFoundError(f"{args.path}: no such output (run from the workflow's directory)")
        row = audit.parse_row(args.row)
        if row:
            rows, paths = audit.report_sources(args.path, row)
            trees = [audit.trace(p) for p in paths]
            if args.json:
                print(json.dumps({"rows": rows, "sources": trees}, indent=1, default=str))
                return
            print(f"{args.path}: {len(rows)} row(s) match {row}")
            for r in rows:
                print("  " + ", ".join(f"{k}={v}" for k, v in r.items()))
            seen = {}
            for p in paths:
                print()
                print("\n".join(audit.format_trace(audit.trace(p, seen))))
            return
        tree = audit.trace(args.path)
        print(json.dumps(tree, indent=1, default=str) if args.json else "\n".join(audit.format_trace(tree)))
    elif args.audit_cmd == "orphans":
        from .provenance import orphans, remove_orphans

        root = Path(args.directory) / "results"
        found = remove_orphans(root) if args.remove else orphans(root)
        for p in found:
            print(p)
        verb = "removed" if args.remove else "found"
        print(f"{len(found)} provenance record(s) without their output {verb} under {root}", file=sys.stderr)
        if found and not args.remove:
            sys.exit(1)
    else:
        snakefile = args.snakefile or str(Path(__file__).resolve().parents[1] / "Snakefile")
        config = {}
        for item in args.config or []:
            import yaml

            k, _, v = item.partition("=")
            config[k] = yaml.safe_load(v)
        jobs = audit.stale(snakefile, args.directory, args.configfile or [], config)
        print(json.dumps(jobs, indent=1, default=str) if args.json else "\n".join(audit.format_stale(jobs)))


def _significance_options(args):
    from .analysis.significance import Options

    return Options(baseline=args.baseline, alpha=args.alpha, correction=args.correction,
                   resamples=args.resamples, seed=args.bootstrap_seed, too_few=args.too_few,
                   protocol_method=args.protocol_method)


def _significance(args) -> None:
    from .analysis.significance import read_tidy, units_from_dir, write_significance

    tidy = read_tidy(args.tidy)
    units = units_from_dir(tidy, args.samples) if args.samples else None
    out = write_significance(tidy, args.output, _significance_options(args), units, source=args.tidy)
    n_sig = int((out["significant"].astype(str) == "True").sum())
    print(f"{args.output}: {len(out)} test rows, {n_sig} significant at alpha {args.alpha} ({args.correction})")


def _generalization(args) -> None:
    import pandas as pd

    from .analysis.generalization import write_generalization
    from .analysis.significance import read_tidy

    sig = pd.read_csv(args.significance) if args.significance else None
    summary, ranks, kend = write_generalization(read_tidy(args.tidy), args.output, args.baseline, sig,
                                                args.rankings, args.kendall, args.figure, source=args.tidy)
    print(f"{args.output}: {len(summary) - 1} method(s), {ranks['setup'].nunique()} setup(s), "
          f"{int(kend['tau'].notna().sum())} Kendall pair(s)")


def _verdict(args) -> None:
    from .analysis.verdict import write_verdict

    out = write_verdict(args.significance, args.generalization, args.cost, args.output, args.baseline)
    print(out[["method", "beats_baseline", "median_effective_cost_ratio", "mean_rank"]].to_string(index=False))


def _readme_table(args) -> None:
    from .analysis.readme import readme_table

    print(readme_table(args.summary), end="")


def _add_significance_args(p) -> None:
    p.add_argument("tidy", help="tidy CSV: pool, base_model, method, budget, seed, task, metric, value "
                                "(+ preset, subtask, filter)")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--baseline", default="random")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--correction", choices=["holm", "bh"], default="holm")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--bootstrap-seed", type=int, default=0)
    p.add_argument("--too-few", choices=["error", "note"], default="error",
                   help="one baseline seed / missing baseline: stop with an error (default) or state it in the row")
    p.add_argument("--protocol-method", choices=["auto", "exact", "asymptotic"], default="auto",
                   help="scipy.stats.mannwhitneyu `method` for the 2410.09335 protocol (default auto, as the paper's call)")
    p.add_argument("--samples", metavar="EVALS_DIR",
                   help="benchmark JSONs laid out like results/evals: adds the paired per-example bootstrap")


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
    p.add_argument("--config", help="also list the plug-in modules this config imports (plugins.modules)")
    p = sub.add_parser("validate", help="validate a config (as the Snakefile does at parse time)")
    p.add_argument("config")
    p.add_argument("--tasks", action="store_true", help="also resolve lm-eval task names (slower)")
    p = sub.add_parser("tasks", help="list the benchmarks of a config")
    p.add_argument("config")
    p = sub.add_parser("config-reference", help="every config key with type, default and description (from the schema)")
    p.add_argument("--write", metavar="PAGE", nargs="?", const="config/README.md",
                   help="replace the generated section of this page (default: config/README.md)")
    p = sub.add_parser("audit", help="trace outputs to their inputs/params/code; list stale outputs and why")
    asub = p.add_subparsers(dest="audit_cmd", required=True)
    t = asub.add_parser("trace", help="the provenance chain of an output, or of report rows (--row)")
    t.add_argument("path", help="an output (e.g. results/evals/.../sentiment.json) or a report (results/reports/tidy.csv)")
    t.add_argument("--row", action="append", metavar="KEY=VALUE",
                   help="pick report rows by column value (repeatable), e.g. --row method=random --row task=sentiment")
    t.add_argument("--json", action="store_true", help="machine-readable output")
    st = asub.add_parser("stale", help="outputs the current config, code and inputs would rebuild, with reasons")
    st.add_argument("--configfile", action="append", help="as for snakemake (default: the Snakefile's own)")
    st.add_argument("--config", nargs="*", metavar="KEY=VALUE", help="as for snakemake")
    st.add_argument("--directory", "-d", default=".", help="the workflow's working directory (default: .)")
    st.add_argument("--snakefile", "-s", help="default: the Snakefile beside this package")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    o = asub.add_parser("orphans", help="provenance records whose output is gone (exit 1 if any; --remove them)")
    o.add_argument("--directory", "-d", default=".", help="the workflow's working directory (default: .)")
    o.add_argument("--remove", action="store_true", help="delete them")
    p = sub.add_parser("significance", help="method − random significance tests on a tidy CSV")
    _add_significance_args(p)
    p = sub.add_parser("generalization", help="rankings across setups, Kendall's τ, win rates")
    p.add_argument("tidy")
    p.add_argument("-o", "--output", required=True, help="per-method summary CSV")
    p.add_argument("--baseline", default="random")
    p.add_argument("--significance", help="a significance CSV: adds significant-win rates")
    p.add_argument("--rankings", help="also write the per-setup rankings CSV here")
    p.add_argument("--kendall", help="also write the Kendall's τ pairs CSV here")
    p.add_argument("--figure", help="also write the Kendall's τ heatmap PNG here")
    p = sub.add_parser("verdict", help="the front-page verdict table")
    p.add_argument("significance")
    p.add_argument("generalization")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--cost", help="effective_cost.csv (method, effective_cost_ratio)")
    p.add_argument("--baseline", default="random")
    p = sub.add_parser("readme-table", help="print the README's demo results table from summary.csv")
    p.add_argument("summary")
    p = sub.add_parser("rulegraph", help="the workflow's rule graph as a compact Mermaid flowchart (the README's picture)")
    p.add_argument("--configfile", default="config/demo.yaml", help="config to plan (run from the workflow directory)")
    p.add_argument("--write", metavar="README", nargs="?", const="README.md",
                   help="replace the generated section of this page (default: README.md)")
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
            _list(args.what, args.config)
        elif args.cmd == "validate":
            _validate(args.config, args.tasks)
        elif args.cmd == "tasks":
            _tasks(args.config)
        elif args.cmd == "config-reference":
            _config_reference(args.write)
        elif args.cmd == "audit":
            _audit(args)
        elif args.cmd == "significance":
            _significance(args)
        elif args.cmd == "generalization":
            _generalization(args)
        elif args.cmd == "verdict":
            _verdict(args)
        elif args.cmd == "readme-table":
            _readme_table(args)
        elif args.cmd == "rulegraph":
            _rulegraph(args.configfile, args.write)
        elif args.cmd == "cost":
            _cost_estimate(args.config, args.output, args.tokens_per_row, args.gpu_flops, args.stats_dir)
    except (SelectbenchError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"selectbench: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
