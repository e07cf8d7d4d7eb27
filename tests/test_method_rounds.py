"""DiverseEvol rounds and Cherry's pre-experienced model (selectbench/training/rounds.py)."""

import json

import numpy as np
import pandas as pd
import pytest

from selectbench.training.rounds import (build_pre_experienced, diverse_evol_round, load_trained,
                                         pool_embeddings, round_sizes, run_diverse_evol_init)

PRESET = dict(peft="lora", learning_rate=5e-3, epochs=1, batch_size=4, max_length=128,
              lora_r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], precision="fp32")


@pytest.fixture
def pool(conversations):
    convs = [[{"role": "user", "content": f"Question {i}: name {w}."},
              {"role": "assistant", "content": f"{w} " * (1 + i % 4)}]
             for i, w in enumerate(["apple", "tiger", "red", "hammer", "train", "violin", "coat", "table"] * 2)]
    return pd.DataFrame({"id": [f"p{i}" for i in range(len(convs))], "source": ["s"] * len(convs),
                         "messages": convs + conversations[:0]})


def test_round_sizes():
    assert round_sizes(10, 3) == [4, 3, 3]
    assert sum(round_sizes(50_000, 7)) == 50_000
    with pytest.raises(ValueError):
        round_sizes(2, 3)


def test_round_trains_embeds_and_extends_by_kcenter(tmp_path, tiny_model_dir, pool):
    from selectbench.modeling import ModelRef, load_tokenizer
    from selectbench.selection.kcenter import greedy_kcenter
    from selectbench.training import Preset

    base = {"name_or_path": tiny_model_dir}
    prev = ["p0", "p1", "p2"]
    out = diverse_evol_round(pool, prev, 4, base, Preset.from_config(PRESET), 0, "cpu", tmp_path / "r1",
                             batch_size=4, max_length=128)
    assert out["ids"][:3] == prev and len(out["ids"]) == 7 and len(set(out["ids"])) == 7
    assert (tmp_path / "r1" / "adapter_model.safetensors").exists() and out["train"]["examples"] == 3
    # the picks are greedy k-center on embeddings of the model trained on `prev`
    model = load_trained(tmp_path / "r1", base, "cpu", None)
    x = pool_embeddings(model, load_tokenizer(ModelRef(tiny_model_dir)), pool, 4, 128, "cpu")
    picks = greedy_kcenter(x, 4, [0, 1, 2], 0)
    assert out["ids"][3:] == [f"p{i}" for i in picks]
    assert out["cost"]["flops_estimate"] > out["train"]["flops_estimate"] > 0


def test_init_round_is_random_selector(tmp_path, pool):
    from selectbench.pools import write_pool

    pool = pool.assign(origin="x")
    write_pool(pool, tmp_path / "pool.parquet", tmp_path / "stats.json")
    rec = run_diverse_evol_init(tmp_path / "pool.parquet", tmp_path / "r0.json", budget=9,
                                params={"rounds": 3}, seed=4)
    expected = pool["id"].iloc[np.random.default_rng(4).permutation(len(pool))[:3]].tolist()
    assert rec["ids"] == expected and json.loads((tmp_path / "r0.json").read_text())["round"] == 0


def test_pre_experienced_model_loads_like_any_model(tmp_path, tiny_model_dir, pool):
    from transformers import AutoModelForCausalLM

    from selectbench.pools import write_pool

    pool = pool.assign(origin="x")
    write_pool(pool, tmp_path / "pool.parquet", tmp_path / "stats.json")
    rng = np.random.default_rng(0)
    emb = pd.DataFrame({"id": pool["id"], "score": 0.0,
                        "embedding": list(rng.normal(size=(len(pool), 4)).astype("float32"))})
    emb.to_parquet(tmp_path / "emb.parquet")
    m = build_pre_experienced(tmp_path / "model", pool_path=tmp_path / "pool.parquet",
                              embeddings_path=tmp_path / "emb.parquet", base={"name_or_path": tiny_model_dir},
                              clusters=3, per_cluster=2, preset=PRESET, seed=0, device="cpu")
    assert 3 <= len(m["pre_experience_ids"]) <= 6 == 2 * 3
    assert m["train"]["examples"] == len(m["pre_experience_ids"])
    AutoModelForCausalLM.from_pretrained(str(tmp_path / "model"))
    assert (tmp_path / "model" / "tokenizer.json").exists()
    assert not (tmp_path / ".model.train").exists()
    # the workflow's default is Cherry's rule: evenly spaced within the 1st-99th instruction-perplexity
    # percentiles of each cluster, perplexity from the base model
    from selectbench.modeling import ModelRef, load_tokenizer
    from selectbench.scoring.ifd import instruction_perplexity, pre_experience_sample
    from selectbench.selection.kmeans import kmeans

    assert m["sampling"] == "percentile"
    labels, _ = kmeans(np.stack(emb["embedding"].to_numpy()), 3, 0, 100)
    lm = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    conf = instruction_perplexity(lm, load_tokenizer(ModelRef(tiny_model_dir)), list(pool["messages"]), 2048, 16, "cpu")
    want = pre_experience_sample(labels, 2, 0, confidences=conf)
    assert m["pre_experience_ids"] == pool["id"].iloc[want].astype(str).tolist()
