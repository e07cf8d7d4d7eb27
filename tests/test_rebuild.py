"""Incremental rebuilds, determinism, provenance, audit and logs on one completed tiny run
(issue 10 §1, §2, §4, §6). Every check goes through what a user types: `snakemake -n`,
`selectbench audit`, `python -c` loading an adapter from another directory.

The run is conftest's session fixture `tiny_run` (shared with tests/test_workflow.py);
tests that change files restore them (bytes and mtime), tests that rerun jobs do it in a
copy of the run.
"""

import contextlib
import copy
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from plan_params import reversed_keys
from test_workflow import REPO, SNAKEMAKE, snakemake

pytestmark = pytest.mark.slow   # a whole workflow run (make test-fast skips it)

ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
UNIT = "demo/tiny/lora/{m}/b{b}/s{s}"


def planned(wd, cfg_path, *extra, snakefile=None):
    """The jobs `snakemake -n` would run: {(rule, first output or '')}."""
    args = ["-n", *extra]
    if snakefile:
        env = dict(ENV)
        cmd = SNAKEMAKE + ["--snakefile", str(snakefile), "--directory", str(wd), "--configfile",
                           str(cfg_path), "--cores", "2", *args]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    else:
        res = snakemake(wd, cfg_path, *args)
    jobs, rule = set(), None
    for line in (res.stdout + res.stderr).splitlines():
        m = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if m:
            if rule:
                jobs.add((rule, ""))
            rule = m.group(1)
            continue
        m = re.match(r"^\s+output: ([^,\s]+)", line)
        if m and rule:
            jobs.add((rule, m.group(1)))
            rule = None
    if rule:
        jobs.add((rule, ""))
    return jobs


def write_cfg(wd, cfg, name):
    p = wd / name
    p.write_text(yaml.safe_dump(cfg))
    return p


# every report rule reads the tidy table, the cost table or the selections: each reruns
# whenever a selection, checkpoint or benchmark JSON does (rule, first output)
REPORT_JOBS = {(rule, f"results/reports/{out}") for rule, out in [
    ("report_tables", "tidy.csv"), ("report_cost", "cost.csv"), ("report_cost_measured", "cost_measured.csv"),
    ("report_cost_modelled", "cost_modelled.csv"), ("report_effective_cost", "effective_cost.csv"),
    ("report_pareto", "pareto.png"), ("report_selected_composition", "selected_composition.csv"),
    ("report_selected_lengths", "selected_lengths.csv"), ("report_selected_overlap", "selected_overlap.csv"),
    ("report_selected_labels", "selected_labels.csv"), ("report_selected_figure", "selected_composition.png"),
    ("report_significance", "significance.csv"), ("report_generalization", "generalization.csv"),
    ("report_verdict", "verdict.csv")]}


def downstream(methods, budget="40", seed="0", *, select=True):
    """select (optional), finetune, evaluate of `methods`, then the reports and `all`."""
    jobs = set()
    for m in methods:
        b = "all" if m == "full" else budget
        if select:
            jobs.add(("select", f"results/selections/demo/{m}/b{b}/s{seed}.json"))
        jobs.add(("finetune", f"results/checkpoints/{UNIT.format(m=m, b=b, s=seed)}/model"))
        jobs.add(("evaluate", f"results/evals/{UNIT.format(m=m, b=b, s=seed)}/sentiment.json"))
    # the "what was selected" reports read the selections only: unchanged selections, no rerun
    reports = REPORT_JOBS if select else {j for j in REPORT_JOBS if not j[0].startswith("report_selected")}
    return jobs | reports | {("all", "")}


def normalize_outputs(jobs):
    """evaluate's first output is whichever task comes first: compare by directory."""
    out = set()
    for rule, o in jobs:
        if rule in ("evaluate", "evaluate_base") and o:
            o = str(Path(o).parent / "sentiment.json")
        out.add((rule, o))
    return out


ALL_METHODS = ("random", "balanced", "longest", "ppl_low", "full")


@pytest.fixture(scope="module")
def done(tiny_run):
    wd, cfg, cfg_path = tiny_run
    assert planned(wd, cfg_path) == set(), "the completed run must be up to date"
    return tiny_run


# ---------------------------------------------------------------- §6 exact job sets
def test_budget_change_reschedules_exactly_the_new_budget(done):
    wd, cfg, _ = done
    c = copy.deepcopy(cfg)
    c["budgets"] = [50]
    got = normalize_outputs(planned(wd, write_cfg(wd, c, "budget.yaml")))
    assert got == downstream(["random", "balanced", "longest", "ppl_low"], budget="50")


def test_seed_change_reschedules_every_selection_of_that_seed(done):
    wd, cfg, _ = done
    c = copy.deepcopy(cfg)
    c["seeds"] = [1]
    got = normalize_outputs(planned(wd, write_cfg(wd, c, "seed.yaml")))
    assert got == downstream(ALL_METHODS, seed="1")


def test_preset_change_reruns_finetunes_and_evals_only(done):
    wd, cfg, _ = done
    c = copy.deepcopy(cfg)
    c["finetune"]["presets"]["lora"]["learning_rate"] *= 2
    p = write_cfg(wd, c, "lr.yaml")
    got = normalize_outputs(planned(wd, p))
    assert got == downstream(ALL_METHODS, select=False)
    # the audit says why, param by param
    res = subprocess.run([sys.executable, "-m", "selectbench.cli", "audit", "stale", "--directory", str(wd),
                          "--configfile", str(p), "--json"], capture_output=True, text=True, env=ENV, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = json.loads(res.stdout)
    assert {(j["rule"], (j["outputs"] or [""])[0]) for j in jobs if j["rule"] != "evaluate"} == \
        {(r, o) for r, o in got if r != "evaluate"}
    ft = [j for j in jobs if j["rule"] == "finetune"][0]
    old = cfg["finetune"]["presets"]["lora"]["learning_rate"]
    assert any(r.startswith("params changed: preset.learning_rate:") and str(old) in r for r in ft["reasons"]), \
        ft["reasons"]


def test_scorer_param_change_reruns_that_scorer_and_its_methods(done):
    wd, cfg, _ = done
    c = copy.deepcopy(cfg)
    c.setdefault("scoring", {}).setdefault("length", {})["max_length"] = 96
    got = normalize_outputs(planned(wd, write_cfg(wd, c, "scorer.yaml")))
    assert got == downstream(["longest"]) | {("score", "results/scores/demo/length/tiny.parquet")}


@contextlib.contextmanager
def restored(path: Path):
    data, st = path.read_bytes(), path.stat()
    try:
        yield
    finally:
        path.write_bytes(data)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_pool_file_change_reruns_the_pool_and_everything_below(tmp_path):
    """A user's pool file (a declared input) edited: the pool and what reads it rerun."""
    from test_workflow import small_config

    raw = tmp_path / "mine.jsonl"
    raw.write_text("".join(json.dumps({"instruction": f"q{i}", "output": f"a{i}", "id": f"x{i}"}) + "\n"
                           for i in range(12)))
    cfg = small_config()
    cfg["pools"] = {"mine": {"rows": 12, "sources": [{"name": "mine", "path": str(raw), "format": "alpaca"}]}}
    cfg["budgets"] = [5]
    cfg_path = write_cfg(tmp_path, cfg, "mine.yaml")
    targets = ["results/selections/mine/random/b5/s0.json", "results/selections/mine/balanced/b5/s0.json"]
    snakemake(tmp_path, cfg_path, *targets)
    assert planned(tmp_path, cfg_path, *targets) == set()
    raw.write_text(raw.read_text().replace('"a3"', '"another answer"'))
    assert planned(tmp_path, cfg_path, *targets) == {
        ("normalize_pool", "results/pools/mine/pool.parquet"),
        ("select", "results/selections/mine/random/b5/s0.json"),
        ("select", "results/selections/mine/balanced/b5/s0.json")}


def test_edit_inside_a_directory_output_is_caught_by_the_audit_not_by_snakemake(done):
    """Snakemake dates a directory output by its `.snakemake_timestamp`, so an edited file
    inside one (here the built demo pool) reschedules nothing; `selectbench audit stale`
    compares content hashes and names the job to force."""
    wd, _, cfg_path = done
    raw = wd / "results/raw/demo/alpaca.jsonl"
    with restored(raw):
        lines = raw.read_text().splitlines(keepends=True)
        raw.write_text("".join(lines[:-1]))  # one row fewer
        assert planned(wd, cfg_path) == set()
        stale = subprocess.run([sys.executable, "-m", "selectbench.cli", "audit", "stale", "-d", str(wd),
                                "--configfile", str(cfg_path), "--json"],
                               capture_output=True, text=True, env=ENV, cwd=REPO)
    assert stale.returncode == 0, stale.stderr[-3000:]
    (job,) = [j for j in json.loads(stale.stdout)]
    assert job["rule"] == "normalize_pool"
    assert "input content changed: results/raw/demo" in job["reasons"]
    assert any("snakemake --forcerun results/pools/demo/pool.parquet" in r for r in job["reasons"])
    assert planned(wd, cfg_path) == set()


def test_scorer_code_change_reruns_exactly_that_scorer(done, tmp_path):
    """Snakemake tracks script files only; the rules' `code` param (hashes of the package
    modules each job imports) makes an edited scorer module rerun its jobs, and only them."""
    wd, _, cfg_path = done
    src = tmp_path / "src"
    src.mkdir()
    for name in ("Snakefile", "rules", "scripts", "schemas", "selectbench", "envs", "report", "profiles", "config"):
        f = REPO / name
        (shutil.copytree(f, src / name, ignore=shutil.ignore_patterns("__pycache__")) if f.is_dir()
         else shutil.copy2(f, src / name))
    assert planned(wd, cfg_path, snakefile=src / "Snakefile") == set()  # an identical copy: nothing to do
    with open(src / "selectbench/selection/zip.py", "a") as fh:
        fh.write("\nZIP_EDIT = 1  # code of a selector no job of this config runs\n")
    with open(src / "selectbench/scoring/perplexity.py", "a") as fh:
        fh.write("\n# a comment only: not a code change\n")
    assert planned(wd, cfg_path, snakefile=src / "Snakefile") == set()
    with open(src / "selectbench/scoring/length.py", "a") as fh:
        fh.write("\nLENGTH_EDIT = 1  # an edit to the length scorer\n")
    got = normalize_outputs(planned(wd, cfg_path, snakefile=src / "Snakefile"))
    assert got == downstream(["longest"]) | {("score", "results/scores/demo/length/tiny.parquet")}


# ---------------------------------------------------------------- §6 byte-identical reruns
def test_forced_rerun_of_scores_and_selections_is_byte_identical(done, tmp_path):
    wd, cfg, cfg_path = done
    copy_wd = tmp_path / "again"
    shutil.copytree(wd, copy_wd, symlinks=True)
    files = sorted([*(p.relative_to(wd) for p in (wd / "results/scores").rglob("*.parquet")),
                    *(p.relative_to(wd) for p in (wd / "results/selections").rglob("s*.json")
                      if not p.name.endswith((".cost.json", ".prov.json")))])
    assert len(files) == 2 + 5
    snakemake(copy_wd, cfg_path, *map(str, files), "--forcerun", "score", "select")
    for f in files:
        assert (copy_wd / f).stat().st_mtime_ns != (wd / f).stat().st_mtime_ns, f"{f} was not rerun"
        assert (copy_wd / f).read_bytes() == (wd / f).read_bytes(), f"{f} differs on rerun"


# ---------------------------------------------------------------- §1 provenance and audit
def test_every_output_has_a_provenance_record(done):
    wd, _, cfg_path = done
    summary = snakemake(wd, cfg_path, "--summary").stdout.splitlines()
    outputs = [line.split("\t")[0] for line in summary[1:] if "\t" in line]
    assert len(outputs) >= 30
    for o in outputs:
        rec = json.loads((wd / (o.rstrip("/") + ".prov.json")).read_text())
        assert rec["output"] == o.rstrip("/")
        assert {"torch", "transformers", "peft", "lm_eval", "snakemake", "selectbench"} <= set(rec["versions"])
        assert rec["code"]["git"]["commit"] and rec["device"]["type"] == "cpu"
        assert rec["job"]["params"] is not None and isinstance(rec["code"]["files"], dict)
        for irec in rec["inputs"].values():
            assert len(irec["sha256"]) == 64
        assert len(rec["outputs"][rec["output"]]["sha256"]) == 64


def test_audit_traces_a_report_row_to_raw_sources(done):
    wd, _, _ = done
    res = subprocess.run([sys.executable, "-m", "selectbench.cli", "audit", "trace", "results/reports/tidy.csv",
                          "--row", "method=longest", "--row", "task=sentiment", "--json"],
                         capture_output=True, text=True, env=ENV, cwd=wd)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["rows"] and all(r["method"] == "longest" for r in out["rows"])
    (ev,) = out["sources"]
    assert ev["path"] == f"results/evals/{UNIT.format(m='longest', b=40, s=0)}/sentiment.json"

    def walk(n, chain=()):
        yield chain + ((n.get("rule"), n["path"], n["status"]),)
        for s in n.get("inputs", []):
            yield from walk(s, chain + ((n.get("rule"), n["path"], n["status"]),))

    chains = {tuple(r for r, _, _ in c) for c in walk(ev)}
    assert ("evaluate", "finetune", "select", "score") in chains
    assert ("evaluate", "finetune", "normalize_pool", "make_raw_pool") in chains
    def full(n):
        if not n.get("ref"):
            yield n
            for sub in n.get("inputs", []):
                yield from full(sub)

    nodes = {n["path"]: (n.get("rule"), n["status"]) for n in full(ev)}
    assert {r for r, _ in nodes.values() if r} == {"evaluate", "finetune", "select", "score", "normalize_pool",
                                                "make_raw_pool", "build_model", "make_local_tasks",
                                                "check_tasks"}
    assert nodes["results/selections/demo/longest/b40/s0.json"][0] == "select"
    assert all(s in ("ok", "external input") for _, s in nodes.values()), nodes
    text = subprocess.run([sys.executable, "-m", "selectbench.cli", "audit", "trace", "results/reports/tidy.csv",
                           "--row", "method=longest", "--row", "task=sentiment"],
                          capture_output=True, text=True, env=ENV, cwd=wd).stdout
    assert "rule select(" in text and "param budget = 40" in text and "results/raw/demo" in text


def test_audit_stale_is_empty_where_list_changes_params_is_not(done):
    wd, _, cfg_path = done
    res = subprocess.run([sys.executable, "-m", "selectbench.cli", "audit", "stale", "-d", str(wd),
                          "--configfile", str(cfg_path)], capture_output=True, text=True, env=ENV, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.startswith("nothing is stale")
    # the Snakemake 9.27 bug docs/audit.md documents (update that page when this fails)
    lc = snakemake(wd, cfg_path, "--list-changes", "params").stdout
    assert len([ln for ln in lc.splitlines() if ln.startswith("results/")]) >= 20


def test_how_the_config_is_written_reruns_nothing(done):
    """Issue 21 §1: a finished run's config rewritten (every mapping's keys reversed, as JSON,
    with YAML anchors, a whole-number float for an int) schedules nothing."""
    wd, cfg, _ = done
    rev = reversed_keys(cfg)
    floats = copy.deepcopy(rev)
    floats["finetune"]["presets"]["lora"]["epochs"] = float(cfg["finetune"]["presets"]["lora"]["epochs"])
    floats["budgets"] = [float(b) for b in cfg["budgets"]]
    shared = copy.deepcopy(cfg)
    labels = shared["pools"]["demo"]["sources"][0]["label_columns"]
    for src in shared["pools"]["demo"]["sources"]:
        src["label_columns"] = labels   # one object: the dumper writes &id001 … *id001
    texts = {"reversed.yaml": yaml.safe_dump(rev, sort_keys=False),
             "reversed.json": json.dumps(rev, indent=2),
             "floats.yaml": yaml.safe_dump(floats, sort_keys=False),
             "anchors.yaml": yaml.safe_dump(shared)}
    assert "*id001" in texts["anchors.yaml"]
    for name, text in texts.items():
        (wd / name).write_text(text)
        try:
            assert planned(wd, wd / name) == set(), name
        finally:
            (wd / name).unlink()


# ---------------------------------------------------------------- §2 shareable, relocatable
def test_outputs_are_group_readable_per_umask(done):
    wd, _, _ = done
    mask = os.umask(0o022)
    os.umask(mask)
    for p in [wd / "results/checkpoints" / UNIT.format(m="random", b=40, s=0) / "model",
              wd / "results/selections/demo/random/b40/s0.json", wd / "results/pools/demo/pool.parquet",
              wd / "results/evals" / UNIT.format(m="random", b=40, s=0) / "sentiment.json"]:
        for q in [p, *(p.rglob("*") if p.is_dir() else [])]:
            want = (0o777 if q.is_dir() else 0o666) & ~mask
            assert stat.S_IMODE(q.stat().st_mode) & 0o777 == want, q


def test_adapter_loads_from_any_directory(done, tmp_path):
    wd, _, _ = done
    adapter = wd / "results/checkpoints" / UNIT.format(m="random", b=40, s=0) / "model"
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert Path(cfg["base_model_name_or_path"]).is_absolute()
    code = f"""
import torch
from peft import AutoPeftModelForCausalLM, PeftConfig, PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
a = AutoPeftModelForCausalLM.from_pretrained({str(adapter)!r})
c = PeftConfig.from_pretrained({str(adapter)!r})
b = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(c.base_model_name_or_path), {str(adapter)!r})
tok = AutoTokenizer.from_pretrained({str(adapter)!r})
x = tok("hello", return_tensors="pt")
assert torch.allclose(a(**x).logits, b(**x).logits)
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=ENV)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-3000:]


def test_benchmark_json_keeps_lm_eval_schema(done):
    wd, _, _ = done
    rec = json.loads((wd / "results/evals" / UNIT.format(m="random", b=40, s=0) / "sentiment.json").read_text())
    for key in ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "config",
                "git_hash", "date", "task_hashes", "model_source", "model_name", "model_name_sanitized",
                "total_evaluation_time_seconds", "samples"):
        assert key in rec, key
    from lm_eval.utils import make_table

    assert "demo_sentiment_mc" in make_table(rec)  # lm-eval's own table reads it as-is


# ---------------------------------------------------------------- §4 logs
def test_every_log_is_nonempty_and_names_its_outputs(done):
    wd, _, _ = done
    logs = sorted((wd / "logs").rglob("*.log"))
    assert len(logs) >= 20
    for log in logs:
        text = log.read_text()
        assert re.search(r"job \w+", text) and "done in" in text, f"{log}: no header or footer"
        outputs = re.findall(r"output (\S+) \(", text)
        assert outputs, f"{log} names no output"
        for o in outputs:
            assert (wd / o).exists(), (log, o)
