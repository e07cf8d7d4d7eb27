"""LESS warm-up: brief LoRA training on a small random subset, one checkpoint per epoch.

LESS (Xia et al., 2024) computes its gradient features on the checkpoints of a short
LoRA "warm-up" run on a random few percent of the pool. Each checkpoint must carry
what the features need:

- the LoRA adapter (``adapter_model.safetensors`` + ``adapter_config.json``);
- the Adam state after that epoch: ``exp_avg`` (m) and ``exp_avg_sq`` (v) of every
  trainable parameter, keyed by the parameter's name in the peft model
  (``optimizer_state.safetensors``, keys ``exp_avg:<name>`` / ``exp_avg_sq:<name>``);
- the epoch's mean learning rate, the checkpoint weight of LESS
  (``checkpoint.json``, with the optimizer step, betas and eps).

The loop is a plain torch loop (``torch.optim.AdamW`` over the LoRA parameters) rather
than the HF Trainer: its optimizer state is then at hand, keyed by name, at every epoch
boundary, with no Trainer checkpoint (and its integer-indexed ``optimizer.pt``) to parse.
It follows the Trainer's defaults that ``finetune`` uses, so a warm-up run trains like a
fine-tuning run with the same preset: linear schedule with ``ceil(warmup_ratio·steps)``
warm-up steps, gradient clipping at norm 1.0, AdamW (β = 0.9, 0.999, ε = 1e-8) with
decoupled weight decay, loss = sum of token losses over the response tokens of an
optimizer step's examples / their count (transformers 5 averages over the tokens of the
whole accumulated batch), shuffled batches (a new permutation per epoch from `seed`),
LoRA dropout on during training. The LoRA init draws from the global RNG, so we seed
right before ``get_peft_model``.

Examples with no response token within ``max_length`` carry no loss; they are skipped
(counted in ``warmup.json``) instead of failing the run: the warm-up ids are a random
sample and one over-long example should not stop it.

FLOPs model (RDS+ paper's code, FIELD-NOTES): 6 · N · tokens seen, N = all parameters
of the base model, tokens = every token of every example × epochs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

from ..formatting import encode_many
from ..io import atomic_write_json, dumps
from ..modeling import ModelRef
from ..io import share
from .finetune import Preset, _Collator, _fingerprint, _prepare_scratch, _seed_everything, messages_of, save_adapter

OPTIMIZER_FILE = "optimizer_state.safetensors"
CHECKPOINT_FILE = "checkpoint.json"
SUMMARY_FILE = "warmup.json"
MAX_GRAD_NORM = 1.0


def epoch_dir_name(epoch: int) -> str:
    return f"epoch_{epoch}"


def _epochs_of(preset: Preset, epochs: int | None) -> int:
    e = preset.epochs if epochs is None else epochs
    if float(e) != int(e) or int(e) < 1:
        raise ValueError(f"a LESS warm-up runs a whole number of epochs (>= 1), got {e}: "
                         "there is one checkpoint per epoch")
    return int(e)


def linear_schedule(base_lr: float, total_steps: int, warmup_ratio: float) -> list[float]:
    """Learning rate used at each optimizer step (transformers' linear schedule with warm-up).

    Warm-up steps = ceil(warmup_ratio · total_steps) (`TrainingArguments.get_warmup_steps`);
    lr(s) = base · s / warm-up for s < warm-up, then base · (total − s) / (total − warm-up).
    """
    warm = math.ceil(warmup_ratio * total_steps) if warmup_ratio < 1 else int(warmup_ratio)
    out = []
    for s in range(total_steps):
        if s < warm:
            f = s / max(1, warm)
        else:
            f = max(0.0, (total_steps - s) / max(1, total_steps - warm))
        out.append(base_lr * f)
    return out


def warmup(pool, ids: list[str], base: dict, preset: Preset, seed: int, device: str, out_dir,
           threads: int = 1, epochs: int | None = None, checkpointing=None) -> dict:
    """LoRA warm-up on `ids` of `pool`; write out_dir/epoch_{e}/ (e = 1..E) and out_dir/warmup.json.

    `epochs` overrides `preset.epochs` (which must then be whole). Returns the summary
    written to warmup.json: {epochs, lrs, steps, tokens_seen, flops_estimate, ...}.
    """
    import logging

    import torch

    from ..modeling import ModelRef, count_params, load_tokenizer, resolve_device, resolve_dtype, use_threads
    from .resume import PREFIX, CheckpointPolicy, Interrupted, latest_complete, mark_complete, sigterm_flag

    log = logging.getLogger("selectbench")
    if preset.peft != "lora":
        raise ValueError(f"the LESS warm-up trains LoRA adapters (preset peft is '{preset.peft}')")
    n_epochs = _epochs_of(preset, epochs)
    use_threads(threads)
    ref = ModelRef(**base)
    dev = resolve_device(device)
    dtype = resolve_dtype(preset.precision, dev)
    tok = load_tokenizer(ref)

    ids = [str(i) for i in ids]
    enc = encode_many(tok, messages_of(pool, ids, "warm-up"), preset.max_length)
    skipped = [i for i, e in zip(ids, enc) if e.n_response == 0]
    train = [{"input_ids": e.input_ids, "loss_mask": e.loss_mask} for e in enc if e.n_response > 0]
    if not train:
        raise ValueError(f"none of the {len(ids)} warm-up examples has a response token within "
                         f"max_length={preset.max_length}")

    _seed_everything(seed)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(ref.name_or_path, dtype=dtype, **ref.kwargs())
    n_params = count_params(model)
    from peft import LoraConfig, get_peft_model

    _seed_everything(seed)  # LoRA init draws from the global RNG
    model = get_peft_model(model, LoraConfig(
        r=preset.lora_r, lora_alpha=preset.lora_alpha, lora_dropout=preset.lora_dropout,
        target_modules=list(preset.target_modules), task_type="CAUSAL_LM"))
    if preset.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model.to(dev).train()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    names = [n for n, _ in named]
    params = [p for _, p in named]
    opt = torch.optim.AdamW(params, lr=preset.learning_rate, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=preset.weight_decay)
    beta1, beta2 = opt.param_groups[0]["betas"]
    eps = opt.param_groups[0]["eps"]

    # batches and optimizer steps of one epoch (same shape every epoch)
    bs, accum = int(preset.batch_size), int(preset.grad_accum)
    n_batches = math.ceil(len(train) / bs)
    steps_per_epoch = math.ceil(n_batches / accum)
    schedule = linear_schedule(preset.learning_rate, steps_per_epoch * n_epochs, preset.warmup_ratio)
    collate = _Collator(tok.pad_token_id)
    gen = torch.Generator().manual_seed(int(seed))

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    policy = checkpointing if isinstance(checkpointing, CheckpointPolicy) else CheckpointPolicy.from_config(checkpointing)
    scratch = policy.scratch_for(out_dir)
    _prepare_scratch(scratch, _fingerprint(train, base, preset, seed, 1) + f":{n_epochs}", log)
    tmp_dir = scratch / "stage"          # finished epoch checkpoints, kept across attempts
    step, wall_before = 0, 0.0
    lrs, epoch_losses, ckpts = [], [], []
    start_epoch, start_g0, acc = 1, 0, None
    ck = latest_complete(scratch)
    if ck is not None:
        st = torch.load(ck / "state.pt", weights_only=False)
        with torch.no_grad():
            for n, p in named:
                p.copy_(st["params"][n].to(p.device, p.dtype))
        opt.load_state_dict(st["optimizer"])
        step, lrs, epoch_losses, ckpts = st["step"], st["lrs"], st["epoch_losses"], st["ckpts"]
        start_epoch, start_g0, acc, wall_before = st["epoch"], st["g0"], st["acc"], st["wall_s"]
        gen.set_state(st["gen"])
        torch.set_rng_state(st["rng_cpu"])
        if dev == "cuda" and st.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(st["rng_cuda"])
        log.info("resuming the warm-up from %s (step %d)", ck, step)
    if tmp_dir.exists():                 # drop epoch checkpoints newer than the resume state
        for d in tmp_dir.iterdir():
            if d.name not in ckpts:
                shutil.rmtree(d) if d.is_dir() else d.unlink()
    resumed_from = step if ck is not None else None
    t0 = time.time()
    last_save = time.monotonic()

    def save_state(epoch, g0, gen_state, acc_now):
        nonlocal last_save
        ck_dir = scratch / f"{PREFIX}{step}"
        shutil.rmtree(ck_dir, ignore_errors=True)
        ck_dir.mkdir(parents=True)
        torch.save({"params": {n: p.detach().cpu() for n, p in named}, "optimizer": opt.state_dict(),
                    "step": step, "lrs": lrs, "epoch_losses": epoch_losses, "ckpts": ckpts,
                    "epoch": epoch, "g0": g0, "acc": acc_now, "gen": gen_state,
                    "rng_cpu": torch.get_rng_state(),
                    "rng_cuda": torch.cuda.get_rng_state() if dev == "cuda" else None,
                    "wall_s": wall_before + time.time() - t0}, ck_dir / "state.pt")
        mark_complete(ck_dir, {"step": step, "epoch": epoch, "wall_s": wall_before + time.time() - t0})
        last_save = time.monotonic()

    def due():
        return ((policy.every_steps > 0 and step % policy.every_steps == 0)
                or (policy.every_minutes > 0 and time.monotonic() - last_save >= 60 * policy.every_minutes))

    with sigterm_flag() as flag:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        for epoch in range(start_epoch, n_epochs + 1):
            gen_state = gen.get_state()          # the epoch's order is drawn from here
            order = torch.randperm(len(train), generator=gen).tolist()
            batches = [order[i:i + bs] for i in range(0, len(order), bs)]
            first = start_g0 if epoch == start_epoch else 0
            used_lrs, loss_sum, loss_tok = acc if (acc and epoch == start_epoch) else ([], 0.0, 0)
            for g0 in range(first, len(batches), accum):
                group = [collate([train[j] for j in b]) for b in batches[g0:g0 + accum]]
                n_tok = sum(int((x["labels"][:, 1:] != -100).sum()) for x in group)
                for x in group:
                    x = {k: v.to(dev) for k, v in x.items()}
                    logits = model(input_ids=x["input_ids"], attention_mask=x["attention_mask"]).logits
                    tok_loss = torch.nn.functional.cross_entropy(
                        logits[:, :-1].float().transpose(1, 2), x["labels"][:, 1:],
                        ignore_index=-100, reduction="sum")
                    (tok_loss / n_tok).backward()
                    loss_sum += float(tok_loss.detach())
                loss_tok += n_tok
                torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
                lr = schedule[step]
                for pg in opt.param_groups:
                    pg["lr"] = lr
                opt.step()
                opt.zero_grad(set_to_none=True)
                used_lrs.append(lr)
                step += 1
                if g0 + accum < len(batches) and (flag.set or due()):
                    save_state(epoch, g0 + accum, gen_state, (used_lrs, loss_sum, loss_tok))
                    if flag.set:
                        raise Interrupted(f"warm-up stopped on SIGTERM at step {step}; a checkpoint is in "
                                          f"{scratch}: rerun the job to resume")
            lr_mean = sum(used_lrs) / len(used_lrs)
            lrs.append(lr_mean)
            epoch_losses.append(loss_sum / max(1, loss_tok))
            ckpts.append(_save_checkpoint(model, opt, named, tmp_dir / epoch_dir_name(epoch), {
                "epoch": epoch, "step": step, "lr_mean": lr_mean, "lrs": used_lrs,
                "betas": [beta1, beta2], "eps": eps, "weight_decay": preset.weight_decay,
                "param_names": names, "base_model": ref.as_dict(), "max_length": preset.max_length,
            }))
            if epoch < n_epochs and (flag.set or due()):
                save_state(epoch + 1, 0, gen.get_state(), None)
                if flag.set:
                    raise Interrupted(f"warm-up stopped on SIGTERM at step {step}; a checkpoint is in "
                                      f"{scratch}: rerun the job to resume")
    wall = wall_before + time.time() - t0

    tokens_per_epoch = sum(len(t["input_ids"]) for t in train)
    tokens_seen = tokens_per_epoch * n_epochs
    summary = {
        "epochs": n_epochs,
        "lrs": lrs,
        "steps": step,
        "steps_per_epoch": steps_per_epoch,
        "tokens_per_epoch": tokens_per_epoch,
        "response_tokens_per_epoch": sum(sum(t["loss_mask"]) for t in train),
        "tokens_seen": tokens_seen,
        "params": n_params,
        "trainable_params": sum(p.numel() for p in params),
        "flops_estimate": 6 * n_params * tokens_seen,
        "examples": len(train),
        "skipped_no_response": len(skipped),
        "epoch_losses": epoch_losses,
        "checkpoints": ckpts,
        "max_length": preset.max_length,
        "optimizer": {"name": "adamw_torch", "betas": [beta1, beta2], "eps": eps,
                      "weight_decay": preset.weight_decay, "max_grad_norm": MAX_GRAD_NORM},
        "preset": {k: (list(v) if isinstance(v, tuple) else v) for k, v in preset.__dict__.items()},
        "wall_s": round(wall, 3),
        "device": dev,
        "dtype": str(dtype).replace("torch.", ""),
        "seed": seed,
        "base_model": ref.as_dict(),
        "resumed_from_step": resumed_from,
    }
    (tmp_dir / SUMMARY_FILE).write_text(dumps(summary), encoding="utf-8")
    share(tmp_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp_dir, out_dir)
    shutil.rmtree(scratch, ignore_errors=True)
    return summary


def _save_checkpoint(model, opt, named, ck_dir: Path, meta: dict) -> str:
    """Adapter + Adam moments (by parameter name) + metadata into `ck_dir`."""
    from safetensors.torch import save_file

    ck_dir.mkdir(parents=True)
    save_adapter(model, ModelRef(**meta["base_model"]), ck_dir)
    state = {}
    for name, p in named:
        s = opt.state[p]
        state[f"exp_avg:{name}"] = s["exp_avg"].detach().float().cpu().contiguous()
        state[f"exp_avg_sq:{name}"] = s["exp_avg_sq"].detach().float().cpu().contiguous()
    save_file(state, str(ck_dir / OPTIMIZER_FILE))
    atomic_write_json(meta, ck_dir / CHECKPOINT_FILE)
    return ck_dir.name


def read_warmup(warmup_dir) -> dict:
    """warmup.json of a warm-up output directory (checks that every checkpoint is there)."""
    warmup_dir = Path(warmup_dir)
    path = warmup_dir / SUMMARY_FILE
    if not path.exists():
        raise FileNotFoundError(f"{warmup_dir}: not a LESS warm-up directory (no {SUMMARY_FILE})")
    summary = json.loads(path.read_text())
    for name in summary["checkpoints"]:
        for f in ("adapter_model.safetensors", OPTIMIZER_FILE, CHECKPOINT_FILE):
            if not (warmup_dir / name / f).exists():
                raise FileNotFoundError(f"{warmup_dir / name}: missing {f}")
    return summary


def load_optimizer_state(ck_dir, names: list[str]):
    """(exp_avg, exp_avg_sq) flattened in the order of `names` (fp32 CPU tensors)."""
    import torch
    from safetensors.torch import load_file

    state = load_file(str(Path(ck_dir) / OPTIMIZER_FILE))
    have = {k.split(":", 1)[1] for k in state if k.startswith("exp_avg:")}
    if have != set(names):
        extra, lack = sorted(have - set(names)), sorted(set(names) - have)
        raise ValueError(f"{ck_dir}: optimizer state does not match the model's trainable "
                         f"parameters (state only: {extra[:2]}, model only: {lack[:2]})")
    m = torch.cat([state[f"exp_avg:{n}"].reshape(-1) for n in names])
    v = torch.cat([state[f"exp_avg_sq:{n}"].reshape(-1) for n in names])
    return m, v
