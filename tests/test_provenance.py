"""Provenance helpers, shared file modes, relocatable adapters and lm-eval tasks (issue 10 §1–2)."""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from selectbench.io import atomic_dir, atomic_write_json, atomic_write_text
from selectbench.provenance import code_files, content_hash, describe, job_record, prov_path, write_records

ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)

    def set_(m):
        os.umask(m)

    yield set_
    os.umask(old)


@pytest.mark.parametrize("mask,fmode,dmode", [(0o002, 0o664, 0o775), (0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_atomic_writers_follow_the_umask(tmp_path, umask, mask, fmode, dmode):
    umask(mask)
    atomic_write_json({"a": 1}, tmp_path / "x.json")
    atomic_write_text("t", tmp_path / "x.txt")
    with atomic_dir(tmp_path / "ck") as d:
        (d / "sub").mkdir()
        (d / "sub" / "w.bin").write_bytes(b"1")
        os.chmod(d / "sub" / "w.bin", 0o600)  # like a file some library wrote via mkstemp
    assert mode(tmp_path / "x.json") == fmode and mode(tmp_path / "x.txt") == fmode
    assert mode(tmp_path / "ck") == dmode and mode(tmp_path / "ck" / "sub") == dmode
    assert mode(tmp_path / "ck" / "sub" / "w.bin") == fmode


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "ck") as d:
            (d / "f").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_paths_place_all_or_nothing(tmp_path, umask):
    from selectbench.io import atomic_paths

    umask(0o002)
    a, b = tmp_path / "p" / "pool.parquet", tmp_path / "p" / "stats.json"
    with atomic_paths(a, b) as (ta, tb):
        ta.write_text("pool")
        tb.write_text("stats")
    assert a.read_text() == "pool" and b.read_text() == "stats" and mode(a) == mode(b) == 0o664
    with pytest.raises(RuntimeError):
        with atomic_paths(tmp_path / "q" / "x", tmp_path / "q" / "y") as (tx, ty):
            tx.write_text("half")
            raise RuntimeError("a check failed after the first file was written")
    assert list((tmp_path / "q").iterdir()) == []
    # a failure while moving into place removes what was already placed
    with pytest.raises(OSError):
        with atomic_paths(tmp_path / "r" / "x", tmp_path / "r" / "y") as (tx, ty):
            tx.write_text("x")
            ty.unlink()                 # the second move will fail
            (tmp_path / "r" / "y").mkdir()
            (tmp_path / "r" / "y" / "f").write_text("occupied")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["y"]


def test_code_files_follow_imports_not_the_whole_registry():
    length = code_files("selectbench.scoring.run", "selectbench.scoring.length")
    assert "selectbench/scoring/length.py" in length and "selectbench/scoring/base.py" in length
    assert "selectbench/pools/load.py" in length  # read_pool, re-exported by pools/__init__
    assert "selectbench/scoring/perplexity.py" not in length and "selectbench/scoring/rds.py" not in length
    rnd = code_files("selectbench.selection.run", "selectbench.selection.random")
    assert "selectbench/selection/random.py" in rnd and "selectbench/selection/kcenter.py" not in rnd
    ev = code_files("selectbench.evaluation.run")
    assert {"selectbench/evaluation/lmeval.py", "selectbench/evaluation/demo_tasks.py"} <= set(ev)
    assert all(len(h) == 16 for h in length.values())


def test_code_digest_ignores_comments_and_docstrings(tmp_path):
    from selectbench.provenance import code_digest

    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text('"""Doc."""\ndef f(x):\n    """Doc."""\n    return x + 1\n')
    b.write_text('"""Other doc."""\n\n# comment\ndef f(x):\n    return (x +\n            1)  # same code\n')
    c.write_text('def f(x):\n    return x + 2\n')
    assert code_digest(a) == code_digest(b) != code_digest(c)


def test_records_hash_inputs_and_reuse_recorded_hashes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("in.txt").write_text("a\n")
    Path("d").mkdir()
    Path("d/f1").write_text("1")
    Path("out.json").write_text("{}\n")
    rec = job_record(rule="r", wildcards={"w": "1"}, params={"seed": 1, "code": {"m.py": "ab"}}, threads=1,
                     log=["l.log"], inputs=["in.txt", "d"], outputs=["out.json"], script=None,
                     workflow_dir=str(Path(__file__).parent), started="s", finished="f", seconds=0.5)
    write_records(rec, ["out.json"])
    saved = json.loads(prov_path("out.json").read_text())
    assert saved["inputs"]["in.txt"]["sha256"] == content_hash("in.txt")
    assert saved["inputs"]["d"]["kind"] == "dir" and saved["inputs"]["d"]["sha256"] == content_hash("d")
    assert saved["job"]["params"]["seed"] == 1 and saved["code"]["files"] == {"m.py": "ab"}
    assert {"torch", "transformers", "peft", "lm_eval", "snakemake", "selectbench"} <= set(saved["versions"])
    assert saved["code"]["git"]["commit"] and isinstance(saved["code"]["git"]["dirty"], bool)
    assert saved["device"]["type"] in ("cpu", "cuda")
    # a consumer reuses the recorded hash while size + mtime match, and sees a content change
    assert describe("out.json")["sha256"] == saved["outputs"]["out.json"]["sha256"]
    Path("out.json").write_text('{"x": 2}\n')
    assert describe("out.json")["sha256"] == content_hash("out.json") != saved["outputs"]["out.json"]["sha256"]


class _Named(list):
    """A Snakemake-like named list: flat positional items, groups by attribute."""

    def __init__(self, **kw):
        super().__init__(x for v in kw.values() for x in (v if isinstance(v, list) else [v]))
        self._names = kw
        self.__dict__.update(kw)

    def items(self):
        return self._names.items()


def _job(tmp_path, **inputs):
    from types import SimpleNamespace

    out = tmp_path / "out.json"
    return out, SimpleNamespace(rule="r", wildcards=_Named(), params=_Named(), threads=1,
                                log=[str(tmp_path / "job.log")], input=_Named(**inputs), output=_Named(out=str(out)),
                                scriptdir=None)


def test_a_job_removes_its_outputs_old_records_first(tmp_path):
    """A job that fails (its outputs then removed by Snakemake) leaves no old record behind."""
    from selectbench.workflow import logged

    out, job = _job(tmp_path)
    out.write_text("{}")
    write_records({"old": True}, [out])
    with pytest.raises(ValueError), logged(job):
        raise ValueError("the job failed")
    assert not prov_path(out).exists()
    with logged(job):
        out.write_text("{}")
    assert json.loads(prov_path(out).read_text())["job"]["rule"] == "r"


def test_orphan_records_are_listed_and_removed(tmp_path):
    from selectbench.provenance import orphans, remove_orphans

    kept, gone, ddir = tmp_path / "a/kept.parquet", tmp_path / "a/b/gone.parquet", tmp_path / "a/ckpt"
    ddir.mkdir(parents=True)
    gone.parent.mkdir()
    for p in (kept, gone):
        p.write_text("x")
    write_records({}, [kept, gone, str(ddir) + "/"])
    gone.unlink()
    assert orphans(tmp_path) == [prov_path(gone)]
    assert remove_orphans(tmp_path) == [prov_path(gone)] and orphans(tmp_path) == []
    assert prov_path(kept).exists() and prov_path(ddir).exists()  # a directory output's record stays
    assert orphans(tmp_path / "nowhere") == []


def test_a_temporary_inputs_record_lives_on_in_its_consumers(tmp_path):
    """The score gather keeps its (temp) shards' records: the trace still reaches the shards' job."""
    from selectbench.audit import trace
    from selectbench.workflow import logged

    shard = tmp_path / "s.shards/0.parquet"
    shard.parent.mkdir()
    shard.write_text("rows")
    write_records(job_record(rule="score_shard", wildcards={}, params={}, threads=1, log=[], inputs=[],
                             outputs=[shard], script=None, workflow_dir=None, started="", finished="",
                             seconds=0.0), [shard])
    out, job = _job(tmp_path, shards=[str(shard)])
    with logged(job, inline_provenance=("shards",)):
        out.write_text("{}")
    shard.unlink()
    prov_path(shard).unlink()  # as Snakemake's temp() clean-up and the orphan sweep leave it
    (node,) = trace(str(out))["inputs"]
    assert node["rule"] == "score_shard" and node["status"] == "removed (temporary)"


def test_tidy_reads_lm_eval_n_samples_and_old_files(tmp_path):
    from selectbench.analysis.tidy import metric_rows

    res = {"t": {"acc,none": 0.5, "acc_stderr,none": 0.1}}
    new = metric_rows({"task": "t", "results": res, "n-samples": {"t": {"original": 20, "effective": 10}}})
    old = metric_rows({"task": "t", "results": res, "n_samples": {"t": {"original": 20, "effective": 7}}})
    assert new[0]["n"] == 10 and old[0]["n"] == 7


def test_moved_tasks_run_with_the_lm_eval_cli(tmp_path, tiny_model_dir):
    """Task YAMLs name their data relative to themselves: move the folder, run `lm_eval` elsewhere."""
    from selectbench.evaluation import write_local_tasks

    write_local_tasks("demo_tasks", tmp_path / "a" / "results" / "tasks", {"seed": 0, "n_per_task": 12})
    assert "/" not in (tmp_path / "a/results/tasks/demo_sentiment_mc.yaml").read_text().split("test: ")[1].split()[0]
    shutil.move(tmp_path / "a" / "results", tmp_path / "b")
    (tmp_path / "elsewhere").mkdir()
    res = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
         f"pretrained={tiny_model_dir},dtype=float32,add_bos_token=True", "--tasks", "demo_sentiment_mc",
         "--include_path", str(tmp_path / "b" / "tasks"), "--limit", "4", "--device", "cpu",
         "--batch_size", "4", "--output_path", str(tmp_path / "out")],
        cwd=tmp_path / "elsewhere", capture_output=True, text=True, env=ENV, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())
    assert out["n-samples"]["demo_sentiment_mc"]["effective"] == 4


def test_every_rule_that_runs_a_script_has_a_code_param():
    """Snakemake tracks a script by its mtime only: without a `code` param (hashes of the package
    modules the job imports) an edited module would not rerun the rule's jobs (mods_select had none)."""
    import re

    rules_dir = Path(__file__).resolve().parents[1] / "rules"
    missing = []
    for path in sorted(rules_dir.glob("*.smk")):
        for block in re.split(r"^(?=rule |use rule )", path.read_text(), flags=re.M):
            m = re.match(r"(?:use )?rule (\w+)", block)
            if m and "script:" in block and "code=" not in block:
                missing.append(f"{path.name}: rule {m.group(1)}")
    assert not missing, missing
