"""Fine-tuning on N devices of one node: DDP (default) or FSDP, launched by selectbench.

`finetune(..., processes=N)` with N > 1 writes the encoded examples and a job spec into
the job's scratch folder and starts N worker processes (``python -m
selectbench.training.distributed SPEC``) with the environment torchrun would set
(RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT): the transformers Trainer then runs
DDP (NCCL on GPUs, gloo on CPU) or FSDP2 (`preset.distributed: fsdp`, for full
fine-tuning of models whose weights + Adam state do not fit one device).

Why not torchrun: on SIGTERM its agent gives the workers 30 s before SIGKILL, less
than a large checkpoint takes to write; here SIGTERM is forwarded and the workers
finish their step and save (see `resume.py`), however long it takes.

The effective batch (per-device batch × devices × accumulation) equals the preset's
batch_size × grad_accum, so results do not depend on the device count: the
accumulation is divided by the devices first (fewer, same-sized micro-batches), then
the per-device batch. Multi-node training is out of scope.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

INTERRUPTED_RC = 75          # a worker stopped on SIGTERM after saving (EX_TEMPFAIL)


def split_batch(batch_size: int, grad_accum: int, processes: int) -> tuple[int, int]:
    """(per-device batch, accumulation steps) with per-device × processes × accumulation
    == batch_size × grad_accum; an error if the effective batch cannot be split evenly."""
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    a = math.gcd(grad_accum, processes)
    b = processes // a
    if batch_size % b:
        raise ValueError(
            f"the preset's effective batch (batch_size {batch_size} x grad_accum {grad_accum}) "
            f"cannot be split evenly over {processes} devices: make batch_size x grad_accum a "
            f"multiple of {processes} (e.g. grad_accum {processes * grad_accum // a})")
    return batch_size // b, grad_accum // a


def world() -> tuple[int, int]:
    """(rank, world size) of this process as the launcher set them."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _out(stream):
    try:
        stream.fileno()
        return stream
    except (AttributeError, OSError, ValueError):
        return None


def write_examples(train: list[dict], path) -> None:
    """Encoded examples as flat int arrays + offsets (columnar, one file)."""
    import numpy as np

    lengths = np.array([len(t["input_ids"]) for t in train], dtype=np.int64)
    np.savez(path, lengths=lengths,
             input_ids=np.concatenate([np.asarray(t["input_ids"], dtype=np.int64) for t in train]),
             loss_mask=np.concatenate([np.asarray(t["loss_mask"], dtype=np.int8) for t in train]))


def read_examples(path) -> list[dict]:
    import numpy as np

    z = np.load(path)
    ends = np.cumsum(z["lengths"])
    starts = ends - z["lengths"]
    ids, mask = z["input_ids"], z["loss_mask"]
    return [{"input_ids": ids[a:b].tolist(), "loss_mask": mask[a:b].tolist()} for a, b in zip(starts, ends)]


def launch(spec_path, processes: int, threads: int, grace_s: float = 600.0) -> None:
    """Run `processes` workers on one node; forward SIGTERM/SIGINT; raise if any fails."""
    from .resume import Interrupted

    port = _free_port()
    root = str(Path(__file__).resolve().parents[2])
    per = max(1, threads // processes)
    procs = []
    for rank in range(processes):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(processes),
                   RANK=str(rank), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(processes),
                   OMP_NUM_THREADS=str(per), MKL_NUM_THREADS=str(per),
                   PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        procs.append(subprocess.Popen([sys.executable, "-m", "selectbench.training.distributed", str(spec_path)],
                                      env=env, stdout=_out(sys.stdout), stderr=_out(sys.stderr)))

    def forward(signum, frame):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        failed_at = None
        while any(p.poll() is None for p in procs):
            if failed_at is None and any(p.returncode not in (None, 0) for p in procs):
                failed_at = time.monotonic()           # one stopped: the others may hang in a collective
                if any(p.returncode not in (None, 0, INTERRUPTED_RC) for p in procs):
                    forward(signal.SIGTERM, None)      # one died; a clean SIGTERM stop (75) reaches every
                                                       # rank at the same step, so they are saving too
                                                       # and are left to finish (grace_s, then killed)
            if failed_at is not None and time.monotonic() - failed_at > grace_s:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
            time.sleep(0.2)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    rcs = [p.returncode for p in procs]
    if all(rc == 0 for rc in rcs):
        return
    if INTERRUPTED_RC in rcs:
        raise Interrupted(f"training stopped on a signal after saving a checkpoint (worker exit codes {rcs}); "
                          "rerun to resume")
    raise RuntimeError(f"distributed fine-tuning failed: worker exit codes {rcs} (rank order); "
                       "see the log above for the failing rank's error")


def _worker(spec_path) -> int:
    from .finetune import Preset, train_examples
    from .resume import CheckpointPolicy, Interrupted

    spec = json.loads(Path(spec_path).read_text())
    try:
        train_examples(read_examples(spec["examples"]), spec["base"], Preset.from_config(spec["preset"]),
                       spec["seed"], spec["device"], spec["out_dir"], spec["loss_path"], spec["metrics_path"],
                       threads=spec["threads"], policy=CheckpointPolicy(**spec["policy"]),
                       processes=spec["processes"], scratch=spec["scratch"])
    except Interrupted as e:
        print(f"rank {world()[0]}: {e}", file=sys.stderr)
        return INTERRUPTED_RC
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1]))
