"""IFD (Cherry LLM): scorer vs losses computed directly with HF, `ifd_top`, pre-experience sampling."""

import numpy as np
import pandas as pd
import pytest
import torch

import selectbench.scoring.ifd  # noqa: F401  (registration)
import selectbench.selection.threshold  # noqa: F401  (registration)
from selectbench.errors import ScoreError, SelectbenchError
from selectbench.formatting import ROLE_TAGS, render
from selectbench.modeling import ModelRef, load_tokenizer
from selectbench.scoring import SCORERS, ScoreContext
from selectbench.scoring.ifd import pre_experience_sample
from selectbench.selection import SELECTORS, SelectContext
from selectbench.selection.threshold import ifd_positions


def pool_of(convs):
    return pd.DataFrame({"id": [f"e{i}" for i in range(len(convs))], "messages": convs})


def hf_loss(model, ids, n_context):
    """HF's own mean CE over the labels after the first `n_context` tokens (shift inside the model)."""
    x = torch.tensor([ids])
    labels = x.clone()
    labels[0, :n_context] = -100
    with torch.no_grad():
        return model(input_ids=x, labels=labels).loss.item()


def direct_ifd(model, tok, conv, include_eos=False, header=False, max_length=None):
    """IFD built independently: prompt/response texts tokenized separately, HF losses."""
    a = max(i for i, m in enumerate(conv) if m["role"] == "assistant")
    eos = tok.eos_token if include_eos else ""
    prompt = render(conv[:a], tok.eos_token).text + ROLE_TAGS["assistant"]
    p_ids = tok(prompt)["input_ids"]
    f_ids = tok(prompt + conv[a]["content"] + eos)["input_ids"]
    assert f_ids[: len(p_ids)] == p_ids            # the prompt's tokens are a prefix
    if max_length:
        f_ids = f_ids[:max_length]
    n_resp = len(f_ids) - len(p_ids)
    head = ROLE_TAGS["assistant"] if header else ""
    h_ids = tok(head)["input_ids"]
    d_ids = tok(head + conv[a]["content"] + eos)["input_ids"]
    assert d_ids[: len(h_ids)] == h_ids
    d_ids = d_ids[: len(h_ids) + n_resp]
    cond = hf_loss(model, f_ids, len(p_ids))
    direct = hf_loss(model, d_ids, len(h_ids))
    return cond / direct, cond, direct, n_resp


def run_ifd(ref, convs, **params):
    spec = SCORERS.get("ifd")
    return spec.fn(pool_of(convs), ScoreContext(params=spec.resolved_params({"precision": "fp32", **params}),
                                                model=ref))


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    ref = ModelRef(tiny_model_dir)
    return ref, load_tokenizer(ref), AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


@pytest.mark.parametrize("variant", [{}, {"include_eos": True}, {"direct_context": "header"}])
def test_ifd_equals_ratio_of_direct_hf_losses(hf, conversations, variant):
    ref, tok, model = hf
    out = run_ifd(ref, conversations, batch_size=3, **variant)
    assert list(out.columns[:2]) == ["id", "score"]
    for conv, (_, row) in zip(conversations, out.iterrows()):
        ifd, cond, direct, n = direct_ifd(model, tok, conv, include_eos=variant.get("include_eos", False),
                                          header=variant.get("direct_context") == "header")
        assert row["score"] == pytest.approx(ifd, abs=1e-5)
        assert row["nll_conditioned"] == pytest.approx(cond, abs=1e-5)
        assert row["nll_direct"] == pytest.approx(direct, abs=1e-5)
        assert row["response_tokens"] == n == row["response_tokens_direct"]
    # padded batches == one example at a time
    single = run_ifd(ref, conversations, batch_size=1, **variant)
    assert np.allclose(out["score"], single["score"], atol=1e-6)


def test_ifd_multi_turn_scores_the_last_turn_only(hf, conversations):
    ref, tok, _ = hf
    out = run_ifd(ref, conversations[2:])
    last = conversations[2][-1]["content"]               # "hi hi"
    assert out["response_tokens"].iloc[0] == len(tok(last, add_special_tokens=False)["input_ids"])


def test_ifd_truncation_cuts_both_passes_alike(hf):
    ref, tok, model = hf
    conv = [{"role": "user", "content": "Tell a story."},
            {"role": "assistant", "content": " ".join(["the cat sat on the mat"] * 12)}]
    out = run_ifd(ref, [conv], max_length=30)
    ifd, _, _, n = direct_ifd(model, tok, conv, max_length=30)
    assert out["response_tokens"].iloc[0] == out["response_tokens_direct"].iloc[0] == n
    assert out["score"].iloc[0] == pytest.approx(ifd, abs=1e-5)
    with pytest.raises(ScoreError, match="id 'e0': no response token"):
        run_ifd(ref, [conv], max_length=4)


def test_ifd_rejects_a_conversation_without_response(hf):
    ref, _, _ = hf
    with pytest.raises(ScoreError, match="id 'e0'"):
        run_ifd(ref, [[{"role": "user", "content": "hello"}]])


# ---------------------------------------------------------------------------- ifd_top

def ctx_for(scores, budget, **params):
    ids = [f"x{i}" for i in range(len(scores))]
    df = pd.DataFrame({"id": ids, "score": scores})
    return SelectContext(pool=df[["id"]], scores=df, budget=budget, seed=0, params=params)


def test_ifd_top_drops_ifd_at_least_one_and_ranks_the_rest():
    scores = [0.5, 1.0, 0.9, 1.7, 0.9, 0.2]
    sel = SELECTORS.get("ifd_top").fn(ctx_for(scores, 3))
    assert sel == ["x2", "x4", "x0"]                     # 0.9, 0.9 (pool order), 0.5; 1.0 and 1.7 dropped
    assert SELECTORS.get("ifd_top").fn(ctx_for(scores, 4)) == ["x2", "x4", "x0", "x5"]


def test_ifd_top_too_few_left_is_an_error_unless_fill_next():
    scores = [1.2, 0.5, 1.0, 3.0]
    with pytest.raises(SelectbenchError, match="only 1 of 4 examples"):
        SELECTORS.get("ifd_top").fn(ctx_for(scores, 2))
    sel = SELECTORS.get("ifd_top").fn(ctx_for(scores, 3, fill="next"))
    assert sel == ["x1", "x2", "x0"]                     # then the dropped ones nearest the cut-off
    assert list(ifd_positions(np.array(scores), 0)) == []
    with pytest.raises(SelectbenchError, match="fill must be"):
        ifd_positions(np.array(scores), 1, fill="silently")


# ---------------------------------------------------------------------------- pre-experience

def test_pre_experience_sample_random_per_cluster():
    labels = np.array([2, 0, 0, 1, 0, 2, 0, 2, 2, 0])
    a = pre_experience_sample(labels, per_cluster=2, seed=7)
    assert a == pre_experience_sample(labels, per_cluster=2, seed=7)      # deterministic
    assert len(a) == 5                                                     # 2 + 1 (cluster 1 is small) + 2
    assert set(a[:2]) <= {1, 2, 4, 6, 9} and a[2] == 3 and set(a[3:]) <= {0, 5, 7, 8}
    assert a[:2] == sorted(a[:2])
    seen = {tuple(pre_experience_sample(labels, 2, s)[:2]) for s in range(20)}
    assert len(seen) > 1                                                   # the seed matters


def test_pre_experience_sample_reference_rule_with_confidences():
    labels = np.zeros(10, dtype=int)
    conf = np.array([9.0, 1, 2, 3, 4, 5, 6, 7, 8, 0])
    # percentiles 10..90 of conf keep rows 1..8 (values 1..8; 0.9 and 8.1 are the cut-offs);
    # 8 rows // 3 = step 2 → rows 1, 3, 5
    assert pre_experience_sample(labels, 3, seed=0, confidences=conf, low_pct=10, high_pct=90) == [1, 3, 5]
    # a cluster smaller than per_cluster gives all its rows
    assert pre_experience_sample(np.array([0, 0, 1]), 3, 0, confidences=np.array([1.0, 2, 3])) == [0, 1, 2]


def data_by_cluster_reference(labels, confidences, n, low_th, up_th):
    """Cherry's `sample_middle_confidence_data` written out plainly (clusters 0..k-1 in order)."""
    out = []
    for c in range(len(np.unique(labels))):
        members = np.where(labels == c)[0]
        if len(members) < n:
            out += members.tolist()
            continue
        conf = confidences[members]
        lo, hi = np.percentile(conf, low_th), np.percentile(conf, up_th)
        middle = members[(conf >= lo) & (conf <= hi)]
        out += (middle if len(middle) < n else middle[:: len(middle) // n][:n]).tolist()
    return out


def test_pre_experience_percentile_rule_matches_data_by_cluster():
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 6, size=300)
    conf = rng.lognormal(size=300)
    for n, lo, hi in [(10, 1, 99), (7, 25, 75), (60, 1, 99)]:
        assert pre_experience_sample(labels, n, 0, confidences=conf, low_pct=lo, high_pct=hi) == \
            data_by_cluster_reference(labels, conf, n, lo, hi)


def test_instruction_perplexity_is_hf_loss_of_the_instruction(hf, conversations):
    from selectbench.scoring.ifd import instruction_perplexity, instruction_texts

    ref, tok, model = hf
    convs = conversations[:5]
    got = instruction_perplexity(model, tok, convs, None, 3, "cpu")
    for conv, text, ppl in zip(convs, instruction_texts(convs), got):
        ids = tok(text)["input_ids"]
        assert ppl == pytest.approx(np.exp(hf_loss(model, ids, 1)), rel=1e-5)
