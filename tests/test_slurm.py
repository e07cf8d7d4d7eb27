"""`snakemake --profile slurm` on a real single-node SLURM (localhost, 2 fake GPUs), unmodified profile.

The only site input is what docs/cluster.md documents: SELECTBENCH_CPU_PARTITION /
SELECTBENCH_GPU_PARTITION. A 4-job chain (model build and perplexity scoring on the GPU
partition with `gpu=1`, pool normalisation and selection on the CPU partition) runs through
sbatch; the scoring job is cancelled with `scancel` while it runs, the next invocation reruns
it, and a third does nothing. Every daemon started is stopped afterwards (also on failure).
Installs the Debian packages with apt-get when missing (CI runs as root); skips when that is
impossible or SELECTBENCH_NO_SYSTEM_INSTALL is set (a workstation's `make test`). ~2–3 min on 2 cores.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from slurm_local import LocalSlurm, daemons_running, ensure_installed  # noqa: E402
from test_workflow import REPO, small_config  # noqa: E402

pytestmark = pytest.mark.slow

TARGET = "results/selections/demo/ppl_low/b40/s0.json"
GPU_RULES = {"build_model", "score"}
CPU_RULES = {"normalize_pool", "select"}
LOCAL_RULES = {"make_raw_pool"}


def slurm_config():
    cfg = small_config()
    cfg["pools"]["demo"]["rows"] = cfg["pools"]["demo"]["build"]["params"]["n_rows"] = 120
    cfg["methods"] = {k: cfg["methods"][k] for k in ("random", "ppl_low")}
    res = cfg["compute"]["resources"]
    # a real GPU request (fake gres devices: the computation itself stays on device cpu)
    for kind in ("build_model", "score"):
        res[kind].update(gpu=1, mem_mb=1000, runtime=10, threads=1)
    return cfg


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    with open(root / "install.log", "w") as log:
        why = ensure_installed(log)
    if why:
        pytest.skip(why)
    slurm = LocalSlurm(root)
    try:
        slurm.configure()
        slurm.start()
        yield slurm
    finally:
        slurm.stop()
        left = daemons_running(getattr(slurm, "stopped", []))
        assert not left, f"SLURM daemons still running after teardown: {left}"


def run_snakemake(wd, cfg_path, *args, timeout=420, background=False):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               SELECTBENCH_CPU_PARTITION="cpu", SELECTBENCH_GPU_PARTITION="gpu")
    # `timeout -k`: the executor plugin ignores SIGTERM while it waits for jobs
    cmd = ["timeout", "-k", "20", str(timeout), sys.executable, "-m", "snakemake", TARGET,
           "--snakefile", str(REPO / "Snakefile"), "--profile", str(REPO / "slurm"),
           "--configfile", str(cfg_path), *args]
    log = open(wd / f"snakemake-{time.time():.0f}.log", "w")
    proc = subprocess.Popen(cmd, cwd=wd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    if background:
        return proc, log.name
    rc = proc.wait()
    log.close()
    return rc, Path(log.name).read_text()


def sacct():
    """Every job SLURM ran: id → (name, partition, requested TRES, state)."""
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-S", "now-1hour", "-o", "JobID,Comment,Partition,ReqTRES,State"],
                         capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        jid, comment, part, tres, state = line.split("|")
        rows[jid] = dict(comment=comment, partition=part, tres=tres, state=state.split()[0])
    return rows


def slurm_logs(wd):
    """logs/slurm/<rule>/<wildcards>/<jobid>.log → [(rule, jobid)] (the profile keeps every log)."""
    return [(p.relative_to(wd / "logs/slurm").parts[0].removeprefix("rule_"), p.stem)
            for p in sorted((wd / "logs/slurm").rglob("*.log"))]


def wait_running(rule, proc, log, timeout=300):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError(f"snakemake exited ({proc.returncode}) before rule {rule} ran:\n"
                                 f"{Path(log).read_text()[-4000:]}")
        out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            jid, comment = line.split("|", 1)
            if comment.startswith(f"rule_{rule}_"):
                return jid
        time.sleep(1)
    raise TimeoutError(f"no running SLURM job of rule {rule} within {timeout} s")


def test_profile_runs_on_slurm(cluster, tmp_path):
    t0 = time.time()
    wd = tmp_path
    cfg_path = wd / "slurm.yaml"
    cfg_path.write_text(yaml.safe_dump(slurm_config()))

    # 1st run: cancel the (GPU) scoring job while it runs → snakemake stops with an error
    proc, log1 = run_snakemake(wd, cfg_path, background=True)
    cancelled = wait_running("score", proc, log1)
    time.sleep(3)
    subprocess.run(["scancel", cancelled], check=True)
    rc = proc.wait(timeout=420)
    text1 = Path(log1).read_text()
    assert rc != 0, f"snakemake did not notice the cancelled job {cancelled}:\n{text1[-3000:]}"
    assert not (wd / "results/scores/demo/perplexity/tiny.parquet").exists()

    # 2nd run: reruns the cancelled job and finishes
    rc, text2 = run_snakemake(wd, cfg_path)
    assert rc == 0, text2[-5000:]
    assert json.loads((wd / TARGET).read_text())["n_selected"] == 40

    # 3rd run: nothing to do
    rc, text3 = run_snakemake(wd, cfg_path, timeout=180)
    assert rc == 0 and "Nothing to be done" in text3, text3[-3000:]

    # every non-local job went through sbatch: one kept SLURM log and one accounting record each
    jobs = sacct()
    logs = slurm_logs(wd)
    by_rule = {}
    for rule, jid in logs:
        assert jid in jobs, f"SLURM log {rule}/{jid} has no accounting record"
        by_rule.setdefault(rule, []).append(jid)
    assert set(by_rule) == GPU_RULES | CPU_RULES, by_rule
    assert len(by_rule["score"]) == 2 and cancelled in by_rule["score"]
    assert jobs[cancelled]["state"] == "CANCELLED"
    for rule, jids in by_rule.items():
        done = [j for j in jids if jobs[j]["state"] == "COMPLETED"]
        assert len(done) == 1, (rule, [jobs[j] for j in jids])
        for j in jids:
            job = jobs[j]
            assert job["comment"].startswith(f"rule_{rule}"), job
            if rule in GPU_RULES:
                assert job["partition"] == "gpu" and "gres/gpu=1" in job["tres"], (rule, job)
            else:
                assert job["partition"] == "cpu" and "gpu" not in job["tres"], (rule, job)
    # local rules ran in the main process, not through sbatch
    assert not LOCAL_RULES & set(by_rule)
    assert re.search(r"localrule make_raw_pool", text1)
    print(f"SLURM workflow test: {time.time() - t0:.0f} s, jobs {sorted(jobs)}")
