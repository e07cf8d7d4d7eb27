"""Resumable training: a fine-tune / warm-up killed mid-run (SIGKILL, or SIGTERM as SLURM
sends before a time-limit kill) resumes from its newest complete checkpoint and ends
exactly where an uninterrupted run ends (CPU, fp32, deterministic kernels: the loss
curve and the trained weights are compared for equality, not within a tolerance)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import load_file

from selectbench.training import Preset, finetune
from selectbench.training.resume import MARKER, CheckpointPolicy, latest_complete
from selectbench.training.warmup import warmup

REPO = Path(__file__).resolve().parents[1]
# LoRA dropout on: the resumed run must also restore the RNG that draws the dropout masks
LORA = dict(peft="lora", learning_rate=5e-3, epochs=2, batch_size=2, max_length=128, lora_r=4, lora_alpha=8,
            lora_dropout=0.1, target_modules=("q_proj", "v_proj"), precision="fp32", warmup_ratio=0.1)
OFF = {"every_steps": 0, "every_minutes": 0}


def pool_of(convs):
    return pd.DataFrame({"id": [f"e{i}" for i in range(len(convs))], "messages": convs})


def many(conversations, n=8):
    """3·n conversations of different lengths (enough steps to kill a run in the middle)."""
    out = []
    for k in range(n):
        for c in conversations:
            c = [dict(m) for m in c]
            c[-1]["content"] = c[-1]["content"] + " more" * k
            out.append(c)
    return out


DRIVER = textwrap.dedent("""
    import json, sys, time
    import pandas as pd
    from selectbench.training import Preset, finetune
    from selectbench.training.warmup import warmup

    a = json.loads(open(sys.argv[1]).read())
    # slow each optimizer step down (not the arithmetic) so the test can kill the run in the middle
    import torch
    orig_step = torch.optim.AdamW.step
    def slow_step(self, *x, **k):
        time.sleep(0.1)
        return orig_step(self, *x, **k)
    torch.optim.AdamW.step = slow_step
    pool = pd.DataFrame({"id": [f"e{i}" for i in range(len(a["convs"]))], "messages": a["convs"]})
    ids = [f"e{i}" for i in range(len(a["convs"]))]
    preset = Preset.from_config(a["preset"])
    if a["what"] == "finetune":
        finetune(pool, ids, {"name_or_path": a["model"]}, preset, 0, "cpu", a["out"] + "/model",
                 a["out"] + "/loss.csv", a["out"] + "/metrics.json", checkpointing=a["ck"])
    else:
        warmup(pool, ids, {"name_or_path": a["model"]}, preset, 0, "cpu", a["out"] + "/warm", checkpointing=a["ck"])
""")


def start(tmp, what, model, convs, preset, ck):
    spec = tmp / f"{what}-spec.json"
    spec.write_text(json.dumps({"what": what, "model": model, "convs": convs, "out": str(tmp / "run"),
                                "preset": {k: list(v) if isinstance(v, tuple) else v for k, v in preset.items()},
                                "ck": ck}))
    (tmp / "driver.py").write_text(DRIVER)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(tmp / "driver.py"), str(spec)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(proc, scratch, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"training ended before a checkpoint appeared:\n{proc.stderr.read()[-3000:]}")
        if list(scratch.glob(f"checkpoint-*/{MARKER}")):
            return
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("no checkpoint within the timeout")


def reference(tmp, model, convs, preset):
    out = tmp / "ref"
    m = finetune(pool_of(convs), [f"e{i}" for i in range(len(convs))], {"name_or_path": model}, Preset(**preset), 0,
                 "cpu", out / "model", out / "loss.csv", out / "metrics.json", checkpointing=OFF)
    return out, m


def same_adapter(a, b):
    wa, wb = load_file(str(a / "adapter_model.safetensors")), load_file(str(b / "adapter_model.safetensors"))
    return wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)


@pytest.mark.parametrize("sig,group", [(signal.SIGKILL, False), (signal.SIGTERM, True)])
def test_finetune_killed_resumes_and_matches_uninterrupted(tmp_path, tiny_model_dir, conversations, sig, group):
    convs = many(conversations)
    preset = dict(LORA, group_by_length=group)
    ref, mref = reference(tmp_path, tiny_model_dir, convs, preset)
    assert mref["resumed_from_step"] is None and mref["steps"] == 24

    ck = {"every_steps": 3, "every_minutes": 0}
    scratch = tmp_path / "run" / "model.resume"
    proc = start(tmp_path, "finetune", tiny_model_dir, convs, preset, ck)
    wait_for_checkpoint(proc, scratch)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:                                   # saved a checkpoint and exited non-zero
        assert proc.returncode not in (0, None) and "stopped on SIGTERM" in err, err[-3000:]
    assert not (tmp_path / "run" / "metrics.json").exists() and not (tmp_path / "run" / "model").exists()
    last = latest_complete(scratch)
    assert last is not None and 0 < json.loads((last / MARKER).read_text())["step"] < 24

    out = tmp_path / "run"
    m = finetune(pool_of(convs), [f"e{i}" for i in range(len(convs))], {"name_or_path": tiny_model_dir},
                 Preset(**preset), 0, "cpu", out / "model", out / "loss.csv", out / "metrics.json", checkpointing=ck)
    assert m["resumed_from_step"] > 0 and m["steps"] == 24
    assert (out / "loss.csv").read_text() == (ref / "loss.csv").read_text()
    assert same_adapter(out / "model", ref / "model")
    assert m["train_loss"] == mref["train_loss"]
    assert not scratch.exists()


def test_stale_scratch_of_another_configuration_is_discarded(tmp_path, tiny_model_dir, conversations):
    convs = many(conversations, 2)
    out = tmp_path / "run"
    ck = CheckpointPolicy(every_steps=1, every_minutes=0)
    scratch = ck.scratch_for(out / "model")
    (scratch / "checkpoint-2").mkdir(parents=True)
    (scratch / "checkpoint-2" / MARKER).write_text('{"step": 2, "wall_s": 1}')
    (scratch / "job.json").write_text('{"fingerprint": "another job"}')
    m = finetune(pool_of(convs), [f"e{i}" for i in range(len(convs))], {"name_or_path": tiny_model_dir},
                 Preset(**LORA), 0, "cpu", out / "model", out / "loss.csv", out / "metrics.json", checkpointing=ck)
    assert m["resumed_from_step"] is None and not scratch.exists()


def test_incomplete_checkpoint_is_ignored(tmp_path):
    s = tmp_path / "x.resume"
    for step, complete in ((2, True), (4, True), (6, False)):
        (s / f"checkpoint-{step}").mkdir(parents=True)
        if complete:
            (s / f"checkpoint-{step}" / MARKER).write_text("{}")
    assert latest_complete(s).name == "checkpoint-4"
    assert not (s / "checkpoint-6").exists()
    assert latest_complete(tmp_path / "none") is None


def test_scratch_location(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert CheckpointPolicy().scratch_for("results/a/model") == Path("results/a/model.resume")
    p = CheckpointPolicy(scratch_dir="/scratch/me").scratch_for("results/a/model")
    assert p == Path("/scratch/me/results/a/model.resume")
    with pytest.raises(ValueError, match="unknown checkpointing key"):
        CheckpointPolicy.from_config({"every_step": 3})


def test_warmup_sigterm_resumes_and_matches_uninterrupted(tmp_path, tiny_model_dir, conversations):
    convs = many(conversations)
    preset = dict(LORA, epochs=2)
    ids = [f"e{i}" for i in range(len(convs))]
    ref = warmup(pool_of(convs), ids, {"name_or_path": tiny_model_dir}, Preset(**preset), 0, "cpu",
                 tmp_path / "ref", checkpointing=OFF)
    ck = {"every_steps": 3, "every_minutes": 0}
    proc = start(tmp_path, "warmup", tiny_model_dir, convs, preset, ck)
    scratch = tmp_path / "run" / "warm.resume"
    wait_for_checkpoint(proc, scratch)
    time.sleep(1.0)        # past the first epoch boundary most likely; either way it must resume
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode not in (0, None) and "stopped on SIGTERM" in err, err[-3000:]
    assert not (tmp_path / "run" / "warm").exists()

    got = warmup(pool_of(convs), ids, {"name_or_path": tiny_model_dir}, Preset(**preset), 0, "cpu",
                 tmp_path / "run" / "warm", checkpointing=ck)
    assert got["resumed_from_step"] > 0
    drop = {"wall_s", "resumed_from_step"}
    assert {k: v for k, v in got.items() if k not in drop} == {k: v for k, v in ref.items() if k not in drop}
    for e in ref["checkpoints"]:
        a, b = tmp_path / "ref" / e, tmp_path / "run" / "warm" / e
        assert same_adapter(a, b)
        oa, ob = load_file(str(a / "optimizer_state.safetensors")), load_file(str(b / "optimizer_state.safetensors"))
        assert all((oa[k] == ob[k]).all() for k in oa)
    assert not scratch.exists()
