"""`python -m selectbench.bench --gpu`: fine-tuning tokens/s and MFU on a CUDA GPU.

Random-init Llama-3-shaped models (no weights needed for throughput or MFU): the
optimizer step of full fine-tuning and of LoRA (r 16 on every linear layer), bf16,
SDPA attention, fixed-length random token batches (no padding), AdamW. Timed with
CUDA events over `steps` steps after `warmup` steps; one host sync per timing.
FLOPs per token and MFU as in `flops.py`. Rows land in BENCHMARKS.md between
markers, so the CPU rows of `make bench` stay as they are.

Without CUDA it fails at once with a clear message (exit 2); CPU tests cover the
arithmetic (parameter counts, FLOPs per token, MFU) only.
"""

from __future__ import annotations

import sys
import time

from .flops import llama_params, train_flops_per_token, utilisation

# Llama 3.2 1B / 3B and Llama 3.1 8B shapes
LLAMA_SHAPES = {
    "1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
               num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True),
    "3b": dict(vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
               num_attention_heads=24, num_key_value_heads=8, tie_word_embeddings=True),
    "8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
               num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False),
}
# (shape, peft, micro-batch, sequence length): full 8B needs ~130 GB with AdamW states, so LoRA only
CASES = (("1b", "full", 8, 2048), ("1b", "lora", 8, 2048), ("8b", "lora", 4, 2048))
SECTION = "bench-gpu-finetune"   # BENCHMARKS.md section (bench_scale.update_section markers)


def shape_params(shape: str) -> dict:
    s = LLAMA_SHAPES[shape]
    return llama_params(s["vocab_size"], s["hidden_size"], s["num_hidden_layers"], s["intermediate_size"],
                        s["num_attention_heads"], s["num_key_value_heads"], s["tie_word_embeddings"])


def case_flops_per_token(shape: str, peft: str, seq_len: int) -> float:
    s = LLAMA_SHAPES[shape]
    return train_flops_per_token(shape_params(shape)["matmul"], s["num_hidden_layers"], s["hidden_size"],
                                 seq_len, peft == "full")


def require_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("`bench --gpu` needs a CUDA GPU and torch sees none (torch.cuda.is_available() "
                           f"is False; torch {torch.__version__}, CUDA build {torch.version.cuda}). "
                           "Run it on a GPU node; `make bench` covers the CPU figures.")


def bench_finetune_case(shape: str, peft: str, batch: int, seq_len: int, steps: int = 10, warmup: int = 3) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    require_cuda()
    torch.manual_seed(0)
    cfg = LlamaConfig(**LLAMA_SHAPES[shape], max_position_embeddings=seq_len)
    cfg._attn_implementation = "sdpa"
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    if peft == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                                 "gate_proj", "up_proj", "down_proj"]))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=True)
    x = torch.randint(cfg.vocab_size, (batch, seq_len), device="cuda")
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for i in range(warmup + steps):
        if i == warmup:
            start.record()
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    stop.record()
    torch.cuda.synchronize()
    secs = start.elapsed_time(stop) / 1000
    tokens = batch * seq_len * steps
    fpt = case_flops_per_token(shape, peft, seq_len)
    util = utilisation(fpt * tokens, secs, torch.cuda.get_device_name(), "bfloat16")
    return {"shape": shape, "peft": peft, "batch": batch, "seq_len": seq_len, "steps": steps, "seconds": secs,
            "tokens_per_s": tokens / secs, "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30,
            "device": torch.cuda.get_device_name(), **util}


def render(rows: list[dict]) -> list[str]:
    """The section's lines (between the markers `update_section` writes)."""
    lines = ["## GPU fine-tuning throughput (`python -m selectbench.bench --gpu`)", "",
             f"Written on {time.strftime('%Y-%m-%d')} on {rows[0]['device'] if rows else '?'}: random-init "
             "Llama-3 shapes, bf16, SDPA, AdamW; LoRA r 16 on every linear layer. MFU = model FLOPs "
             "(6N full / 4N LoRA + attention, `selectbench/training/flops.py`) per second / device peak.", "",
             "| model | training | batch × length | tokens/s | achieved TFLOP/s | MFU | peak memory |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['shape']} | {r['peft']} | {r['batch']} × {r['seq_len']} | {r['error']} | | | |")
            continue
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else f"n/a ({r['mfu_note']})"
        lines.append(f"| {r['shape']} | {r['peft']} | {r['batch']} × {r['seq_len']} | {r['tokens_per_s']:,.0f} | "
                     f"{r['achieved_flops_per_s'] / 1e12:,.1f} | {mfu} | {r['peak_mem_gb']:.1f} GB |")
    return lines


def main_gpu(out) -> int:
    """Run the GPU fine-tuning cases and write their section of `out`; 2 without CUDA."""
    try:
        require_cuda()
    except RuntimeError as e:
        print(f"selectbench bench --gpu: {e}", file=sys.stderr)
        return 2
    import torch

    rows = []
    for shape, peft, batch, seq_len in CASES:
        try:
            rows.append(bench_finetune_case(shape, peft, batch, seq_len))
        except torch.cuda.OutOfMemoryError:
            rows.append({"shape": shape, "peft": peft, "batch": batch, "seq_len": seq_len, "error": "out of memory"})
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    from ..bench_scale import update_section

    update_section(out, SECTION, render(rows))
    print("\n".join(render(rows)))
    return 0
