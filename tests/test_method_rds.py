"""RDS+: query sets, masked weighted-mean pooling, cosine-to-query scores, round-robin selection."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

import selectbench.scoring.rds  # noqa: F401  (registers `rds`)
import selectbench.selection.round_robin  # noqa: F401  (registers `round_robin`)
from selectbench.errors import ConfigError, DataError, ScoreError, SelectbenchError
from selectbench.formatting import encode, encode_many
from selectbench.modeling import ModelRef, load_tokenizer
from selectbench.scoring import SCORERS, ScoreContext
from selectbench.scoring.queries import load_queries, query_similarity_table
from selectbench.scoring.rds import rds_embeddings
from selectbench.selection import SELECTORS, SelectContext
from selectbench.selection.round_robin import round_robin_order


def pool_of(convs):
    return pd.DataFrame({"id": [f"e{i}" for i in range(len(convs))], "messages": convs})


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_load_queries_and_errors_name_file_line_field(tmp_path, conversations):
    ok = write_jsonl(tmp_path / "q.jsonl", [{"task": "a", "messages": conversations[0]}, "",
                                            {"task": "b", "messages": conversations[1]}])
    qs = load_queries(ok)
    assert [t for t, _ in qs] == ["a", "b"] and qs[1][1] == conversations[1]
    cases = [
        ([{"messages": conversations[0]}], r"q\.jsonl:1: field 'task': missing field"),
        ([{"task": "", "messages": conversations[0]}], r"q\.jsonl:1: field 'task'"),
        ([{"task": "a", "messages": conversations[0]}, {"task": "a"}], r"q\.jsonl:2: field 'messages': missing"),
        ([{"task": "a", "messages": [{"role": "bot", "content": "x"}]}], r"q\.jsonl:1: field 'messages\[0\]\.role'"),
        ([{"task": "a", "messages": [{"role": "user", "content": "x"}]}], r"q\.jsonl:1: field 'messages': no assistant"),
        (["{not json"], r"q\.jsonl:1: invalid JSON"),
        ([], r"q\.jsonl: no queries"),
    ]
    for rows, pattern in cases:
        with pytest.raises(DataError, match=pattern):
            load_queries(write_jsonl(tmp_path / "q.jsonl", rows))
    with pytest.raises(DataError, match="not found"):
        load_queries(tmp_path / "missing.jsonl")


def direct_embedding(model, tok, conv):
    """One example, no padding: hidden_states[-1] of the causal LM, weights (i+1)/Σ, L2-normalized."""
    ids = torch.tensor([encode(tok, conv).input_ids])
    with torch.no_grad():
        h = model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]
    w = torch.arange(1, h.shape[0] + 1, dtype=torch.float32)
    e = (h * (w / w.sum())[:, None]).sum(0)
    return (e / e.norm()).numpy()


def test_pooling_respects_mask_padded_batch_equals_single(tiny_model_dir, conversations):
    from transformers import AutoModelForCausalLM

    tok = load_tokenizer(ModelRef(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    convs = conversations + [[{"role": "user", "content": "A much longer question " * 8},
                              {"role": "assistant", "content": "and a long answer " * 6}]]
    enc = encode_many(tok, convs)
    assert len({len(e.input_ids) for e in enc}) == len(enc)          # real padding in the batch
    batched = rds_embeddings(model, enc, tok.pad_token_id, batch_size=4, device="cpu")
    single = rds_embeddings(model, enc, tok.pad_token_id, batch_size=1, device="cpu")
    assert np.abs(batched - single).max() < 1e-5
    direct = np.stack([direct_embedding(model, tok, c) for c in convs])
    assert np.abs(batched - direct).max() < 1e-5
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-6)


def test_rds_scores_are_max_cosine_per_task(tiny_model_dir, conversations, tmp_path):
    from selectbench.io import atomic_write_parquet
    from selectbench.selection.run import load_embeddings

    qfile = write_jsonl(tmp_path / "q.jsonl", [
        {"task": "fruit", "messages": conversations[1]},          # identical to pool row e1
        {"task": "greet", "messages": conversations[2]},          # identical to pool row e2
        {"task": "greet", "messages": [{"role": "user", "content": "Hello?"},
                                       {"role": "assistant", "content": "Hello there."}]},
    ])
    spec = SCORERS.get("rds")
    assert spec.embeds and spec.needs_model
    params = spec.resolved_params({"queries_file": str(qfile), "batch_size": 2, "precision": "fp32"})
    p = pool_of(conversations)
    out = spec.fn(p, ScoreContext(params=params, model=ModelRef(tiny_model_dir)))
    assert list(out.columns) == ["id", "score", "sim__fruit", "sim__greet", "qsim__fruit__0", "qsim__greet__0",
                                 "qsim__greet__1", "embedding"]
    emb = np.stack(out["embedding"].to_numpy())
    assert emb.dtype == np.float32 and emb.shape[0] == 3
    qemb = emb[[1, 2]]
    assert out["sim__fruit"][1] == pytest.approx(1.0, abs=1e-5)
    assert out["sim__greet"][2] == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(out["sim__fruit"], emb @ qemb[0], atol=1e-5)
    assert np.allclose(out["score"], out[["sim__fruit", "sim__greet"]].max(axis=1))
    assert np.allclose(out["qsim__fruit__0"], out["sim__fruit"])              # one query: the same
    assert np.allclose(out[["qsim__greet__0", "qsim__greet__1"]].max(axis=1), out["sim__greet"])
    assert out["qsim__greet__0"][2] == pytest.approx(1.0, abs=1e-5)
    assert out.attrs["cost"]["tokens"] > 0
    # deterministic, and the embedding column survives Parquet into the selector loader
    again = spec.fn(p, ScoreContext(params=params, model=ModelRef(tiny_model_dir)))
    assert np.array_equal(again["score"], out["score"])
    atomic_write_parquet(out, tmp_path / "s.parquet")
    assert np.array_equal(load_embeddings(tmp_path / "s.parquet", p), emb)


def test_rds_needs_a_query_file(tiny_model_dir, conversations):
    params = SCORERS.get("rds").resolved_params({})
    with pytest.raises(ConfigError, match="queries_file"):
        SCORERS.get("rds").fn(pool_of(conversations), ScoreContext(params=params, model=ModelRef(tiny_model_dir)))


def test_non_finite_embedding_names_the_id():
    emb = np.eye(3, dtype=np.float32)
    emb[1, 0] = np.nan
    with pytest.raises(ScoreError, match="id 'b'"):
        query_similarity_table(["a", "b", "c"], emb, np.eye(3, dtype=np.float32)[:1], ["t"])


def scores_table(**cols):
    n = len(next(iter(cols.values())))
    return pd.DataFrame({"id": [f"r{i}" for i in range(n)], "score": np.max(list(cols.values()), axis=0),
                         **{f"sim__{k}": v for k, v in cols.items()}})


def rr(scores, budget, params=None):
    p = pd.DataFrame({"id": scores["id"]})
    return SELECTORS.get("round_robin").fn(SelectContext(p, scores, budget, 0, params or {}))


def test_round_robin_alternates_and_skips_taken():
    s = scores_table(a=[0.9, 0.8, 0.1, 0.2, 0.0], b=[0.95, 0.1, 0.7, 0.6, 0.0])
    # a takes r0; b's best (r0) is taken → r2; a → r1; b → r3; a's next (r3) taken → r2 taken → r4
    assert rr(s, 5) == ["r0", "r2", "r1", "r3", "r4"]
    assert rr(s, 3) == ["r0", "r2", "r1"]
    assert rr(s, 2, {"tasks": ["b"], "single_task": "max"}) == ["r0", "r2"]
    with pytest.raises(SelectbenchError, match="per-query columns"):
        rr(s, 2, {"tasks": ["b"]})
    with pytest.raises(SelectbenchError, match="task 'c'.*tasks there: a, b"):
        rr(s, 2, {"tasks": ["c"]})


def test_round_robin_single_task_is_top_k_with_ties_in_pool_order():
    rng = np.random.default_rng(0)
    v = rng.integers(0, 5, size=40).astype(float)
    s = scores_table(only=v)
    p = pd.DataFrame({"id": s["id"]})
    top = SELECTORS.get("top_k").fn(SelectContext(p, s, 15, 0, {}))
    assert rr(s, 15, {"single_task": "max"}) == top
    no_tasks = s[["id", "score"]]
    assert rr(no_tasks, 15) == top
    assert len(set(round_robin_order([v, -v, v], 40))) == 40


def get_top_influences_max(sim):
    """`get_top_influences.py --selection_method max` transcribed for one pool: sim[q][i] = cosine
    of query q and train row i. Each query's rows sorted by score descending (Python's stable
    sort); queries take turns popping their best; duplicates are dropped (`list(set(...))`).
    Returns (ordered list of distinct picks as the reference appends them, rounds done)."""
    sorted_per_q = {q: sorted(enumerate(row), key=lambda x: x[1], reverse=True) for q, row in enumerate(sim)}
    saved, ordered = [], []
    return sorted_per_q, saved, ordered


def reference_max(sim, budget):
    sorted_per_q, saved, ordered = get_top_influences_max(sim)
    while len(saved) < budget:
        for q in sorted_per_q:
            inst, _ = sorted_per_q[q].pop(0)
            saved.append(inst)
            if inst not in ordered:
                ordered.append(inst)
            saved = list(set(saved))          # the reference's de-duplication (loses order)
    return set(saved), ordered


def test_single_task_round_robin_over_query_points_matches_reference():
    rng = np.random.default_rng(4)
    n, q = 60, 5
    sim = rng.normal(size=(q, n)).round(1)                       # rounded: many ties
    sim[:, 7] = 3.0                                              # every query's favourite: a collision
    table = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "score": sim.max(axis=0), "sim__t": sim.max(axis=0),
                          **{f"qsim__t__{j}": sim[j] for j in range(q)}})
    for budget in (5, 9, 17, 30):
        ref_set, ref_order = reference_max(sim, budget)
        got = rr(table, budget)
        assert got == [f"r{i}" for i in ref_order[:budget]]       # same ids in the same order
        assert {int(g[1:]) for g in got} <= ref_set                # the reference only overshoots
        if len(ref_set) == budget:
            assert {int(g[1:]) for g in got} == ref_set
    # `max` is a different rule: top-k on the task's max over queries
    assert rr(table, 17, {"single_task": "max"}) != rr(table, 17)


def reference_aggregated_max(task_scores, budget):
    """`get_top_aggregated_influences.py --selection_method max`, transcribed: each task's rows
    sorted by score descending; tasks take turns popping their best; a popped row that is already
    saved adds nothing (the turn is used up). Returns the distinct picks in the order added."""
    sorted_per_task = [sorted(enumerate(row), key=lambda x: x[1], reverse=True) for row in task_scores]
    ordered, seen = [], set()
    while len(ordered) < budget:
        for rows in sorted_per_task:
            inst, _ = rows.pop(0)
            if inst not in seen:
                seen.add(inst)
                ordered.append(inst)
    return ordered


def test_multi_task_collision_turn_matches_reference_transcription():
    rng = np.random.default_rng(11)
    for trial in range(40):
        n, t = int(rng.integers(20, 80)), int(rng.integers(2, 6))
        sim = rng.normal(size=(t, n)).round(1)                  # rounded: ties and collisions
        sim[:, int(rng.integers(n))] = 5.0                       # every task's favourite
        table = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "score": sim.max(axis=0),
                              **{f"sim__t{j}": sim[j] for j in range(t)}})
        for budget in (1, t, n // 2, n):
            want = reference_aggregated_max(sim.tolist(), budget)[:budget]
            assert rr(table, budget, {"collision": "turn"}) == [f"r{i}" for i in want]
    with pytest.raises(SelectbenchError, match="collision must be one of next, turn"):
        rr(table, 3, {"collision": "skip"})


def test_round_robin_reads_less_per_task_columns():
    """The `less` scorer writes score__<task>: per-task and multi-task selection read those columns."""
    rng = np.random.default_rng(2)
    n = 30
    a, b = rng.normal(size=n), rng.normal(size=n)
    less = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "score": np.maximum(a, b),
                         "score__mmlu": a, "score__gsm8k": b})
    order_a = [f"r{i}" for i in np.argsort(-a, kind="stable")]
    assert rr(less, 7, {"tasks": ["mmlu"], "single_task": "max"}) == order_a[:7]
    with pytest.raises(SelectbenchError, match="per-query columns"):
        rr(less, 7, {"tasks": ["mmlu"]})
    with pytest.raises(SelectbenchError, match="task 'bbh' has no column 'score__bbh'.*tasks there: mmlu, gsm8k"):
        rr(less, 7, {"tasks": ["bbh"], "single_task": "max"})
    multi = rr(less, 10, {"collision": "turn"})
    assert multi == [f"r{i}" for i in reference_aggregated_max([a.tolist(), b.tolist()], 10)[:10]]
    assert multi != rr(less.drop(columns=["score__mmlu", "score__gsm8k"]), 10)   # not top-k on the max


def test_last_token_pooling_is_the_last_real_tokens_state(tiny_model_dir, conversations):
    """`pooling: last_token` (DEITA's clm_embedder): padded batches equal one-at-a-time passes."""
    from transformers import AutoModelForCausalLM

    tok = load_tokenizer(ModelRef(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    enc = encode_many(tok, conversations)
    got = rds_embeddings(model, enc, tok.pad_token_id, batch_size=3, device="cpu", pooling="last_token")
    for e, row in zip(enc, got):
        with torch.no_grad():
            h = model(input_ids=torch.tensor([e.input_ids]), output_hidden_states=True).hidden_states[-1][0, -1]
        assert np.abs(row - (h / h.norm()).numpy()).max() < 1e-5
    mean = rds_embeddings(model, enc, tok.pad_token_id, batch_size=3, device="cpu")
    assert np.abs(got - mean).max() > 1e-3
    with pytest.raises(ScoreError, match="pooling must be one of weighted_mean, last_token"):
        rds_embeddings(model, enc, tok.pad_token_id, batch_size=3, device="cpu", pooling="mean")
