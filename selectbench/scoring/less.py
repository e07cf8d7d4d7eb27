"""`less`: LESS gradient-similarity influence (Xia et al., 2024).

For every checkpoint i of the LoRA warm-up (`selectbench.training.warmup`), with LoRA
parameters θ_i, Adam moments (m_i, v_i) after s_i optimizer steps and mean epoch
learning rate η̄_i:

- a training (pool) example z gets its Adam-preconditioned gradient
      m' = β1·m_i + (1−β1)·g,  v' = β2·v_i + (1−β2)·g²,   g = ∇_θ ℓ(z; θ_i)
      Γ_i(z) = m̂ / (√v̂ + ε),  m̂ = m'/(1−β1^t), v̂ = v'/(1−β2^t), t = s_i + 1
  (`adam="paper"`, the paper's formula); `adam="reference"` reproduces the
  princeton-nlp/LESS code instead: no bias correction, Γ = m'/√(v' + ε);
- a validation (query) example z' gets its plain gradient ∇_θ ℓ(z'; θ_i);
- both are projected by one Rademacher matrix P ∈ {±1/√d}^{D×d} (seeded, the same for
  every checkpoint and both sides) and L2-normalised;
- Inf_t(z) = Σ_i w_i · mean_{z' ∈ task t} cos(PᵀΓ_i(z), Pᵀ∇ℓ(z'; θ_i)),
  w_i = η̄_i / Σ_j η̄_j, and score(z) = max_t Inf_t(z).

ℓ is the mean token cross-entropy over the response tokens (`formatting.encode` masks).
Per-example gradients come from one autograd backward per example (batch size 1, the
paper's setting, so no padding enters a gradient): `torch.func.vmap` over a padded batch
works with peft LoRA only under eager attention (sdpa's mask builder branches on the
data) and was slower than the loop on CPU. Deviations from the reference are listed in
docs/methods/less.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, ScoreError
from ..formatting import encode_many
from .base import PoolFile, ScoreContext, pool_chunks, pool_id_series, scorer
from .queries import queries_from_params, task_names

TASK_PREFIX = "score__"
ADAM_FORMS = ("paper", "reference")
CHUNK_ELEMS = 1 << 22          # entries of P generated per chunk (fixed: P does not depend on it)


# ------------------------------------------------------------------ Adam preconditioning
def adam_precondition(g, m, v, beta1: float, beta2: float, eps: float, step: int, form: str = "paper"):
    """Γ(g) for gradient(s) `g` [..., D] given the checkpoint's Adam moments `m`, `v` [D].

    `step` = optimizer steps taken at the checkpoint (torch's `state["step"]`); the
    paper's bias correction uses t = step + 1, the step this gradient would belong to.
    """
    m1 = beta1 * m + (1 - beta1) * g
    v1 = beta2 * v + (1 - beta2) * g * g
    if form == "paper":
        t = step + 1
        return (m1 / (1 - beta1 ** t)) / ((v1 / (1 - beta2 ** t)).sqrt() + eps)
    if form == "reference":
        return m1 / (v1 + eps).sqrt()
    raise ConfigError(f"scoring.less.adam: expected one of {', '.join(ADAM_FORMS)}, got {form!r}")


# ------------------------------------------------------------------ random projection
class RademacherProjector:
    """x ↦ Pᵀx with P[D, d] i.i.d. ±1/√d, E‖Pᵀx‖² = ‖x‖².

    P is generated on the CPU in row chunks of ``CHUNK_ELEMS // d`` rows, chunk c from
    a torch generator seeded with SeedSequence([seed, c]): the same P on every device and
    for every batch, and rows of P never depend on D. The whole matrix is kept (on the
    compute device) when it fits in `cache_bytes`; otherwise each chunk is regenerated
    per projected batch, so memory stays at one chunk.
    """

    def __init__(self, dim: int, proj_dim: int, seed: int, device: str = "cpu",
                 cache_bytes: int = 1 << 30):
        self.dim, self.proj_dim, self.seed, self.device = int(dim), int(proj_dim), int(seed), device
        if self.proj_dim < 1:
            raise ConfigError(f"scoring.less.proj_dim must be >= 1, got {proj_dim}")
        self.rows = max(1, CHUNK_ELEMS // self.proj_dim)
        self.n_chunks = math.ceil(self.dim / self.rows)
        self._full = None
        if self.dim * self.proj_dim * 4 <= cache_bytes:
            import torch

            self._full = torch.cat([self.chunk(c) for c in range(self.n_chunks)]).to(device)

    def chunk(self, c: int):
        import torch

        s = int(np.random.SeedSequence([self.seed, c]).generate_state(1, dtype=np.uint64)[0] >> 1)
        gen = torch.Generator().manual_seed(s)
        bits = torch.randint(0, 2, (self.rows, self.proj_dim), generator=gen, dtype=torch.int8)
        r0 = c * self.rows
        p = bits[: min(self.rows, self.dim - r0)].float().mul_(2).sub_(1)
        return p.mul_(1.0 / math.sqrt(self.proj_dim))

    def matrix(self):
        import torch

        return self._full if self._full is not None else torch.cat([self.chunk(c) for c in range(self.n_chunks)])

    def project(self, x):
        """x [B, D] (float32, any device) → [B, d] on x's device."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"projector built for dimension {self.dim}, got {x.shape[-1]}")
        if self._full is not None:
            return x @ self._full.to(x.device)
        out = x.new_zeros((x.shape[0], self.proj_dim))
        for c in range(self.n_chunks):
            r0 = c * self.rows
            out += x[:, r0:r0 + self.rows] @ self.chunk(c).to(x.device)
        return out


def l2_normalize(x):
    import torch

    return torch.nn.functional.normalize(x, dim=-1)


# ------------------------------------------------------------------ per-example gradients
def trainable(model) -> tuple[list[str], list]:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [n for n, _ in named], [p for _, p in named]


def example_gradient(model, params, enc, device):
    """Flattened ∇ of the mean response-token loss of ONE example (batch size 1, no padding)."""
    import torch

    ids = torch.tensor([enc.input_ids], device=device)
    mask = torch.tensor([enc.loss_mask], dtype=torch.bool, device=device)
    labels = torch.where(mask, ids, torch.full_like(ids, -100))
    loss = model(input_ids=ids, labels=labels).loss
    grads = torch.autograd.grad(loss, params)
    return torch.cat([g.reshape(-1).float() for g in grads])


def gradient_features(model, params, encoded, projector, device, adam=None, buffer: int | None = None):
    """[n, d] L2-normalised projected gradients; `adam` = dict(m, v, beta1, beta2, eps, step, form)."""
    import torch

    dim = projector.dim
    if buffer is None:  # full gradients held at once before projecting: a power of two ≤ SHARD_ALIGN
        buffer = 1 << (max(1, min(SHARD_ALIGN, (256 << 20) // (4 * dim))).bit_length() - 1)
    out = torch.empty((len(encoded), projector.proj_dim), dtype=torch.float32)
    pending: list = []
    start = 0

    def flush():
        nonlocal pending, start
        if pending:
            g = torch.stack(pending)
            out[start:start + len(pending)] = l2_normalize(projector.project(g)).cpu()
            start += len(pending)
            pending = []

    for e in encoded:
        g = example_gradient(model, params, e, device)
        if adam is not None:
            g = adam_precondition(g, adam["m"], adam["v"], adam["beta1"], adam["beta2"], adam["eps"],
                                  adam["step"], adam["form"])
        pending.append(g)
        if len(pending) >= buffer:
            flush()
    flush()
    return out


# ------------------------------------------------------------------ influence
def task_means(val_feats, tasks: list[str], names: list[str]) -> np.ndarray:
    """[T, d]: mean normalised validation feature of each task (mean of cosines = dot with it)."""
    v = np.asarray(val_feats, dtype=np.float64)
    t = np.asarray(tasks)
    return np.stack([v[t == name].mean(axis=0) for name in names])


def checkpoint_weights(lrs) -> np.ndarray:
    w = np.asarray(lrs, dtype=np.float64)
    if (w < 0).any() or w.sum() <= 0:
        raise ScoreError(f"LESS checkpoint weights (mean learning rates) must be >= 0 with a positive sum, got {list(w)}")
    return w / w.sum()


def influence_scores(train_feats, val_feats, val_tasks: list[str], lrs):
    """Reference computation on in-memory features.

    train_feats [K, N, d], val_feats [K, Nv, d] (L2-normalised), val_tasks [Nv],
    lrs [K] → (score [N], per_task [N, T], task names in first-appearance order).
    """
    names = list(dict.fromkeys(val_tasks))
    w = checkpoint_weights(lrs)
    per_task = 0.0
    for k in range(len(w)):
        per_task = per_task + w[k] * (np.asarray(train_feats[k], dtype=np.float64)
                                      @ task_means(val_feats[k], val_tasks, names).T)
    per_task = np.asarray(per_task)
    return per_task.max(axis=1), per_task, names


# ------------------------------------------------------------------ the scorer
def _load_adapter(base, ck_dir: Path, model):
    """First checkpoint: wrap `base` with the adapter; later ones: swap the LoRA weights in."""
    from peft import PeftModel
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    if model is None:
        model = PeftModel.from_pretrained(base, str(ck_dir), is_trainable=True)
    else:
        sd = load_file(str(ck_dir / "adapter_model.safetensors"))
        res = set_peft_model_state_dict(model, sd)
        bad = list(res.unexpected_keys) + [k for k in res.missing_keys if "lora_" in k]
        if bad:
            raise ScoreError(f"{ck_dir}: adapter does not fit the first checkpoint's model (e.g. '{bad[0]}')")
    return model.eval()   # no dropout when computing gradient features (as the reference)


# Gradients are projected in groups of ≤ 32 rows (a power of two), and the influence products
# (features · task means) are taken in blocks of 32 rows (a BLAS product's bits can depend on how
# many rows it has): shards and chunks starting at multiples of 32 rows compute exactly the groups
# and blocks an unsharded pass does, so their merged scores are identical.
SHARD_ALIGN = 32
CHUNK_ROWS = 1024     # pool rows read per chunk: a multiple of SHARD_ALIGN (same projection groups)


@scorer("less", needs_model=True, shard_align=SHARD_ALIGN, streams=True, params={
    "warmup_dir_file": None, "queries_file": None, "proj_dim": 8192, "seed": 0,
    "precision": "auto", "adam": "paper"})
def less_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """LESS: checkpoint-weighted cosine of Adam gradient features to each query task's gradients; max over tasks.

    One pass over the pool per checkpoint, read and tokenized in chunks of 1,024 rows (a multiple
    of the 32-row projection groups, so the features equal a whole-pool pass); what grows with
    the pool is the per-task influence sum (8 bytes per row and task).
    """
    import torch

    from ..modeling import count_params, load_causal_lm, load_tokenizer, resolve_dtype
    from ..training.warmup import CHECKPOINT_FILE, load_optimizer_state, read_warmup

    p = ctx.params
    if p.get("adam") not in ADAM_FORMS:
        raise ConfigError(f"scoring.less.adam: expected one of {', '.join(ADAM_FORMS)}, got {p.get('adam')!r}")
    if not p.get("warmup_dir_file"):
        raise ConfigError("scoring.less.warmup_dir_file: the LESS warm-up output directory is required")
    wdir = Path(p["warmup_dir_file"])
    summary = read_warmup(wdir)
    queries = queries_from_params(p, "less")
    q_tasks = [t for t, _ in queries]
    names = task_names(queries)
    wb, mb = summary["base_model"], ctx.model.as_dict()
    if (wb["name_or_path"], wb.get("revision")) != (mb["name_or_path"], mb.get("revision")):
        raise ScoreError(f"scoring.less: the warm-up in {wdir} trained on base model {wb['name_or_path']!r} "
                         f"but the scorer model is {mb['name_or_path']!r}")
    max_length = summary["max_length"]

    tok = load_tokenizer(ctx.model)
    ids = pool_id_series(pool)

    def pool_encodings():
        """(row offset, encodings) per chunk of the pool; rows without a response token are an error."""
        row = 0
        for chunk in pool_chunks(pool, ("id", "messages"), CHUNK_ROWS):
            enc = encode_many(tok, chunk["messages"], max_length)
            empty = [i for i, e in zip(chunk["id"], enc) if e.n_response == 0]
            if empty:
                raise ScoreError(f"id '{empty[0]}': no response token within the warm-up's max_length={max_length} "
                                 f"({len(empty)} such examples in its chunk of rows); it has no LESS gradient")
            yield row, enc
            row += len(enc)

    enc_q = encode_many(tok, [m for _, m in queries], max_length)
    for j, e in enumerate(enc_q):
        if e.n_response == 0:
            raise ScoreError(f"{p['queries_file']}: query {j + 1} (task {q_tasks[j]}) has no response "
                             f"token within max_length={max_length}")

    device = ctx.device
    base = load_causal_lm(ctx.model, device, resolve_dtype(p["precision"], device))
    n_params = count_params(base)
    weights = checkpoint_weights(summary["lrs"])
    per_task = np.zeros((len(ids), len(names)), dtype=np.float64)
    model, projector, pool_tokens = None, None, 0
    for k, name in enumerate(summary["checkpoints"]):
        ck = wdir / name
        meta = json.loads((ck / CHECKPOINT_FILE).read_text())
        model = _load_adapter(base, ck, model)
        pnames, params = trainable(model)
        m, v = load_optimizer_state(ck, pnames)
        if projector is None:
            projector = RademacherProjector(m.numel(), int(p["proj_dim"]), int(p["seed"]), device)
        adam = {"m": m.to(device), "v": v.to(device), "beta1": meta["betas"][0], "beta2": meta["betas"][1],
                "eps": meta["eps"], "step": int(meta["step"]), "form": p["adam"]}
        val = gradient_features(model, params, enc_q, projector, device).numpy()
        means = task_means(val, q_tasks, names).T
        pool_tokens = 0
        for row, enc in pool_encodings():
            train = gradient_features(model, params, enc, projector, device, adam=adam).numpy()
            train = train.astype(np.float64)
            for b in range(0, len(enc), SHARD_ALIGN):    # fixed row blocks: bits independent of the chunk
                per_task[row + b:row + b + SHARD_ALIGN] += weights[k] * (train[b:b + SHARD_ALIGN] @ means)
            pool_tokens += sum(len(e.input_ids) for e in enc)
        del adam, m, v
        if device == "cuda":
            torch.cuda.empty_cache()

    out = {"id": ids, "score": per_task.max(axis=1)}
    for j, t in enumerate(names):
        out[TASK_PREFIX + t] = per_task[:, j]
    df = pd.DataFrame(out)
    k = len(summary["checkpoints"])
    grad_tokens = k * (pool_tokens + sum(len(e.input_ids) for e in enc_q))
    df.attrs["cost"] = {
        "tokens": int(grad_tokens),
        "params": int(n_params),
        "gradient_flops": 6 * n_params * grad_tokens,
        "warmup_tokens": int(summary["tokens_seen"]),
        "warmup_flops": int(summary["flops_estimate"]),
        "checkpoints": k,
        "flops_estimate": int(summary["flops_estimate"]) + 6 * n_params * grad_tokens,
    }
    return df
