"""Through `snakemake` as a user runs it: a fine-tune job killed with SIGKILL (as a lost node
or preemption kills a cluster job) fails the run; the next invocation resumes it from its
checkpoint in `<model>.resume/` (Snakemake removed the job's outputs, not that folder);
`gpu: 2` trains on 2 processes."""

import json
import os
import signal
import subprocess
import time

import pandas as pd
import psutil
import pytest
import yaml

from test_workflow import SNAKEMAKE, REPO, small_config, snakemake

pytestmark = pytest.mark.slow
UNIT = "results/checkpoints/demo/tiny/lora/{method}/b40/s0"


def test_killed_finetune_job_resumes_on_rerun_and_gpu_2_runs_two_processes(tmp_path):
    cfg = small_config()
    cfg["methods"] = {k: cfg["methods"][k] for k in ("random", "balanced")}
    cfg["finetune"]["presets"]["lora"].update(epochs=3, batch_size=1)       # 120 steps
    cfg["compute"]["checkpointing"] = {"every_steps": 5, "every_minutes": 0}
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    unit = tmp_path / UNIT.format(method="random")
    target = f"{UNIT.format(method='random')}/metrics.json"

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    cmd = SNAKEMAKE + ["--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                       "--configfile", str(cfg_path), "--cores", "2", target]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    scratch = unit / "model.resume"
    t0 = time.time()
    while not list(scratch.glob("checkpoint-*/selectbench_complete.json")):
        assert proc.poll() is None, "snakemake ended before the fine-tune saved a checkpoint"
        assert time.time() - t0 < 900, "no checkpoint within 15 minutes"
        time.sleep(0.05)
    job = [p for p in psutil.Process(proc.pid).children(recursive=True)
           if any("finetune" in a for a in p.cmdline())]
    assert job, "no fine-tune job process under snakemake"
    for p in job:
        p.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=300) != 0           # the job failed, snakemake stops
    assert not (unit / "metrics.json").exists()

    snakemake(tmp_path, cfg_path, target)
    m = json.loads((unit / "metrics.json").read_text())
    assert m["resumed_from_step"] >= 5 and m["steps"] == 120
    assert len(pd.read_csv(unit / "loss.csv")) == 120
    assert "resuming from" in (tmp_path / "logs/checkpoints/demo/tiny/lora/random/b40/s0.log").read_text()
    assert not scratch.exists()

    cfg["compute"]["resources"]["finetune"].update(gpu=2, threads=2)
    cfg["finetune"]["presets"]["lora"].update(epochs=1, batch_size=4)
    cfg_path.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, cfg_path, f"{UNIT.format(method='balanced')}/metrics.json")
    m2 = json.loads((tmp_path / UNIT.format(method="balanced") / "metrics.json").read_text())
    assert m2["processes"] == 2 and m2["per_device_batch"] == 2 and m2["effective_batch"] == 4
