"""AlpaGasus: local judge vs direct model probabilities, the HTTP backend vs a local fake server, threshold_top."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
import torch

import selectbench.scoring.alpagasus as alpagasus
import selectbench.selection.threshold  # noqa: F401  (registration)
from selectbench.errors import ScoreError, SelectbenchError
from selectbench.formatting import prompt_for
from selectbench.modeling import ModelRef, load_tokenizer
from selectbench.scoring import SCORERS, ScoreContext
from selectbench.scoring.rating import generate_texts, parse_first_number
from selectbench.selection import SELECTORS, SelectContext


def pool_of(convs):
    return pd.DataFrame({"id": [f"e{i}" for i in range(len(convs))], "messages": convs})


def run(name, convs, ref=None, **params):
    spec = SCORERS.get(name)
    return spec.fn(pool_of(convs), ScoreContext(params=spec.resolved_params(params), model=ref))


def test_judge_prompt_layouts():
    conv = [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Apple."}]
    system, user = alpagasus.judge_messages(conv)                       # layout: reference (the code)
    assert system["content"] == ("We would like to request your feedback on the performance of AI assistant "
                                 "in response to the instruction and the given input displayed following.")
    assert user["content"].startswith("###Instruction:\nName a fruit.\n\n### Input:\n\n\n### Response:\n"
                                      "Apple.\n\nPlease rate according to the accuracy of the response to the "
                                      "instruction and the input. Each assistant receives a score on a scale "
                                      "of 0 to 5")
    assert "Please first output a single line containing value indicating the scores." in user["content"]
    system, user = alpagasus.judge_messages(conv, layout="paper")       # the paper's Fig. 3
    assert system["content"].endswith("displayed following.\nInstruction: Name a fruit.\nInput: \n"
                                      "Response: Apple.")
    assert user["content"].startswith("Please rate according to the accuracy")
    assert "containing the value indicating the scores." in user["content"]
    assert "helpfulness of the response" in alpagasus.judge_messages(conv, "helpfulness")[1]["content"]
    with pytest.raises(ScoreError, match="layout"):
        alpagasus.judge_messages(conv, layout="fig3")


def test_expected_mode_equals_manual_softmax_over_digits(tiny_model_dir, conversations):
    from transformers import AutoModelForCausalLM

    ref = ModelRef(tiny_model_dir)
    tok = load_tokenizer(ref)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    out = run("alpagasus", conversations, ref, precision="fp32", batch_size=3)
    digits = [tok.convert_tokens_to_ids(str(v)) for v in range(6)]
    for k, conv in enumerate(conversations):
        ids = torch.tensor([tok(prompt_for(alpagasus.judge_messages(conv)))["input_ids"]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, -1].double()
        p = torch.softmax(logits[digits], -1).numpy()
        assert out["score"].iloc[k] == pytest.approx(float(p @ np.arange(6)), abs=1e-5)
        assert np.allclose(out.loc[k, [f"p_{v}" for v in range(6)]].to_numpy(dtype=float), p, atol=1e-5)
        mass = torch.softmax(logits, -1)[digits].sum().item()
        assert out["label_mass"].iloc[k] == pytest.approx(mass, abs=1e-6)
    single = run("alpagasus", conversations, ref, precision="fp32", batch_size=1)
    assert np.allclose(out["score"], single["score"], atol=1e-6)
    assert not out["truncated"].any()
    # a long conversation is cut inside instruction/response so that the prompt's end survives
    base = len(tok(prompt_for(alpagasus.judge_messages_from("", "", "", "accuracy")))["input_ids"])
    long_conv = [{"role": "user", "content": " ".join(["tell me about the sea"] * 30)},
                 {"role": "assistant", "content": " ".join(["the sea is wide and blue"] * 30)}]
    tiny = [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Yo."}]
    short = run("alpagasus", [long_conv, tiny], ref, precision="fp32", max_length=base + 20)
    assert short["truncated"].tolist() == [True, False] and np.isfinite(short["score"]).all()


def test_generate_mode_batches_and_parses(tiny_model_dir, conversations, monkeypatch):
    ref = ModelRef(tiny_model_dir)
    tok = load_tokenizer(ref)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    prompts = [tok(t)["input_ids"] for t in ["<|user|>\nhi\n<|assistant|>\n", "a much longer prompt here ok",
                                             "x"]]
    batched = generate_texts(model, tok, prompts, 5, batch_size=3, device="cpu")
    single = generate_texts(model, tok, prompts, 5, batch_size=1, device="cpu")
    assert batched == single                                    # left padding does not change greedy output

    replies = iter(["4.5\nAccurate.", "Score: 3", "5 - perfect"])
    monkeypatch.setattr(alpagasus, "generate_texts", lambda m, t, enc, *a: [next(replies) for _ in enc])
    out = run("alpagasus", conversations, ref, mode="generate", precision="fp32")
    assert out["score"].tolist() == [4.5, 3.0, 5.0] and out["judge_text"].iloc[0] == "4.5\nAccurate."
    monkeypatch.setattr(alpagasus, "generate_texts", lambda m, t, enc, *a: ["4", "no idea", "9"])
    with pytest.raises(ScoreError, match="id 'e1'"):
        run("alpagasus", conversations, ref, mode="generate", precision="fp32")
    out = run("alpagasus", conversations, ref, mode="generate", precision="fp32", unparsed_score=-1)
    assert out["score"].tolist() == [4.0, -1.0, -1.0] and out["parsed"].tolist() == [True, False, False]


def test_parse_first_number():
    assert parse_first_number("4.5\nThe response is good") == 4.5
    assert parse_first_number("Score: 3 out of 5") == 3.0
    assert parse_first_number("  5") == 5.0
    assert parse_first_number("none") is None
    assert parse_first_number("v2 is 4") == 4.0                   # digits inside a word are not a number
    with pytest.raises(ScoreError, match="id 'z'"):
        alpagasus.parse_rating("7\nway too high", "z")
    assert alpagasus.parse_rating("3.5\n\nThe response provides", "z") == (3.5, True)


# ---------------------------------------------------------------------------- HTTP backend

class FakeJudge:
    """An OpenAI-compatible /v1/chat/completions on 127.0.0.1 that replies per instruction."""

    def __init__(self, replies, fail_first=0):
        self.replies, self.fail_first, self.requests = replies, fail_first, []
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.requests.append((self.path, self.headers.get("Authorization"), body))
                if judge.fail_first > 0:
                    judge.fail_first -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                chat = " ".join(m["content"] for m in body["messages"])
                text = next(v for k, v in judge.replies.items() if k in chat)
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}],
                                   "usage": {"total_tokens": 7}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


CONVS = [
    [{"role": "user", "content": "Q0"}, {"role": "assistant", "content": "A0"}],
    [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}],
    [{"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}],
]


def test_api_backend_against_a_local_fake_server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("SB_TEST_JUDGE_KEY", "sk-test")
    replies = {"Q0": "4.5\nThe answer is accurate.", "Q1": "Score: 2", "Q2": "5"}
    with FakeJudge(replies, fail_first=1) as judge:
        out = run("alpagasus_api", CONVS, api_url=judge.url, api_model="judge-1", api_key_env="SB_TEST_JUDGE_KEY",
                  api_workers=2, api_backoff_s=0.0)
    assert out["score"].tolist() == [4.5, 2.0, 5.0]
    assert out["judge_text"].iloc[1] == "Score: 2"
    assert len(judge.requests) == 4                              # one 503 retried
    path, auth, body = judge.requests[-1]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-test"
    assert body["model"] == "judge-1" and body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == alpagasus.SYSTEM_PROMPT
    assert body["messages"][1]["content"].endswith(alpagasus.REFERENCE_REQUEST.format(dimension="accuracy"))
    assert out.attrs["cost"]["tokens"] == 21 and out.attrs["cost"]["api_calls"] == 3


def test_api_backend_errors_name_the_id(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("SB_TEST_JUDGE_KEY", raising=False)
    with FakeJudge({"Q0": "4", "Q1": "I cannot rate this.", "Q2": "3"}) as judge:
        with pytest.raises(ScoreError, match="id 'e1': the judge's reply has no score"):
            run("alpagasus_api", CONVS, api_url=judge.url + "/v1", api_key_env="SB_TEST_JUDGE_KEY",
                api_backoff_s=0.0)
        assert judge.requests[0][1] is None                       # no key set → no Authorization header
    with FakeJudge({}, fail_first=10) as judge:
        with pytest.raises(ScoreError, match="id 'e0': the judge endpoint .* failed: HTTP 503"):
            run("alpagasus_api", CONVS[:1], api_url=judge.url, api_retries=1, api_backoff_s=0.0)
    with pytest.raises(ScoreError, match="api_url"):
        run("alpagasus_api", CONVS)
    assert alpagasus.chat_url("http://h:1/v1/chat/completions") == "http://h:1/v1/chat/completions"


def test_api_backend_streams_the_pool_and_validates_before_paying(monkeypatch, tmp_path):
    """A pool file read 2 rows at a time gives the table's scores; a row with no assistant turn
    (here the last) fails before any request is sent."""
    from selectbench.pools.load import write_pool
    from selectbench.scoring.base import PoolFile

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    convs = CONVS + [[{"role": "user", "content": "Q3"}, {"role": "assistant", "content": "A3"}],
                     [{"role": "user", "content": "Q4"}, {"role": "assistant", "content": "A4"}]]
    df = pd.DataFrame({"id": [f"e{i}" for i in range(5)], "source": ["t"] * 5, "messages": convs,
                       "origin": ["{}"] * 5})
    write_pool(df, tmp_path / "pool.parquet", tmp_path / "stats.json")
    spec = SCORERS.get("alpagasus_api")
    assert spec.streams
    replies = {"Q0": "4", "Q1": "2", "Q2": "5", "Q3": "1", "Q4": "3.5"}
    with FakeJudge(replies) as judge:
        ctx = ScoreContext(params=spec.resolved_params({"api_url": judge.url, "api_workers": 3, "api_key_env": ""}))
        streamed = spec.fn(PoolFile(str(tmp_path / "pool.parquet"), chunk_rows=2), ctx)
        table = spec.fn(pool_of(convs), ctx)
    assert streamed["id"].tolist() == [f"e{i}" for i in range(5)]
    assert streamed["score"].tolist() == table["score"].tolist() == [4.0, 2.0, 5.0, 1.0, 3.5]
    assert streamed["judge_text"].tolist() == table["judge_text"].tolist()
    assert streamed.attrs["cost"] == table.attrs["cost"]
    df["messages"] = convs[:4] + [[{"role": "user", "content": "Q4"}]]
    write_pool(df, tmp_path / "bad.parquet", tmp_path / "bad.json")
    with FakeJudge(replies) as judge:
        ctx = ScoreContext(params=spec.resolved_params({"api_url": judge.url, "api_key_env": ""}))
        with pytest.raises(ScoreError, match="id 'e4': no assistant turn to rate"):
            spec.fn(PoolFile(str(tmp_path / "bad.parquet"), chunk_rows=2), ctx)
        assert judge.requests == []


# ---------------------------------------------------------------------------- threshold_top

def select(scores, budget, seed=0, **params):
    df = pd.DataFrame({"id": [f"x{i}" for i in range(len(scores))], "score": scores})
    return SELECTORS.get("threshold_top").fn(SelectContext(df[["id"]], df, budget, seed, params))


def test_threshold_top_keeps_passing_then_fills_by_score():
    scores = [4.6, 3.0, 4.5, 2.0, 4.0, 4.0, 5.0]
    # 3 pass (5.0, 4.6, 4.5); the budget of 5 is filled by score, ties in pool order
    assert select(scores, 5) == ["x6", "x0", "x2", "x4", "x5"]
    assert select(scores, 3) in (["x0", "x2", "x6"], ["x0", "x6", "x2"], ["x2", "x0", "x6"],
                                 ["x2", "x6", "x0"], ["x6", "x0", "x2"], ["x6", "x2", "x0"])
    assert select(scores, 7) == ["x6", "x0", "x2", "x4", "x5", "x1", "x3"]
    assert select(scores, 2, threshold=10.0) == ["x6", "x0"]        # none pass: pure fill = top_k


def test_threshold_top_over_budget_random_or_top():
    scores = [4.5, 4.9, 4.6, 1.0, 4.7, 4.8]
    picks = {tuple(select(scores, 2, seed=s)) for s in range(30)}
    assert len(picks) > 1 and all(set(p) <= {"x0", "x1", "x2", "x4", "x5"} for p in picks)
    assert select(scores, 2, seed=3) == select(scores, 2, seed=3)   # deterministic per seed
    assert select(scores, 2, over_budget="top") == ["x1", "x5"]
    assert select(scores, 0) == []
    with pytest.raises(SelectbenchError, match="over_budget"):
        select(scores, 2, over_budget="all")


def test_chasing_random_variant_keeps_score_at_least_4_first_n_in_score_order():
    """2410.15225's Alpagasus: a judge's integer scores, keep ≥ 4, the first N in score order —
    written plainly with Python's stable sort and compared id for id with `threshold_top`."""
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 6, size=80).astype(float)               # integer judge ratings: many ties
    ids = [f"r{i}" for i in range(80)]
    table = pd.DataFrame({"id": ids, "score": scores})
    for n in (10, 25):
        kept = [(i, s) for i, s in zip(ids, scores) if s >= 4]
        want = [i for i, _ in sorted(kept, key=lambda r: r[1], reverse=True)[:n]]
        got = SELECTORS.get("threshold_top").fn(SelectContext(table, table, n, 0,
                                                              {"threshold": 4, "over_budget": "top"}))
        assert got == want
