"""The `selectbench` command: what is not a Snakemake rule.

    selectbench list [scorers|selectors|formats|generators]
    selectbench validate CONFIG [--tasks]     (--tasks: also check lm-eval task names; ~10 s)
    selectbench tasks CONFIG                  the benchmarks a config evaluates
    selectbench config-reference [--write README.md]   every config key (from the schema)
    selectbench audit trace PATH [--row k=v ...] [--json]   what made an output / a report row
    selectbench audit stale [--configfile F] [--config k=v ...] [--directory D]  what would rerun, and why
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


def _config_reference(write: str | None) -> None:
    from .configref import reference, write_readme

    if write:
        changed = write_readme(write)
        print(f"{write}: configuration reference {'updated' if changed else 'already up to date'}")
    else:
        print(reference(), end="")


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
    else:
        snakefile = args.snakefile or str(Path(__file__).resolve().parents[1] / "Snakefile")
        config = {}
        for item in args.config or []:
            import yaml

            k, _, v = item.partition("=")
            config[k] = yaml.safe_load(v)
        jobs = audit.stale(snakefile, args.directory, args.configfile or [], config)
        print(json.dumps(jobs, indent=1, default=str) if args.json else "\n".join(audit.format_stale(jobs)))


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
    p = sub.add_parser("config-reference", help="every config key with type, default and description (from the schema)")
    p.add_argument("--write", metavar="README", help="replace the generated section of this README")
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
    args = ap.parse_args(argv)
    try:
        if args.cmd == "list":
            _list(args.what)
        elif args.cmd == "validate":
            _validate(args.config, args.tasks)
        elif args.cmd == "tasks":
            _tasks(args.config)
        elif args.cmd == "config-reference":
            _config_reference(args.write)
        elif args.cmd == "audit":
            _audit(args)
    except (SelectbenchError, ValueError, FileNotFoundError) as e:
        print(f"selectbench: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
