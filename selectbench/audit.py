"""`selectbench audit`: trace a result back to what made it; list stale outputs and why.

* `trace` follows the provenance records (`X.prov.json`, see `selectbench.provenance`)
  from any output — or from rows of a report such as ``results/reports/tidy.csv`` picked by
  their keys — through every input, transitively (benchmark JSON → checkpoint → selection →
  scores → pool → raw sources), showing the rule, params, code, versions and device of
  each step, and whether each file still has the content that was recorded.
* `stale` builds the workflow's DAG for the current config (Snakemake's own API, the
  same decision `snakemake` makes before running) and lists every output that would be
  rebuilt, with Snakemake's reason, refined from the provenance records: which params
  differ (old → new), which input's *content* changed (or only its mtime), which
  package module changed. It replaces ``snakemake --list-changes params``, which in
  Snakemake 9.27 lists every output even when nothing changed (see docs/audit.md).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from .errors import SelectbenchError
from .provenance import describe, prov_path, read_record

UNIT_KEYS = ("pool", "base_model", "preset", "method", "budget", "seed")


# ---------------------------------------------------------------- trace
def parse_row(items: list[str]) -> dict:
    row = {}
    for item in items or []:
        if "=" not in item:
            raise SelectbenchError(f"--row takes key=value, got '{item}'")
        k, v = item.split("=", 1)
        row[k.strip()] = v.strip()
    return row


def _match(value, want: str) -> bool:
    """A report cell or record value equals a user's `key=value` (0 == 0.0; '' == None)."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return str(want).lower() in ("", "none", "nan", "null")
    if str(value) == str(want):
        return True
    try:
        return float(value) == float(want)
    except (TypeError, ValueError):
        return False


def report_sources(report, row: dict) -> tuple[list[dict], list[str]]:
    """The rows of a report table matching `row` and the benchmark JSONs behind them."""
    import pandas as pd

    report = Path(report)
    rec = read_record(prov_path(report))
    if rec is None:
        raise SelectbenchError(f"{report}: no provenance record ({prov_path(report)}); rerun the report")
    params = rec["job"]["params"]
    records = params.get("records")  # report_tables: one benchmark JSON per unit × task
    if records is None and isinstance(params.get("units"), list):  # report_cost: per unit
        records = [dict(u, path=[u["metrics"], u["selection"], *u.get("scores", [])]) for u in params["units"]]
    if not isinstance(records, list):
        raise SelectbenchError(f"{report}: its provenance names no per-row sources (rule {rec['job']['rule']})")
    table = pd.read_csv(report, dtype=str, keep_default_na=False)
    unknown = [k for k in row if k not in table.columns]
    if unknown:
        from .registry import unknown as did_you_mean

        raise SelectbenchError(f"{report}: {did_you_mean('column', unknown[0], list(table.columns))}")
    mask = pd.Series(True, index=table.index)
    for k, v in row.items():
        values = sorted(set(table[k]))
        if not any(_match(x, v) for x in values):
            from .registry import unknown as did_you_mean

            raise SelectbenchError(f"{report}: {did_you_mean(k, v, values)}")
        mask &= table[k].map(lambda x, v=v: _match(x, v))
    rows = table[mask].to_dict("records")
    if not rows:
        raise SelectbenchError(f"{report}: no row matches {row}")
    keys = UNIT_KEYS + ("task",)
    paths = []
    for r in rows:
        for s in records:
            if all(_match(s.get(k), str(r[k])) for k in keys if k in r and k in s):
                for path in s["path"] if isinstance(s["path"], list) else [s["path"]]:
                    if path not in paths:
                        paths.append(path)
    return rows, paths


def _status(path: str, recorded: dict | None, temporary: bool = False) -> str:
    if not os.path.exists(path):
        return "removed (temporary)" if temporary else "missing"
    if not recorded or "sha256" not in recorded:
        return "unrecorded"
    return "ok" if describe(path)["sha256"] == recorded["sha256"] else "CHANGED"


def trace(path: str, seen: dict | None = None, inlined: dict | None = None) -> dict:
    """The provenance tree of `path`: {path, status, sha256, rule, wildcards, params, code,
    versions, device, finished, inputs: [subtrees]} (a node already traced is a reference).

    `inlined`: the record a consumer kept of a temporary input (used when its own record
    is gone with the file)."""
    seen = {} if seen is None else seen
    path = str(path).rstrip("/")
    if path in seen:
        return {"path": path, "ref": True, "status": seen[path]["status"]}
    rec = read_record(prov_path(path)) or inlined
    if rec is None:
        node = {"path": path, "status": "missing" if not os.path.exists(path) else "external input",
                "sha256": describe(path)["sha256"] if os.path.exists(path) else None, "inputs": []}
        seen[path] = node
        return node
    out = rec.get("outputs", {}).get(path, {})
    node = {"path": path, "status": _status(path, out, temporary=rec is inlined), "sha256": out.get("sha256"),
            "rule": rec["job"]["rule"], "wildcards": rec["job"]["wildcards"],
            "params": {k: v for k, v in rec["job"]["params"].items() if k != "code"},
            "code": rec.get("code"), "versions": rec.get("versions"), "device": rec.get("device"),
            "finished": rec.get("finished"), "inputs": []}
    seen[path] = node
    for ipath, irec in rec.get("inputs", {}).items():
        sub = trace(ipath, seen, irec.get("record"))
        if not sub.get("ref") and sub.get("sha256") and irec.get("sha256") and sub["sha256"] != irec["sha256"]:
            sub["status"] = "CHANGED since this job read it"
        sub = dict(sub, read_sha256=irec.get("sha256"))
        node["inputs"].append(sub)
    return node


def _short(v, n=160) -> str:
    t = json.dumps(v, sort_keys=True, default=str)
    return t if len(t) <= n else t[:n] + "…"


def format_trace(node: dict, indent: int = 0, parent_versions: dict | None = None) -> list[str]:
    """The tree as text; package versions are printed where they differ from the parent's."""
    pad = "  " * indent
    arrow = "" if indent == 0 else "← "
    if node.get("ref"):
        return [f"{pad}{arrow}{node['path']}  (traced above)"]
    lines = [f"{pad}{arrow}{node['path']}  [{node['status']}]"
             + (f"  sha256 {node['sha256'][:12]}" if node.get("sha256") else "")]
    versions = node.get("versions") or parent_versions
    if node.get("rule"):
        git = (node.get("code") or {}).get("git") or {}
        dev = node.get("device") or {}
        wc = ", ".join(f"{k}={x}" for k, x in (node.get("wildcards") or {}).items())
        lines.append(f"{pad}    rule {node['rule']}({wc}) · {node.get('finished')} · {dev.get('type')}"
                     f" · git {str(git.get('commit'))[:10]}{' (dirty)' if git.get('dirty') else ''}")
        if versions and versions != parent_versions:
            lines.append(f"{pad}    versions " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
        for k, val in (node.get("params") or {}).items():
            if k not in ("records", "units"):
                lines.append(f"{pad}    param {k} = {_short(val, 100)}")
    for sub in node.get("inputs", []):
        lines.extend(format_trace(sub, indent + 1, versions))
    return lines


# ---------------------------------------------------------------- stale
def _flatten(d, prefix=""):
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): d}


def params_diff(old: dict, new: dict) -> list[str]:
    """['preset.learning_rate: 0.0003 → 0.001', ...] between two params dicts."""
    from .provenance import jsonable

    a, b = _flatten(jsonable(old)), _flatten(jsonable(new))
    diffs = []
    for k in sorted(set(a) | set(b)):
        if a.get(k, "<absent>") != b.get(k, "<absent>"):
            diffs.append(f"{k}: {_short(a.get(k, '<absent>'), 60)} → {_short(b.get(k, '<absent>'), 60)}")
    return diffs


def _prov_reasons(job_params: dict, outputs: list[str], inputs: list[str], rebuilt=()) -> list[str]:
    """What the provenance record of the job's first output says changed."""
    rec = None
    for o in outputs:
        rec = read_record(prov_path(o))
        if rec:
            break
    if rec is None:
        return []
    reasons = []
    old = dict(rec["job"]["params"])
    old_code, new_code = old.pop("code", None), dict(job_params).pop("code", None)
    new = {k: v for k, v in job_params.items() if k != "code"}
    d = params_diff(old, new)
    if d:
        reasons.append("params changed: " + "; ".join(d))
    if isinstance(old_code, dict) and isinstance(new_code, dict) and old_code != new_code:
        changed = sorted(k for k in set(old_code) | set(new_code) if old_code.get(k) != new_code.get(k))
        reasons.append("code changed: " + ", ".join(changed))
    recorded_inputs = rec.get("inputs", {})
    for p in inputs:
        r = recorded_inputs.get(p)
        if r is None:
            if os.path.exists(p):
                reasons.append(f"new input: {p}")
            continue
        if not os.path.exists(p) or p in rebuilt:
            continue  # rebuilt upstream: reported as such
        if describe(p)["sha256"] != r.get("sha256"):
            reasons.append(f"input content changed: {p}")
    gone = sorted(set(recorded_inputs) - set(inputs))
    if gone:
        reasons.append("input no longer used: " + ", ".join(gone))
    return reasons


@contextlib.contextmanager
def _snakemake_dag(snakefile, workdir, configfiles, config):
    """Snakemake's workflow with its DAG built for the current config (its own API; the
    same steps `--list-changes` and `--summary` take)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import (ConfigSettings, DAGSettings, OutputSettings, ResourceSettings,
                                          StorageSettings)

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf_api = api.workflow(resource_settings=ResourceSettings(cores=1),
                              config_settings=ConfigSettings(
                                  configfiles=[Path(c).resolve() for c in configfiles], config=config or {}),
                              storage_settings=StorageSettings(), snakefile=Path(snakefile).resolve(),
                              workdir=Path(workdir).resolve())
        dag_api = wf_api.dag(DAGSettings())
        dag_api.workflow_api.resource_settings.cores = 1
        wf = dag_api.workflow_api._workflow
        wf._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True)
        wf._build_dag()
        yield wf


def stale(snakefile, workdir=".", configfiles=(), config=None) -> list[dict]:
    """Every job the current config, code and inputs would (re)run, with the reasons:
    [{rule, wildcards, outputs, reasons: [...]}], in pipeline-stage order."""
    cwd = os.getcwd()
    workdir = os.path.abspath(workdir)
    try:
        with _snakemake_dag(snakefile, workdir, configfiles, config) as wf:
            os.chdir(workdir)
            dag = wf.dag
            out = []
            for job in dag.jobs:
                reason = dag.reason(job)
                outputs, inputs = [str(o) for o in job.output], [str(i) for i in job.input]
                if not reason:
                    # Snakemake will not rerun it; the content of an input may still have changed
                    # (an edit inside a directory output, which Snakemake dates by its
                    # .snakemake_timestamp, or a file restored with an old mtime)
                    changed = [r for r in _prov_reasons(dict(job.params.items()), outputs, inputs)
                               if r.startswith("input content changed")]
                    if changed and outputs:
                        out.append({"rule": job.rule.name, "wildcards": dict(job.wildcards_dict),
                                    "outputs": outputs,
                                    "reasons": changed + ["Snakemake will not rerun this job by itself: "
                                                          f"snakemake --forcerun {outputs[0]}"]})
                    continue
                reasons = []
                if reason.missing_output:
                    reasons.append("missing output: " + ", ".join(sorted(map(str, reason.missing_output))))
                if reason.updated_input_run:
                    reasons.append("upstream job reruns: " + ", ".join(sorted(map(str, reason.updated_input_run))))
                if reason.updated_input:
                    reasons.append("input newer than output (mtime): " + ", ".join(sorted(map(str, reason.updated_input))))
                if reason.incomplete_output:
                    reasons.append("incomplete output")
                if reason.forced:
                    reasons.append("forced")
                if not reason.missing_output:
                    params = dict(job.params.items())
                    detail = _prov_reasons(params, outputs, inputs, {str(f) for f in reason.updated_input_run})
                    reasons.extend(detail)
                    if reason.params_changed and not any(r.startswith("params changed") for r in detail):
                        reasons.append("params changed (Snakemake metadata)")
                    if reason.code_changed and not any(r.startswith("code changed") for r in detail):
                        reasons.append("rule code changed (Snakemake metadata)")
                    if reason.input_changed:
                        reasons.append("set of input files changed")
                    if reason.software_stack_changed:
                        reasons.append("software environment changed")
                out.append({"rule": job.rule.name, "wildcards": dict(job.wildcards_dict),
                            "outputs": outputs, "reasons": reasons or [str(reason)]})
    finally:
        os.chdir(cwd)
    return sorted(out, key=_stage)


STAGES = ("make_raw_pool", "make_query_set", "make_local_tasks", "normalize_pool", "build_model", "less_warmup",
          "score", "diverse_evol_init", "diverse_evol_round", "select", "finetune", "evaluate", "evaluate_base",
          "report_tables", "report_cost", "all")


def _stage(job: dict):
    rule = job["rule"]
    return (STAGES.index(rule) if rule in STAGES else len(STAGES), job["outputs"])


def format_stale(jobs: list[dict]) -> list[str]:
    if not jobs:
        return ["nothing is stale: every output is up to date with the current config, code and inputs"]
    lines = [f"{len(jobs)} job(s) would run (--json for every output and reason in full):"]
    for j in jobs:
        outs = j["outputs"]
        more = f" (+{len(outs) - 1} more)" if len(outs) > 1 else ""
        lines.append(f"{j['rule']}: {outs[0] if outs else '(no output)'}{more}")
        for r in j["reasons"]:
            lines.append(f"    {r if len(r) <= 150 else r[:150] + '…'}")
    return lines


