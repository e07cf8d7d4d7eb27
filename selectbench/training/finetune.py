"""Supervised fine-tuning on a selection: transformers Trainer + peft LoRA (or full).

Loss on assistant tokens only (`formatting.encode` masks), seeds fixed (the LoRA
init draws from the global RNG, so we seed before `get_peft_model`), precision
bf16 on GPUs that support it. FLOPs are estimated with the RDS+ paper's model:
6 · N · (tokens processed), N = all parameters of the base model (a LoRA backward
still runs through the frozen weights); the Trainer's own `total_flos` is kept too.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field

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

    def __call__(self, feats):
        import torch

        width = max(len(f["input_ids"]) for f in feats)
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


def finetune(pool, selected_ids: list[str], base: dict, preset: Preset, seed: int, device: str,
             out_dir, loss_path, metrics_path, threads: int = 1) -> dict:
    """Train on `selected_ids` of `pool`; write checkpoint dir, loss curve CSV, metrics JSON."""
    import torch
    from transformers import Trainer, TrainingArguments

    from ..modeling import ModelRef, count_params, load_tokenizer, resolve_device, resolve_dtype

    torch.set_num_threads(threads)
    ref = ModelRef(**base)
    dev = resolve_device(device)
    dtype = resolve_dtype(preset.precision, dev)
    tok = load_tokenizer(ref)

    enc = encode_many(tok, messages_of(pool, selected_ids, "selected"), preset.max_length)
    empty = [i for i, e in zip(selected_ids, enc) if e.n_response == 0]
    if empty:
        raise ValueError(f"{len(empty)} selected examples have no response token within "
                         f"max_length={preset.max_length}, e.g. '{empty[0]}'")
    train = [{"input_ids": e.input_ids, "loss_mask": e.loss_mask} for e in enc]

    _seed_everything(seed)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(ref.name_or_path, dtype=dtype, **ref.kwargs())
    n_params = count_params(model)
    if preset.peft == "lora":
        from peft import LoraConfig, get_peft_model

        _seed_everything(seed)  # LoRA init draws from the global RNG
        model = get_peft_model(model, LoraConfig(
            r=preset.lora_r, lora_alpha=preset.lora_alpha, lora_dropout=preset.lora_dropout,
            target_modules=list(preset.target_modules), task_type="CAUSAL_LM"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if preset.gradient_checkpointing:
        model.gradient_checkpointing_enable()

    scratch = tempfile.mkdtemp(prefix="selectbench-trainer-")
    args = TrainingArguments(
        output_dir=scratch, per_device_train_batch_size=preset.batch_size,
        gradient_accumulation_steps=preset.grad_accum, learning_rate=preset.learning_rate,
        num_train_epochs=preset.epochs, lr_scheduler_type=preset.lr_scheduler,
        warmup_steps=preset.warmup_ratio, weight_decay=preset.weight_decay,
        logging_steps=1, save_strategy="no", report_to=[], seed=seed, data_seed=seed,
        bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16, use_cpu=dev == "cpu",
        remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=_Collator(tok.pad_token_id))
    t0 = time.time()
    result = trainer.train()
    wall = time.time() - t0
    shutil.rmtree(scratch, ignore_errors=True)

    losses = [(h["step"], h["loss"], h.get("learning_rate")) for h in trainer.state.log_history if "loss" in h]
    epochs_run = float(trainer.state.epoch or preset.epochs)
    tokens_per_epoch = sum(len(t["input_ids"]) for t in train)
    tokens_seen = int(round(tokens_per_epoch * epochs_run))
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
        "train_loss": float(result.training_loss),
        "final_loss": losses[-1][1] if losses else None,
        "wall_s": round(wall, 3),
        "device": dev,
        "dtype": str(dtype).replace("torch.", ""),
        "peft": preset.peft,
        "seed": seed,
        "base_model": ref.as_dict(),
    }

    with atomic_dir(out_dir) as tmp_dir:
        save_adapter(model, ref, tmp_dir)
        tok.save_pretrained(tmp_dir)
        (tmp_dir / "selectbench_checkpoint.json").write_text(json.dumps(
            {"peft": preset.peft, "base_model": ref.as_dict(), "base_model_portable": ref.portable().as_dict()},
            indent=2, sort_keys=True) + "\n")
    atomic_write_text("step,loss,learning_rate\n" + "".join(f"{s},{l},{lr}\n" for s, l, lr in losses), loss_path)
    atomic_write_json(metrics, metrics_path)
    return metrics
