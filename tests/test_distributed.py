"""Fine-tuning on N processes (DDP over gloo on CPU here; NCCL on GPUs) with the preset's
effective batch, also resumed after a SIGTERM: the loss curve and the adapter agree with one process to float
reduction-order error (gradients are all-reduced and the token-count normaliser is
summed across ranks, so the arithmetic is the same up to summation order)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from selectbench.training import Preset, finetune
from selectbench.training.distributed import split_batch
from selectbench.training.resume import MARKER

REPO = Path(__file__).resolve().parents[1]

LORA = dict(peft="lora", learning_rate=5e-3, epochs=1, batch_size=4, grad_accum=1, max_length=128, lora_r=4,
            lora_alpha=8, lora_dropout=0.0, target_modules=("q_proj", "v_proj"), precision="fp32")
# tolerance: fp32, sums over 2 ranks vs 1 in another order; measured max |Δloss| ~1e-6
LOSS_RTOL, WEIGHT_ATOL = 1e-4, 1e-5


def test_split_batch_keeps_the_effective_batch():
    assert split_batch(8, 1, 1) == (8, 1)
    assert split_batch(8, 1, 2) == (4, 1)
    assert split_batch(4, 4, 2) == (4, 2)          # fewer accumulation steps first
    assert split_batch(6, 2, 4) == (3, 1)
    for b, a, n in ((8, 1, 2), (4, 4, 2), (6, 2, 4), (16, 2, 8)):
        pb, pa = split_batch(b, a, n)
        assert pb * n * pa == b * a
    with pytest.raises(ValueError, match="cannot be split evenly over 4 devices"):
        split_batch(3, 1, 4)


def many(conversations, n):
    out = []
    for k in range(n):
        for c in conversations:
            c = [dict(m) for m in c]
            c[-1]["content"] = c[-1]["content"] + " more" * k
            out.append(c)
    return out


def run(tmp, model, convs, preset, processes, name):
    out = tmp / name
    pool = pd.DataFrame({"id": [f"e{i}" for i in range(len(convs))], "messages": convs})
    m = finetune(pool, list(pool["id"]), {"name_or_path": model}, Preset(**preset), 0, "cpu", out / "model",
                 out / "loss.csv", out / "metrics.json", threads=2, processes=processes)
    return out, m


SLOW_WORKERS = """
import os, time
if os.environ.get("RANK") is not None:      # launcher workers only: slow each optimizer step
    import torch
    _step = torch.optim.AdamW.step
    def step(self, *a, **k):
        time.sleep(0.3)
        return _step(self, *a, **k)
    torch.optim.AdamW.step = step
"""
DRIVER = """
import json, sys
import pandas as pd
from selectbench.training import Preset, finetune
a = json.loads(open(sys.argv[1]).read())
pool = pd.DataFrame({"id": [f"e{i}" for i in range(len(a["convs"]))], "messages": a["convs"]})
finetune(pool, list(pool["id"]), {"name_or_path": a["model"]}, Preset.from_config(a["preset"]), 0, "cpu",
         a["out"] + "/model", a["out"] + "/loss.csv", a["out"] + "/metrics.json", threads=2, processes=2,
         checkpointing={"every_steps": 2, "every_minutes": 0})
"""


@pytest.mark.slow   # two torchrun processes, twice (make test-fast skips it)
def test_two_processes_match_one_also_after_sigterm_and_resume(tmp_path, tiny_model_dir, conversations):
    """2 processes vs 1; the 2-process run gets SIGTERM mid-training (both ranks save and
    exit 75, the launcher raises), and the rerun resumes on 2 processes."""
    convs = many(conversations, 8)                  # 24 examples: 6 steps of effective batch 4
    preset = dict(LORA, epochs=2)
    one, m1 = run(tmp_path, tiny_model_dir, convs, preset, 1, "one")

    two = tmp_path / "two"
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "sitecustomize.py").write_text(SLOW_WORKERS)
    (tmp_path / "driver.py").write_text(DRIVER)
    (tmp_path / "spec.json").write_text(json.dumps({"convs": convs, "model": tiny_model_dir, "out": str(two),
                                                    "preset": {k: list(v) if isinstance(v, tuple) else v
                                                               for k, v in preset.items()}}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "slow"), str(REPO)]))
    proc = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "spec.json")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not list((two / "model.resume").glob(f"checkpoint-*/{MARKER}")):
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.time() - t0 < 300
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "worker exit codes [75, 75]" in err, err[-3000:]
    assert not (two / "metrics.json").exists()

    _, m2 = run(tmp_path, tiny_model_dir, convs, preset, 2, "two")
    assert m2["resumed_from_step"] > 0
    assert m2["processes"] == 2 and m2["per_device_batch"] == 2 and m2["effective_batch"] == m1["effective_batch"] == 4
    assert json.loads((two / "metrics.json").read_text())["steps"] == m1["steps"] == 12
    l1, l2 = pd.read_csv(one / "loss.csv"), pd.read_csv(two / "loss.csv")
    assert l1["step"].tolist() == l2["step"].tolist()
    assert l1["learning_rate"].tolist() == l2["learning_rate"].tolist()
    assert (abs(l1["loss"] - l2["loss"]) <= LOSS_RTOL * l1["loss"].abs()).all(), (l1, l2)
    w1, w2 = (load_file(str(d / "model" / "adapter_model.safetensors")) for d in (one, two))
    assert w1.keys() == w2.keys()
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) <= WEIGHT_ATOL
    assert m2["tokens_seen"] == m1["tokens_seen"]
    # each rank pads its own half-batch: never more padding than one process
    assert m2["padding_counted_tokens"] <= m1["padding_counted_tokens"]
    assert not (two / "model.resume").exists()


def test_uneven_split_fails_before_training(tmp_path, tiny_model_dir, conversations):
    with pytest.raises(ValueError, match="cannot be split evenly over 3 devices"):
        run(tmp_path, tiny_model_dir, conversations, dict(LORA, batch_size=2), 3, "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.slow   # two torchrun processes (make test-fast skips it)
def test_fsdp_full_finetune_two_processes_match_one(tmp_path, tiny_model_dir, conversations):
    """FSDP2 (weights, gradients and Adam state sharded) saves the full model on rank 0."""
    convs = many(conversations, 4)                  # 12 examples: 3 steps of effective batch 4
    preset = dict(peft="full", learning_rate=1e-3, epochs=1, batch_size=4, max_length=128, precision="fp32")
    one, m1 = run(tmp_path, tiny_model_dir, convs, preset, 1, "one")
    two, m2 = run(tmp_path, tiny_model_dir, convs, dict(preset, distributed="fsdp"), 2, "two")
    assert m2["distributed"] == "fsdp" and m2["steps"] == m1["steps"] == 3
    l1, l2 = pd.read_csv(one / "loss.csv"), pd.read_csv(two / "loss.csv")
    assert (abs(l1["loss"] - l2["loss"]) <= LOSS_RTOL * l1["loss"].abs()).all(), (l1, l2)
    w1, w2 = (load_file(str(d / "model" / "model.safetensors")) for d in (one, two))
    assert w1.keys() == w2.keys()
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) <= WEIGHT_ATOL
    assert sorted(p.name for p in (two / "model").iterdir()) == sorted(p.name for p in (one / "model").iterdir())
