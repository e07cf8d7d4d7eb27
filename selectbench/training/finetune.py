"""Supervised fine-tuning on a selection: transformers Trainer + peft LoRA (or full).

Resumable (see `resume.py`: periodic checkpoints in `<output>.resume/`, SIGTERM saves
and stops), on N devices with DDP or FSDP (see `distributed.py`: the preset's
effective batch is kept), with optional length-grouped batches (`group_by_length`,
transformers' grouping: the shuffled examples are cut into mega-batches of
min(50, n // (4 · effective batch)) effective batches, each sorted by length, so a
batch holds examples of similar length; the order is seeded by seed + epoch so a
resumed run, and a run on any device count, sees the same batches).

Loss on assistant tokens only (`formatting.encode` masks), seeds fixed (the LoRA
init draws from the global RNG, so we seed before `get_peft_model`), precision
bf16 on GPUs that support it. FLOPs are estimated with the RDS+ paper's model:
6 · N · (tokens processed), N = all parameters of the base model (a LoRA backward
still runs through the frozen weights); the Trainer's own `total_flos` is kept too.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..formatting import encode_many
from ..io import atomic_dir, atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class Preset:
    peft: str
    learning_rate: float
    epochs: float
    batch_size: int
    max_length: int
    grad_accum: int = 1
    lr_scheduler: str = "linear"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    lora_r: int | None = None
    lora_alpha: float | None = None
    lora_dropout: float | None = None
    target_modules: tuple = field(default_factory=tuple)
    precision: str = "auto"
    gradient_checkpointing: bool = False
    group_by_length: bool = False
    distributed: str = "ddp"

    @classmethod
    def from_config(cls, d: dict) -> "Preset":
        d = dict(d)
        if "target_modules" in d:
            d["target_modules"] = tuple(d["target_modules"])
        return cls(**d)


class _Collator:
    """Right-pads a batch; labels are -100 outside the loss mask and on padding."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id
        self.real_tokens = 0     # counted over every batch built (padding fraction)
        self.batch_tokens = 0

    def __call__(self, feats):
        import torch

        width = max(len(f["input_ids"]) for f in feats)
        self.real_tokens += sum(len(f["input_ids"]) for f in feats)
        self.batch_tokens += width * len(feats)
        ids = torch.full((len(feats), width), self.pad_id, dtype=torch.long)
        attn = torch.zeros_like(ids)
        labels = torch.full_like(ids, -100)
        for i, f in enumerate(feats):
            n = len(f["input_ids"])
            x = torch.tensor(f["input_ids"])
            ids[i, :n], attn[i, :n] = x, 1
            m = torch.tensor(f["loss_mask"], dtype=torch.bool)
            labels[i, :n] = torch.where(m, x, torch.full_like(x, -100))
        return {"input_ids": ids, "attention_mask": attn, "labels": labels}


def messages_of(pool, ids: list[str], what: str) -> list:
    """The conversations of `ids`, in that order; an id missing from the pool is an error."""
    by_id = dict(zip(pool["id"].astype(str), pool["messages"]))
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise KeyError(f"{len(missing)} {what} ids are not in the pool, e.g. '{missing[0]}'")
    return [by_id[i] for i in ids]


def _seed_everything(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)


def save_adapter(model, ref, out_dir) -> None:
    """`save_pretrained`, with a peft adapter's base model recorded so that it loads from any
    working directory (`AutoPeftModelForCausalLM.from_pretrained(out_dir)`, `PeftModel`):
    an absolute path for a local base model, the hub name + revision otherwise."""
    portable = ref.portable()
    for cfg in (getattr(model, "peft_config", None) or {}).values():
        cfg.base_model_name_or_path = portable.name_or_path
        cfg.revision = portable.revision
    model.save_pretrained(out_dir)


class _SeededLengthGroupedSampler:
    """transformers' length grouping (mega-batches of 50 groups sorted by length, the
    longest group first) with a generator seeded by seed + epoch: the same order in a
    fresh and in a resumed run, on any device count (`group` is the effective batch)."""

    def __init__(self, lengths: list[int], group: int, seed: int):
        self.lengths, self.group, self.seed, self.epoch = list(lengths), int(group), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.lengths)

    def __iter__(self):
        import torch
        from transformers.trainer_pt_utils import get_length_grouped_indices

        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.group, generator=g))


def _fingerprint(train: list[dict], base: dict, preset: Preset, seed: int, processes: int) -> str:
    import hashlib

    h = hashlib.sha256(json.dumps({"base": base, "preset": {k: list(v) if isinstance(v, tuple) else v
                                                             for k, v in preset.__dict__.items()},
                                   "seed": seed, "processes": processes}, sort_keys=True).encode())
    import numpy as np

    for t in train:
        h.update(np.asarray(t["input_ids"], dtype=np.int64).tobytes())
        h.update(np.asarray(t["loss_mask"], dtype=np.int8).tobytes())
        h.update(b"|")
    return h.hexdigest()


def _prepare_scratch(scratch: Path, fingerprint: str, log) -> None:
    """Keep a scratch folder only if it belongs to this very job (same data, preset, seed, devices)."""
    stamp = scratch / "job.json"
    if scratch.exists():
        try:
            same = json.loads(stamp.read_text())["fingerprint"] == fingerprint
        except (OSError, ValueError, KeyError):
            same = False
        if not same:
            log.warning("%s: resume state of a different job configuration; starting afresh", scratch)
            shutil.rmtree(scratch)
    if not scratch.exists():
        scratch.mkdir(parents=True)
        atomic_write_text(json.dumps({"fingerprint": fingerprint}) + "\n", stamp)


def finetune(pool, selected_ids: list[str], base: dict, preset: Preset, seed: int, device: str,
             out_dir, loss_path, metrics_path, threads: int = 1, checkpointing=None,
             processes: int = 1) -> dict:
    """Train on `selected_ids` of `pool`; write checkpoint dir, loss curve CSV, metrics JSON.

    `checkpointing`: a `CheckpointPolicy` or its config dict (None: defaults) — resume
    state goes to `policy.scratch_for(out_dir)`, removed on success. `processes` > 1:
    one worker per device (see `distributed.py`).
    """
    from ..modeling import ModelRef, load_tokenizer
    from .distributed import split_batch
    from .resume import CheckpointPolicy, latest_complete

    policy = checkpointing if isinstance(checkpointing, CheckpointPolicy) else CheckpointPolicy.from_config(checkpointing)
    split_batch(preset.batch_size, preset.grad_accum, processes)       # fail early on an uneven split
    if preset.distributed not in ("ddp", "fsdp"):
        raise ValueError(f"preset distributed must be 'ddp' or 'fsdp', got '{preset.distributed}'")
    tok = load_tokenizer(ModelRef(**base))
    enc = encode_many(tok, messages_of(pool, selected_ids, "selected"), preset.max_length)
    empty = [i for i, e in zip(selected_ids, enc) if e.n_response == 0]
    if empty:
        raise ValueError(f"{len(empty)} selected examples have no response token within "
                         f"max_length={preset.max_length}, e.g. '{empty[0]}'")
    train = [{"input_ids": e.input_ids, "loss_mask": e.loss_mask} for e in enc]
    scratch = policy.scratch_for(out_dir)
    if processes <= 1:
        return train_examples(train, base, preset, seed, device, out_dir, loss_path, metrics_path,
                              threads=threads, policy=policy, processes=1, scratch=str(scratch))
    import logging

    from .distributed import launch, write_examples

    _prepare_scratch(scratch, _fingerprint(train, base, preset, seed, processes), logging.getLogger("selectbench"))
    latest_complete(scratch)         # drop incomplete checkpoints here, not racing in the workers
    write_examples(train, scratch / "examples.npz")
    spec = {"examples": str(scratch / "examples.npz"), "base": base,
            "preset": {k: list(v) if isinstance(v, tuple) else v for k, v in preset.__dict__.items()},
            "seed": seed, "device": device, "out_dir": str(out_dir), "loss_path": str(loss_path),
            "metrics_path": str(metrics_path), "threads": max(1, threads // processes),
            "policy": policy.__dict__, "processes": processes, "scratch": str(scratch)}
    atomic_write_text(json.dumps(spec, indent=1), scratch / "spec.json")
    launch(scratch / "spec.json", processes, threads)
    shutil.rmtree(scratch, ignore_errors=True)
    return json.loads(Path(metrics_path).read_text())


def train_examples(train: list[dict], base: dict, preset: Preset, seed: int, device: str, out_dir, loss_path,
                   metrics_path, threads: int = 1, policy=None, processes: int = 1, scratch=None) -> dict:
    """The training proper on encoded examples (one process, or one rank of `processes`)."""
    import logging

    import torch
    from transformers import Trainer, TrainingArguments

    from ..modeling import ModelRef, count_params, load_tokenizer, resolve_device, resolve_dtype, use_threads
    from .distributed import split_batch, world
    from .flops import matmul_params, train_flops_per_token, utilisation
    from .resume import CheckpointPolicy, Interrupted, latest_complete, marker_of, resume_callback, sigterm_flag

    log = logging.getLogger("selectbench")
    policy = policy or CheckpointPolicy()
    rank, world_size = world()
    if world_size != processes:
        raise RuntimeError(f"expected {processes} processes, the launcher set WORLD_SIZE={world_size}")
    use_threads(threads)
    ref = ModelRef(**base)
    dev = resolve_device(device)
    if dev == "cuda" and processes > 1:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    dtype = resolve_dtype(preset.precision, dev)
    tok = load_tokenizer(ref)
    per_device, accum = split_batch(preset.batch_size, preset.grad_accum, processes)
    scratch = Path(scratch) if scratch else policy.scratch_for(out_dir)
    if processes == 1:
        _prepare_scratch(scratch, _fingerprint(train, base, preset, seed, processes), log)

    _seed_everything(seed)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(ref.name_or_path, dtype=dtype, **ref.kwargs())
    n_params = count_params(model)
    n_matmul = matmul_params(model)
    cfg = model.config
    if preset.peft == "lora":
        from peft import LoraConfig, get_peft_model

        _seed_everything(seed)  # LoRA init draws from the global RNG
        model = get_peft_model(model, LoraConfig(
            r=preset.lora_r, lora_alpha=preset.lora_alpha, lora_dropout=preset.lora_dropout,
            target_modules=list(preset.target_modules), task_type="CAUSAL_LM"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if preset.gradient_checkpointing:
        model.gradient_checkpointing_enable()

    fsdp = processes > 1 and preset.distributed == "fsdp"
    dist_kw = {}
    if processes > 1:
        dist_kw = dict(ddp_backend="nccl" if dev == "cuda" else "gloo", ddp_find_unused_parameters=False)
    if fsdp:
        dist_kw.update(fsdp=True, fsdp_config={"version": 2, "state_dict_type": "FULL_STATE_DICT"})
    args = TrainingArguments(
        output_dir=str(scratch), per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accum, learning_rate=preset.learning_rate,
        num_train_epochs=preset.epochs, lr_scheduler_type=preset.lr_scheduler,
        warmup_steps=preset.warmup_ratio, weight_decay=preset.weight_decay,
        logging_steps=1, save_strategy="no", save_total_limit=None, report_to=[], seed=seed, data_seed=seed,
        bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16, use_cpu=dev == "cpu",
        remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=True, **dist_kw,
    )
    collator = _Collator(tok.pad_token_id)
    group = preset.batch_size * preset.grad_accum

    class _Trainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            if preset.group_by_length:
                return _SeededLengthGroupedSampler([len(t["input_ids"]) for t in train], group, seed)
            return super()._get_train_sampler(train_dataset)

    resume_from = latest_complete(scratch)
    resumed = marker_of(resume_from) if resume_from else None
    with sigterm_flag() as flag:
        callback = resume_callback(policy, flag, wall_before=resumed["wall_s"] if resumed else 0.0)
        trainer = _Trainer(model=model, args=args, train_dataset=train, data_collator=collator, callbacks=[callback])
        if resumed:
            log.info("resuming from %s (step %d)", resume_from, resumed["step"])
        t0 = time.time()
        result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        wall = time.time() - t0 + (resumed["wall_s"] if resumed else 0.0)
        if callback.stopped_on_signal:
            raise Interrupted(f"stopped on SIGTERM at step {trainer.state.global_step}; a checkpoint is in "
                              f"{scratch}: rerun the job to resume")

    real, padded = collator.real_tokens, collator.batch_tokens
    if processes > 1:
        import torch.distributed as dist

        t = torch.tensor([real, padded], dtype=torch.float64, device="cuda" if dev == "cuda" else "cpu")
        dist.all_reduce(t)
        real, padded = int(t[0].item()), int(t[1].item())

    losses = [(h["step"], h["loss"], h.get("learning_rate")) for h in trainer.state.log_history if "loss" in h]
    epochs_run = float(trainer.state.epoch or preset.epochs)
    tokens_per_epoch = sum(len(t["input_ids"]) for t in train)
    tokens_seen = int(round(tokens_per_epoch * epochs_run))
    mean_len = tokens_per_epoch / max(1, len(train))
    padded_len = mean_len * padded / real if real else mean_len      # mean batch width per example
    fpt = train_flops_per_token(n_matmul, cfg.num_hidden_layers, cfg.hidden_size, padded_len, preset.peft == "full")
    dev_name = torch.cuda.get_device_name() if dev == "cuda" else None
    dtype_name = str(dtype).replace("torch.", "")
    metrics = {
        "examples": len(train),
        "epochs": epochs_run,
        "steps": int(trainer.state.global_step),
        "tokens_per_epoch": tokens_per_epoch,
        "response_tokens_per_epoch": sum(sum(t["loss_mask"]) for t in train),
        "tokens_seen": tokens_seen,
        "params": n_params,
        "trainable_params": trainable,
        "flops_estimate": 6 * n_params * tokens_seen,
        "trainer_total_flos": float(trainer.state.total_flos),
        # the Trainer averages over this attempt's steps only; a resumed run averages the whole curve
        # (logged every step: the same floats summed in the same order as an uninterrupted run)
        "train_loss": float(sum(l for _, l, _ in losses) / len(losses) if resumed and losses
                            else result.training_loss),
        "final_loss": losses[-1][1] if losses else None,
        "wall_s": round(wall, 3),
        "device": dev,
        "dtype": dtype_name,
        "peft": preset.peft,
        "seed": seed,
        "base_model": ref.as_dict(),
        "batching": "length_grouped" if preset.group_by_length else "random",
        "padding_fraction": round(1 - real / padded, 6) if padded else None,
        "padding_counted_tokens": padded,
        "tokens_per_s": round(tokens_seen / wall, 3) if wall > 0 else None,
        "model_flops_per_token": fpt,
        "model_flops": fpt * tokens_seen,
        **{k: v for k, v in utilisation(fpt * tokens_seen, wall, dev_name, dtype_name, processes).items()},
        "device_name": dev_name,
        "processes": processes,
        "distributed": (preset.distributed if processes > 1 else None),
        "per_device_batch": per_device,
        "grad_accum": accum,
        "effective_batch": per_device * processes * accum,
        "resumed_from_step": resumed["step"] if resumed else None,
    }

    if fsdp:
        stage = scratch / "final"
        trainer.save_model(str(stage))          # every rank: FSDP gathers the full state dict
    if rank == 0:
        _write_outputs(model, tok, ref, preset, out_dir, stage if fsdp else None)
        atomic_write_text("step,loss,learning_rate\n" + "".join(f"{s},{l},{lr}\n" for s, l, lr in losses), loss_path)
        atomic_write_json(metrics, metrics_path)
        if processes == 1:
            shutil.rmtree(scratch, ignore_errors=True)
    return metrics


def _write_outputs(model, tok, ref, preset: Preset, out_dir, saved=None) -> None:
    with atomic_dir(out_dir) as tmp_dir:
        if saved is not None:
            for f in Path(saved).iterdir():
                if f.name != "training_args.bin":
                    shutil.move(str(f), tmp_dir / f.name)
            _portable_adapter_config(ref, tmp_dir)
        else:
            save_adapter(model, ref, tmp_dir)
        tok.save_pretrained(tmp_dir)
        (tmp_dir / "selectbench_checkpoint.json").write_text(json.dumps(
            {"peft": preset.peft, "base_model": ref.as_dict(), "base_model_portable": ref.portable().as_dict()},
            indent=2, sort_keys=True) + "\n")


def _portable_adapter_config(ref, out_dir) -> None:
    """An adapter saved by FSDP's save_model: record the base model portably, as save_adapter does."""
    cfg_path = Path(out_dir) / "adapter_config.json"
    if cfg_path.exists():
        cfg = json.loads(cfg_path.read_text())
        portable = ref.portable()
        cfg["base_model_name_or_path"], cfg["revision"] = portable.name_or_path, portable.revision
        cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
