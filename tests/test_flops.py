"""FLOPs, MFU arithmetic and the GPU bench's CPU side (the GPU run itself needs CUDA)."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from selectbench.training.bench_gpu import LLAMA_SHAPES, case_flops_per_token, main_gpu, shape_params
from selectbench.training.flops import matmul_params, peak_flops, train_flops_per_token, utilisation


@pytest.mark.parametrize("shape", sorted(LLAMA_SHAPES))
def test_llama_param_counts_match_the_real_model(shape):
    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(**LLAMA_SHAPES[shape]))
    counts = shape_params(shape)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["matmul"] == matmul_params(model)
    assert {"1b": 1.24e9, "3b": 3.21e9, "8b": 8.03e9}[shape] == pytest.approx(counts["total"], rel=0.01)


def test_flops_per_token():
    assert train_flops_per_token(1000, 2, 16, 100, full=True) == 6000 + 12 * 2 * 16 * 100
    assert train_flops_per_token(1000, 2, 16, 100, full=False) == 4000 + 12 * 2 * 16 * 100
    # 8B, full, 2048 tokens: ≈ 6·7.5e9 + attention ≈ 5.0e10 FLOPs per token (PaLM appendix B scale)
    assert case_flops_per_token("8b", "full", 2048) == pytest.approx(6 * 7.50e9 + 12 * 32 * 4096 * 2048, rel=0.01)


def test_mfu_against_the_peak_table():
    assert peak_flops("NVIDIA H100 80GB HBM3", "bfloat16") == (989e12, None)
    assert peak_flops("NVIDIA H100 PCIe", "bfloat16")[0] == 756e12
    assert peak_flops("NVIDIA H200", "bfloat16")[0] == 989e12
    assert peak_flops("NVIDIA A100-SXM4-80GB", "float16")[0] == 312e12
    peak, why = peak_flops("NVIDIA Quadro K600", "bfloat16")
    assert peak is None and "not in" in why
    assert peak_flops(None, "float32")[0] is None and "CPU" in peak_flops(None, "float32")[1]
    assert "16-bit" in peak_flops("NVIDIA H100", "float32")[1]
    u = utilisation(494.5e12 * 10, 10.0, "NVIDIA H100 80GB HBM3", "bfloat16")
    assert u["achieved_flops_per_s"] == 494.5e12 and u["mfu"] == pytest.approx(0.5)
    u2 = utilisation(494.5e12 * 10, 10.0, "NVIDIA H100 80GB HBM3", "bfloat16", processes=2)
    assert u2["mfu"] == pytest.approx(0.25)
    cpu = utilisation(1e9, 1.0, None, "float32")
    assert cpu["mfu"] is None and cpu["achieved_flops_per_s"] == 1e9 and cpu["mfu_note"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU failure")
def test_bench_gpu_fails_clearly_without_cuda(tmp_path, capsys):
    out = tmp_path / "B.md"
    out.write_text("# Benchmarks\n")
    from selectbench.bench import main

    assert main(["--gpu", "--out", str(out)]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    assert out.read_text() == "# Benchmarks\n"


def test_gpu_section_is_written_between_markers(tmp_path):
    from selectbench.bench_scale import update_section
    from selectbench.training.bench_gpu import SECTION, render

    row = {"shape": "1b", "peft": "lora", "batch": 8, "seq_len": 2048, "steps": 10, "seconds": 2.0,
           "tokens_per_s": 81920.0, "peak_mem_gb": 20.0, "device": "NVIDIA H100 80GB HBM3",
           **utilisation(case_flops_per_token("1b", "lora", 2048) * 163840, 2.0, "NVIDIA H100 80GB HBM3", "bfloat16")}
    out = tmp_path / "B.md"
    out.write_text("# Benchmarks\n\n| cpu rows |\n")
    update_section(out, SECTION, render([row]))
    update_section(out, SECTION, render([row, {"shape": "8b", "peft": "full", "batch": 4, "seq_len": 2048,
                                               "error": "out of memory"}]))
    text = out.read_text()
    begin, end = f"<!-- begin {SECTION} -->", f"<!-- end {SECTION} -->"
    assert text.startswith("# Benchmarks\n\n| cpu rows |\n") and text.count(begin) == 1 and text.count(end) == 1
    assert "81,920" in text and "out of memory" in text and f"{row['mfu']:.1%}" in text
