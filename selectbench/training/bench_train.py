"""`make bench` rows for fine-tuning on CPU: padding and throughput, random vs length-grouped batches.

Demo-shaped run: tiny Llama h128/L2 (random init: throughput and padding do not depend on
the weights), 500 demo-pool examples, the demo LoRA preset (batch 8, max length 256), one
epoch, one thread. Figures come from the run's own metrics.json fields.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def bench_finetune_padding(n: int = 500) -> list[dict]:
    import pandas as pd
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from ..demo.data import make_pretrain_corpus, pool_examples
    from ..demo.tiny_model import train_tokenizer
    from .finetune import Preset, finetune

    rows = []
    with tempfile.TemporaryDirectory(prefix="selectbench-bench-train-") as tmp:
        md = Path(tmp) / "model"
        tok = train_tokenizer(make_pretrain_corpus(3000, 0), vocab_size=4096, out_dir=md)
        torch.manual_seed(0)
        LlamaForCausalLM(LlamaConfig(
            vocab_size=len(tok), hidden_size=128, intermediate_size=344, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id)).save_pretrained(md)
        convs = [ex.messages() for _, _, ex in pool_examples(n, 0, 0.0)]
        pool = pd.DataFrame({"id": [f"e{i}" for i in range(n)], "messages": convs})
        preset = dict(peft="lora", learning_rate=1e-2, epochs=1, batch_size=8, max_length=256, lora_r=8,
                      lora_alpha=16, lora_dropout=0.0, precision="fp32", warmup_ratio=0.1,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        for grouped in (False, True):
            out = Path(tmp) / f"run-{grouped}"
            m = finetune(pool, list(pool["id"]), {"name_or_path": str(md)},
                         Preset.from_config(dict(preset, group_by_length=grouped)), 0, "cpu", out / "model",
                         out / "loss.csv", out / "metrics.json", threads=1,
                         checkpointing={"every_steps": 0, "every_minutes": 0})
            rows.append({"what": f"LoRA fine-tune, tiny Llama h128/L2, 1 thread, batch 8, "
                                 f"{'length-grouped' if grouped else 'random'} batches",
                         "size": f"{n} examples, {m['tokens_seen']:,} tokens, padding {m['padding_fraction']:.1%}",
                         "seconds": m["wall_s"],
                         "rate": f"{m['tokens_per_s']:,.0f} tok/s, {m['achieved_flops_per_s'] / 1e9:,.1f} GFLOP/s"})
    return rows
