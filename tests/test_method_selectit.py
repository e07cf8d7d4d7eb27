"""SelectIT: the three levels against hand-computed values, the scorer against direct model probabilities."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import selectbench.scoring.selectit  # noqa: F401  (registration)
from selectbench.modeling import ModelRef, count_params, load_tokenizer
from selectbench.scoring import SCORERS, ScoreContext
from selectbench.scoring.selectit import (PAPER_PROMPTS, PAPER_TEMPLATE, model_level, sentence_level,
                                          token_level)

K3 = np.array([
    [0.1, 0.2, 0.4, 0.2, 0.1],     # b=3, gaps 0.3+0.2+0+0.2+0.3 = 1.0, /4 → 3·0.25 = 0.75
    [0.0, 0.0, 0.0, 0.0, 1.0],     # one-hot on 5: gaps 4·1 /4 = 1 → 5
    [0.2, 0.2, 0.2, 0.2, 0.2],     # uniform: b=1 (first max), gaps 0 → 0
])
K5 = np.array([
    [0.5, 0.2, 0.1, 0.1, 0.1],     # b=1, gaps 0.3+0.4·3 = 1.5, /4 → 1·0.375
    [0.1, 0.1, 0.1, 0.6, 0.1],     # b=4, gaps 4·0.5 = 2, /4 → 4·0.5 = 2
    [0.05, 0.05, 0.3, 0.3, 0.3],   # b=3 (first of the tied max), gaps 0.25·2 = 0.5, /4 → 3·0.125 = 0.375
    [0.0, 0.0, 0.0, 0.5, 0.5],     # b=4, gaps 0.5·3 = 1.5, /4 → 4·0.375 = 1.5
    [0.2, 0.2, 0.2, 0.2, 0.2],     # 0
])


def test_token_level_hand_computed():
    assert np.allclose(token_level(K3), [0.75, 5.0, 0.0])
    assert np.allclose(token_level(K5), [0.375, 2.0, 0.375, 1.5, 0.0])
    # unnormalised probabilities (full-vocabulary softmax values) are renormalised first
    assert np.allclose(token_level(K3 * 0.01), [0.75, 5.0, 0.0])
    # batched over examples: [N, K, C] → [N, K]
    assert np.allclose(token_level(np.stack([K5, K5])), [[0.375, 2.0, 0.375, 1.5, 0.0]] * 2)
    # the sum runs over the C=5 classes even with K=3 prompts (the reference would sum over 3 and
    # divide by 2: 4·(0.5·3)/2 = 3.0 for the second K5 row, instead of 2.0)
    assert token_level(K5[1:2])[0] == pytest.approx(2.0)


def test_sentence_level_hand_computed():
    # K=3: mean 5.75/3 = 1.916667; population std sqrt(14.541667/3) = 2.2016408
    assert sentence_level(np.array([0.75, 5.0, 0.0]), 0.2) == pytest.approx(1.3307152628761998, abs=1e-12)
    # K=5: mean 0.85; std sqrt(2.91875/5) = 0.7640353
    assert sentence_level(token_level(K5), 0.2) == pytest.approx(0.7373306632729667, abs=1e-12)
    assert sentence_level(np.array([2.0, 2.0]), 0.2) == 2.0           # no disagreement, no penalty
    assert sentence_level(np.array([3.0]), 0.2) == 3.0                # K=1: the token-level score
    assert np.allclose(sentence_level(np.array([[0.75, 5.0, 0.0], [1.0, 1.0, 1.0]]), 0.2),
                       [1.3307152628761998, 1.0])


def test_model_level_weights_by_parameter_count():
    assert model_level(np.array([2.0, 1.0]), [1e6, 3e6]) == pytest.approx(0.25 * 2.0 + 0.75 * 1.0)
    # the paper's 7B/13B/70B weights are 7/90, 13/90, 70/90
    assert model_level(np.array([1.0, 2.0, 3.0]), [7, 13, 70]) == pytest.approx((7 + 26 + 210) / 90)
    assert np.allclose(model_level(np.array([[1.0, 2.0], [3.0, 4.0]]), [1, 1]), [2.0, 3.0])
    with pytest.raises(ValueError):
        model_level(np.array([1.0, 2.0]), [1])


def test_paper_prompts_and_template():
    assert len(PAPER_PROMPTS) == 5
    assert PAPER_PROMPTS[0].startswith("Assign a score from 1 to 5 to each assistant")
    text = PAPER_TEMPLATE.format(prompt="RP", instruction="Q", response="A")
    assert text == "RP\n\nInstruction:Q\nResponse:A\nThe answer is: \n"


def pool_of(convs):
    return pd.DataFrame({"id": [f"e{i}" for i in range(len(convs))], "messages": convs})


def run(ref, convs, models=None, **params):
    spec = SCORERS.get("selectit")
    p = spec.resolved_params({"precision": "fp32", "max_length": 256, **params})
    return spec.fn(pool_of(convs), ScoreContext(params=p, model=ref, models=models or {}))


def direct_sentence(model, tok, instruction, response, prompts, alpha=0.2):
    """Batch size 1, full logits, digits looked up by token string."""
    digits = [tok.convert_tokens_to_ids(str(d)) for d in range(1, 6)]
    probs = []
    for rp in prompts:
        ids = torch.tensor([tok(PAPER_TEMPLATE.format(prompt=rp, instruction=instruction,
                                                      response=response))["input_ids"]])
        with torch.no_grad():
            full = torch.softmax(model(input_ids=ids).logits[0, -1].double(), -1)
        probs.append(full[digits].numpy())
    return sentence_level(token_level(np.array(probs)), alpha)


def test_selectit_scorer_matches_direct_probabilities(tiny_model_dir, conversations):
    from transformers import AutoModelForCausalLM

    ref = ModelRef(tiny_model_dir)
    tok = load_tokenizer(ref)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    out = run(ref, conversations, batch_size=4)
    assert list(out.columns[:2]) == ["id", "score"]
    first = conversations[0]
    expected = direct_sentence(model, tok, first[0]["content"], first[1]["content"], PAPER_PROMPTS)
    assert out["score"].iloc[0] == pytest.approx(expected, abs=1e-6)
    # multi-turn: the instruction is a transcript of the context, the response the last turn
    third = conversations[2]
    ctx = "User: Say hi.\n\nAssistant: hi\n\nUser: Again, twice."
    assert out["score"].iloc[2] == pytest.approx(direct_sentence(model, tok, ctx, "hi hi", PAPER_PROMPTS), abs=1e-6)
    assert out["score"].iloc[2] == pytest.approx(run(ref, [third], batch_size=1)["score"].iloc[0], abs=1e-6)
    # K=3 prompts and a different α
    out3 = run(ref, conversations[:1], prompts=PAPER_PROMPTS[:3], alpha=0.5)
    assert out3["score"].iloc[0] == pytest.approx(
        direct_sentence(model, tok, first[0]["content"], first[1]["content"], PAPER_PROMPTS[:3], 0.5), abs=1e-6)


def test_selectit_model_level_combines_models_by_size(tiny_model_dir, conversations, tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    small = tmp_path / "small"
    shutil.copytree(tiny_model_dir, small)
    tok = load_tokenizer(ModelRef(tiny_model_dir))
    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    small_model = LlamaForCausalLM(cfg)
    small_model.save_pretrained(small)
    big_ref, small_ref = ModelRef(tiny_model_dir), ModelRef(str(small))
    both = run(big_ref, conversations, models={"small": small_ref}, scorer_models=["small"])
    a = run(big_ref, conversations)["score"].to_numpy()
    b = run(small_ref, conversations)["score"].to_numpy()
    from transformers import AutoModelForCausalLM

    na = count_params(AutoModelForCausalLM.from_pretrained(tiny_model_dir))
    nb = count_params(small_model)
    assert np.allclose(both["score"], (na * a + nb * b) / (na + nb), atol=1e-12)
    assert np.allclose(both["sentence_small"], b) and np.allclose(both["sentence_scorer_model"], a)


def test_sft_at_scale_variant_matches_its_reference_form(tiny_model_dir, conversations):
    """`variant: sft_at_scale`: every turn pair in the prompt, 'Instruction: ' with a space, ends with
    '\\nThe answer is: ', and the renormalised probabilities go through a second softmax."""
    from transformers import AutoModelForCausalLM

    from selectbench.scoring.selectit import label_probabilities, sft_at_scale_conversation

    ref = ModelRef(tiny_model_dir)
    tok = load_tokenizer(ref)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    third = conversations[2]                       # two user/assistant turns
    text = sft_at_scale_conversation(third)
    assert text == "\nInstruction: Say hi.\nResponse: hi\nInstruction: Again, twice.\nResponse: hi hi"
    assert sft_at_scale_conversation(conversations[1]) == (        # the system turn is not rated
        "\nInstruction: Name a fruit.\nResponse: An apple is a fruit that grows on trees.")
    digits = [tok.convert_tokens_to_ids(str(d)) for d in range(1, 6)]
    probs = []
    for rp in PAPER_PROMPTS:
        ids = torch.tensor([tok(rp + "\n" + text + "\nThe answer is: ")["input_ids"]])
        with torch.no_grad():
            full = torch.softmax(model(input_ids=ids).logits[0, -1].double(), -1)
        q = full[digits].numpy()
        e = np.exp(q / q.sum())                    # sentence_level.py: exp(p / Σp), then normalised
        probs.append(e / e.sum())
    want = sentence_level(token_level(np.array(probs)), 0.2)
    out = run(ref, conversations, batch_size=4, variant="sft_at_scale")
    assert out["score"].iloc[2] == pytest.approx(want, abs=1e-6)
    assert out["score"].iloc[2] != pytest.approx(run(ref, conversations, batch_size=4)["score"].iloc[2], abs=1e-6)
    lg = np.array([[0.0, 1.0, 2.0]])
    assert np.allclose(label_probabilities(lg, "sft_at_scale"), softmax_np(softmax_np(lg)))
    with pytest.raises(Exception, match="variant must be one of original, sft_at_scale"):
        run(ref, conversations[:1], variant="sft")


def softmax_np(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
