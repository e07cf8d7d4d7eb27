"""Fine-tuning: outputs, response-only loss, determinism, LoRA and full."""

import json

import pandas as pd
import pytest
from safetensors.torch import load_file

from selectbench.training import Preset, finetune

LORA = dict(peft="lora", learning_rate=5e-3, epochs=2, batch_size=2, max_length=128,
            lora_r=4, lora_alpha=8, lora_dropout=0.0, target_modules=("q_proj", "v_proj"), precision="fp32")


def pool_of(convs):
    return pd.DataFrame({"id": [f"e{i}" for i in range(len(convs))], "messages": convs})


def run(tmp, model_dir, convs, preset, seed=0, name="ck"):
    out = tmp / name
    m = finetune(pool_of(convs), [f"e{i}" for i in range(len(convs))], {"name_or_path": model_dir},
                 Preset(**preset), seed, "cpu", out / "model", out / "loss.csv", out / "metrics.json")
    return out, m


def test_lora_outputs_and_metrics(tmp_path, tiny_model_dir, conversations):
    out, m = run(tmp_path, tiny_model_dir, conversations * 2, LORA)
    assert (out / "model" / "adapter_model.safetensors").exists()
    assert (out / "model" / "tokenizer.json").exists()
    assert json.loads((out / "model" / "selectbench_checkpoint.json").read_text())["peft"] == "lora"
    curve = pd.read_csv(out / "loss.csv")
    assert len(curve) == m["steps"] == 6 and curve["loss"].notna().all()
    assert m["examples"] == 6 and m["tokens_seen"] == 2 * m["tokens_per_epoch"]
    assert m["flops_estimate"] == 6 * m["params"] * m["tokens_seen"]
    assert 0 < m["trainable_params"] < m["params"]
    assert json.loads((out / "metrics.json").read_text())["steps"] == 6


def test_same_seed_same_adapter_other_seed_differs(tmp_path, tiny_model_dir, conversations):
    a, _ = run(tmp_path, tiny_model_dir, conversations, LORA, seed=1, name="a")
    b, _ = run(tmp_path, tiny_model_dir, conversations, LORA, seed=1, name="b")
    c, _ = run(tmp_path, tiny_model_dir, conversations, LORA, seed=2, name="c")
    wa, wb, wc = (load_file(str(x / "model" / "adapter_model.safetensors")) for x in (a, b, c))
    assert all((wa[k] == wb[k]).all() for k in wa)
    assert any(not (wa[k] == wc[k]).all() for k in wa)


def test_full_finetune_saves_full_model(tmp_path, tiny_model_dir, conversations):
    preset = dict(peft="full", learning_rate=1e-3, epochs=1, batch_size=3, max_length=128, precision="fp32")
    out, m = run(tmp_path, tiny_model_dir, conversations, preset)
    assert (out / "model" / "model.safetensors").exists()
    assert m["trainable_params"] == m["params"]


def test_loss_only_on_response_tokens(tiny_model_dir, conversations):
    from selectbench.modeling import ModelRef, load_tokenizer
    from selectbench.formatting import encode
    from selectbench.training.finetune import _Collator

    tok = load_tokenizer(ModelRef(tiny_model_dir))
    feats = [{"input_ids": e.input_ids, "loss_mask": e.loss_mask} for e in (encode(tok, c) for c in conversations)]
    batch = _Collator(tok.pad_token_id)(feats)
    for f, labels, attn in zip(feats, batch["labels"], batch["attention_mask"]):
        n = len(f["input_ids"])
        assert attn[:n].all() and not attn[n:].any()
        assert ((labels[:n] != -100).int().tolist()) == f["loss_mask"]
        assert (labels[n:] == -100).all()


def test_unknown_selected_id_is_an_error(tmp_path, tiny_model_dir, conversations):
    with pytest.raises(KeyError, match="not in the pool, e.g. 'nope'"):
        finetune(pool_of(conversations), ["nope"], {"name_or_path": tiny_model_dir}, Preset(**LORA), 0, "cpu",
                 tmp_path / "m", tmp_path / "l.csv", tmp_path / "x.json")
    assert not (tmp_path / "m").exists()


def test_padding_and_throughput_metrics(tmp_path, tiny_model_dir, conversations):
    many = []             # 36 examples of many lengths: mega-batches of 3 batches of 3 are sorted
    for k in range(12):
        for c in conversations:
            c = [dict(m) for m in c]
            c[-1]["content"] += " more" * (3 * k)
            many.append(c)
    _, one = run(tmp_path, tiny_model_dir, many, dict(LORA, batch_size=1, epochs=1), name="b1")
    assert one["padding_fraction"] == 0.0 and one["padding_counted_tokens"] == one["tokens_seen"]
    _, rnd = run(tmp_path, tiny_model_dir, many, dict(LORA, batch_size=3, epochs=1), name="rnd")
    _, grp = run(tmp_path, tiny_model_dir, many, dict(LORA, batch_size=3, epochs=1, group_by_length=True), name="grp")
    assert rnd["batching"] == "random" and grp["batching"] == "length_grouped"
    assert 0 < grp["padding_fraction"] < rnd["padding_fraction"] < 1
    assert grp["tokens_seen"] == rnd["tokens_seen"]
    for m in (one, rnd, grp):
        assert m["tokens_per_s"] == pytest.approx(m["tokens_seen"] / m["wall_s"], rel=1e-2)
        assert m["achieved_flops_per_s"] == pytest.approx(m["model_flops"] / m["wall_s"], rel=1e-2)
        assert m["model_flops"] == m["model_flops_per_token"] * m["tokens_seen"]
        assert m["mfu"] is None and "CPU" in m["mfu_note"] and m["processes"] == 1
        assert m["effective_batch"] == m["per_device_batch"] * m["grad_accum"]
