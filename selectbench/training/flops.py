"""Training FLOPs, achieved FLOP/s and model FLOPs utilisation (MFU).

Model FLOPs per trained token (the MFU convention of Chowdhery et al. 2022, PaLM,
appendix B: recomputation from gradient checkpointing is not counted):

- full fine-tuning: 6 · N (forward 2N, backward 4N: activation and weight gradients);
- LoRA: 4 · N (the frozen weights need activation gradients only; the adapters'
  own FLOPs are < 1 % at the ranks used here and are left out);
- plus the attention score/value products, 12 · L · d · T per token for L layers of
  width d at sequence length T (6 · L · d · T forward+backward for each of QKᵀ and AV,
  counted over the full causal square as PaLM does); T is the mean padded length.

N counts every parameter of the base model except the input embedding (a lookup, not
a matmul); a tied LM head is counted once, as the output projection.

`flops_estimate` in metrics.json stays the RDS+ paper's cost model (6 · N_all · tokens)
for the cost tables; the figures here measure the hardware.

Peak dense bf16/fp16 tensor FLOP/s per device (vendor datasheets, without sparsity).
An unknown device, a CPU, or fp32 training gives MFU null with the reason.
"""

from __future__ import annotations

# (substring of torch.cuda.get_device_name(), peak dense bf16 FLOP/s). First match wins:
# more specific names first.
PEAK_BF16 = (
    ("GB200", 2.5e15),
    ("B200", 2.25e15),
    ("H200", 989e12),
    ("GH200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),          # SXM
    ("H800", 989e12),
    ("A100", 312e12),          # SXM and PCIe, 40 and 80 GB
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("RTX 4090", 165e12),
    ("RTX A6000", 155e12),
    ("MI300X", 1307e12),
    ("MI250X", 383e12),
)


def peak_flops(device_name: str | None, dtype: str) -> tuple[float | None, str | None]:
    """(peak FLOP/s, None) for a known accelerator and a 16-bit dtype, else (None, reason)."""
    if not device_name:
        return None, "no accelerator (CPU run): MFU is defined against an accelerator's peak"
    if dtype not in ("bfloat16", "float16"):
        return None, f"training dtype {dtype}: the peak table holds 16-bit tensor-core peaks only"
    for key, peak in PEAK_BF16:
        if key in device_name:
            return peak, None
    return None, f"device '{device_name}' is not in selectbench.training.flops.PEAK_BF16"


def matmul_params(model) -> int:
    """Parameters that take part in matmuls: all but the input embedding (counted once if tied)."""
    emb, out = model.get_input_embeddings(), model.get_output_embeddings()
    tied = out is not None and emb is not None and out.weight is emb.weight
    skip = set() if (emb is None or tied) else {id(emb.weight)}
    seen, n = set(), 0
    for p in model.parameters():          # LoRA adapters included (< 1 % at the ranks used)
        if id(p) not in seen and id(p) not in skip:
            seen.add(id(p))
            n += p.numel()
    return n


def train_flops_per_token(n_matmul: int, layers: int, hidden: int, seq_len: float, full: bool) -> float:
    """Model FLOPs per trained token (see the module docstring)."""
    dense = (6 if full else 4) * n_matmul
    attention = 12 * layers * hidden * seq_len
    return float(dense + attention)


def utilisation(model_flops: float, wall_s: float, device_name: str | None, dtype: str,
                processes: int = 1) -> dict:
    """Achieved FLOP/s and MFU (achieved / (peak · devices))."""
    achieved = model_flops / wall_s if wall_s > 0 else None
    peak, why = peak_flops(device_name, dtype)
    mfu = achieved / (peak * processes) if (achieved is not None and peak) else None
    return {"achieved_flops_per_s": achieved, "peak_flops_per_s": peak * processes if peak else None,
            "mfu": mfu, "mfu_note": why}


def llama_params(vocab: int, hidden: int, layers: int, intermediate: int, heads: int, kv_heads: int,
                 tied: bool) -> dict:
    """Parameter counts of a Llama config (no biases, RMSNorm weights), analytically."""
    head_dim = hidden // heads
    attn = hidden * head_dim * (heads + 2 * kv_heads) + heads * head_dim * hidden
    mlp = 3 * hidden * intermediate
    per_layer = attn + mlp + 2 * hidden
    embed = vocab * hidden
    total = embed + layers * per_layer + hidden + (0 if tied else vocab * hidden)
    matmul = layers * per_layer + hidden + vocab * hidden     # LM head counted, input embedding not
    return {"total": total, "matmul": matmul}
