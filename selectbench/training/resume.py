"""Resumable training: periodic checkpoints in a scratch folder, resume, SIGTERM.

A training job keeps its resume state in a scratch folder tied to its declared output:
``<output>.resume/`` beside it (Snakemake removes a failed job's declared outputs,
not this sibling), or ``<scratch_dir>/<output path>.resume/`` when a scratch root is
configured (a fast shared file system: a resumed job may run on another node).

- Fine-tuning uses the transformers Trainer's own checkpoints (model or adapter,
  optimizer, scheduler, RNG states, trainer state; data order is restored by the
  Trainer skipping the batches it already trained on, from a sampler seeded by
  seed + epoch). A checkpoint counts only once it is complete: `ResumeCallback`
  writes ``selectbench_complete.json`` into it after the Trainer has written every
  file, and then deletes older checkpoints. A checkpoint without the marker (a job
  killed while writing it) is ignored and removed.
- A SIGTERM (what SLURM sends before a time-limit kill or preemption) sets a flag;
  at the end of the current optimizer step the callback asks the Trainer to save
  and stop, and training raises `Interrupted` (the job exits non-zero, so the
  workflow reruns it, and the rerun resumes).
- On success the caller removes the scratch folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MARKER = "selectbench_complete.json"
PREFIX = "checkpoint-"


class Interrupted(RuntimeError):
    """Training stopped on SIGTERM after saving a checkpoint; rerun to resume."""


@dataclass(frozen=True)
class CheckpointPolicy:
    """When to save resume checkpoints (0 disables that trigger) and where."""

    every_steps: int = 0
    every_minutes: float = 30.0
    scratch_dir: str | None = None

    @classmethod
    def from_config(cls, d: dict | None) -> "CheckpointPolicy":
        d = dict(d or {})
        unknown = set(d) - {"every_steps", "every_minutes", "scratch_dir"}
        if unknown:
            raise ValueError(f"unknown checkpointing key(s) {sorted(unknown)}; "
                             "allowed: every_steps, every_minutes, scratch_dir")
        return cls(every_steps=int(d.get("every_steps", 0) or 0),
                   every_minutes=float(d.get("every_minutes", 30.0) or 0.0),
                   scratch_dir=d.get("scratch_dir"))

    @property
    def enabled(self) -> bool:
        return self.every_steps > 0 or self.every_minutes > 0

    def scratch_for(self, output) -> Path:
        """The resume folder of a job whose (main) declared output is `output`."""
        out = Path(output)
        if self.scratch_dir is None:
            return out.parent / f"{out.name}.resume"
        rel = Path(os.path.relpath(out.resolve(), Path.cwd().resolve()))
        if rel.parts and rel.parts[0] == "..":
            rel = Path(*out.resolve().parts[1:])
        return Path(self.scratch_dir) / rel.parent / f"{rel.name}.resume"


def _step_of(path: Path) -> int:
    try:
        return int(path.name[len(PREFIX):])
    except ValueError:
        return -1


def latest_complete(scratch) -> Path | None:
    """The newest checkpoint in `scratch` carrying the completeness marker; incomplete
    ones (no marker) are removed."""
    scratch = Path(scratch)
    if not scratch.is_dir():
        return None
    best = None
    for ck in sorted((p for p in scratch.glob(f"{PREFIX}*") if p.is_dir() and _step_of(p) >= 0), key=_step_of):
        if (ck / MARKER).exists():
            best = ck
        else:
            shutil.rmtree(ck, ignore_errors=True)
    return best


def mark_complete(checkpoint, info: dict) -> None:
    """Write the completeness marker (durably, last) and delete every older checkpoint."""
    ck = Path(checkpoint)
    tmp = ck / f".{MARKER}.tmp"
    with open(tmp, "w") as fh:
        json.dump(info, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, ck / MARKER)
    for old in ck.parent.glob(f"{PREFIX}*"):
        if old != ck and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def marker_of(checkpoint) -> dict:
    return json.loads((Path(checkpoint) / MARKER).read_text())


class _Flag:
    def __init__(self):
        self.set = False
        self.signum = None


@contextmanager
def sigterm_flag():
    """Within the block, SIGTERM sets the yielded flag instead of killing the process
    (the previous handler is restored on exit)."""
    flag = _Flag()

    def handler(signum, frame):
        flag.set, flag.signum = True, signum

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:          # not the main thread: leave signals alone
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


def _barrier():
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()
    except ImportError:
        pass


def _any_rank(flag: bool) -> bool:
    """True on every rank if `flag` is true on any (SIGTERM may reach ranks at different steps)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def resume_callback(policy: CheckpointPolicy, flag: _Flag, wall_before: float = 0.0):
    """A TrainerCallback: saves every N steps / minutes, on SIGTERM saves and stops,
    marks complete checkpoints and keeps only the newest."""
    from transformers import TrainerCallback

    class ResumeCallback(TrainerCallback):
        def __init__(self):
            self.last_save = time.monotonic()
            self.t0 = time.monotonic()
            self.stopped_on_signal = False

        def on_step_end(self, args, state, control, **kwargs):
            by_steps = policy.every_steps > 0 and state.global_step % policy.every_steps == 0
            by_time = policy.every_minutes > 0 and time.monotonic() - self.last_save >= 60 * policy.every_minutes
            # decide on every rank alike (time and signals differ between processes)
            by_time = _any_rank(by_time)
            if _any_rank(flag.set):
                self.stopped_on_signal = True
                control.should_save = True
                control.should_training_stop = True
            elif (by_steps or by_time) and state.global_step < state.max_steps:
                control.should_save = True
            return control

        def on_save(self, args, state, control, **kwargs):
            self.last_save = time.monotonic()
            _barrier()      # every rank has written its part of the checkpoint
            if state.is_world_process_zero:
                mark_complete(Path(args.output_dir) / f"{PREFIX}{state.global_step}",
                              {"step": state.global_step, "epoch": state.epoch,
                               "wall_s": wall_before + time.monotonic() - self.t0})
            _barrier()
            return control

    return ResumeCallback()
