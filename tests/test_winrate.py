"""Judged win rate: metric formulas, the position-swap rule, the local judge's logits, the API
judge against a local fake server, bad inputs, the JSON read by the reports, the workflow."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from selectbench.analysis.significance import Options, significance_table
from selectbench.analysis.tidy import tidy_table
from selectbench.errors import ConfigError, DataError, ScoreError
from selectbench.evaluation import winrate as wr
from selectbench.formatting import prompt_for
from selectbench.modeling import ModelRef, load_causal_lm, load_tokenizer
from test_method_alpagasus import FakeJudge
from test_workflow import REPO, small_config

SPEC = {"max_new_tokens": 6, "prompt_format": "tulu", "batch_size": 4}


def api_judge(url, **kw):
    return {"api_url": url, "api_model": "judge-1", "api_key_env": "SB_TEST_JUDGE_KEY", "max_tokens": 8,
            "unparsable": "error", "api_workers": 2, "api_timeout": 10, "api_retries": 0, "api_backoff_s": 0.0,
            **kw}


def record_of(preferred, task="winrate_t"):
    """A result JSON from given per-order preferences (N = len / 2), no model involved."""
    n = len(preferred) // 2
    rows = [{"id": f"i{k}", "instruction": f"Q{k}", "input": ""} for k in range(n)]
    spec = {**SPEC, "judge": {"api_url": "x"}}
    return wr.result_record(task, task[len("winrate_"):], spec, rows, ["c"] * n, ["r"] * n,
                            {"preferred": np.asarray(preferred), "texts": ["1"] * (2 * n), "tokens": 0},
                            {"pretrained": "m", "device": "cpu"}, {"kind": "api"}, 0.0)


# ---------------------------------------------------------------------------- formulas

def test_metrics_on_a_hand_checked_case():
    # pairs: win (1, 2), loss (2, 1), tie (1, 1: position bias), tie (2, 2), win, tie (0 = no preference)
    pref = [1, 2, 2, 1, 1, 1, 2, 2, 1, 2, 0, 2]
    out = wr.outcomes(pref)
    assert out.tolist() == [1, -1, 0, 0, 1, 0]
    s = wr.summarize(out, pref)
    v = s["values"]
    assert v["win_rate"] == pytest.approx(2 / 6) and v["loss_rate"] == pytest.approx(1 / 6)
    assert v["tie_rate"] == pytest.approx(3 / 6)
    assert v["winning_score"] == pytest.approx((2 - 1) / 6 + 1)            # 2402.05123
    assert v["win_rate_ties_half"] == pytest.approx((2 + 0.5 * 3) / 6)    # AlpacaEval, ties half
    x = np.array([1, 0, 0, 0, 1, 0], float)
    assert s["stderr"]["win_rate"] == pytest.approx(x.std(ddof=1) / np.sqrt(6))
    assert s["counts"] == {"n": 6, "wins": 2, "ties": 3, "losses": 1}
    o = s["order"]
    assert o["position_1_preferred"] == pytest.approx(5 / 12) and o["no_preference"] == pytest.approx(1 / 12)
    assert o["candidate_preferred_when_first"] == pytest.approx(3 / 6)
    assert o["consistent_pairs"] == pytest.approx(3 / 6)
    assert wr.stderr([1.0]) == "N/A"


def test_a_judge_that_always_picks_position_1_gives_only_ties():
    s = wr.summarize(wr.outcomes([1] * 10), [1] * 10)
    assert s["values"]["win_rate"] == 0 and s["values"]["loss_rate"] == 0 and s["values"]["tie_rate"] == 1
    assert s["values"]["winning_score"] == 1 and s["values"]["win_rate_ties_half"] == 0.5
    assert s["order"]["position_1_preferred"] == 1 and s["order"]["consistent_pairs"] == 0


def test_parse_choice_and_the_unparsable_policy():
    for text, want in (("1", 1), (" 2\n", 2), ("(1)", 1), ("Output (2).", 2), ("output 1", 1)):
        assert wr.parse_choice(text, "x", "candidate first") == want
    with pytest.raises(ScoreError, match=r"instruction id 'q7' \(reference first\).*not '1' or '2': 'Both are fine'"):
        wr.parse_choice("Both are fine", "q7", "reference first")
    with pytest.raises(ScoreError, match="q7"):
        wr.parse_choice("1 or 2", "q7", "candidate first")
    assert wr.parse_choice("Both are fine", "q7", "candidate first", "tie") == 0


# ---------------------------------------------------------------------------- the local judge

def test_local_judge_reads_the_two_choice_logits_of_each_order(tiny_model_dir):
    ref = ModelRef(tiny_model_dir)
    tok, model = load_tokenizer(ref), load_causal_lm(ref, "cpu", torch.float32)
    rows = [{"id": "a", "instruction": "Name a fruit.", "input": ""},
            {"id": "b", "instruction": "Is it good?", "input": "The food was great."}]
    pairs = wr.ordered_pairs(rows, ["apple", "positive"], ["stone", "negative"])
    assert pairs[1] == {"instruction": "Name a fruit.", "output_1": "stone", "output_2": "apple"}
    assert pairs[2]["instruction"] == "Is it good?\n\nThe food was great."
    got = wr.judge_local(model, tok, pairs, "auto", 2, 512, "cpu", ["a", "b"])
    assert got["prompt_format"] == "tulu"                          # no chat template → Tulu
    one, two = (tok(c, add_special_tokens=False)["input_ids"][-1] for c in wr.CHOICES)
    for j, p in enumerate(pairs):
        text = prompt_for(wr.judge_messages(p["instruction"], p["output_1"], p["output_2"]))
        ids = torch.tensor([tok(text)["input_ids"]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, -1]
        want = 1 if logits[one] > logits[two] else 2
        assert got["preferred"][j] == want
        assert got["logits"][j] == pytest.approx([logits[one].item(), logits[two].item()], abs=1e-4)


# ---------------------------------------------------------------------------- the API judge

ROWS = [{"id": f"q{k}", "instruction": f"Question {k}?", "input": ""} for k in range(3)]


def test_api_judge_position_swap_against_a_fake_server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("SB_TEST_JUDGE_KEY", "sk-test")
    # q0: the judge prefers the candidate in both orders (win); q1: the reference in both (loss);
    # q2: always position 1 (tie)
    cand, ref = ["GOOD-0", "BAD-1", "X-2"], ["BAD-0", "GOOD-1", "Y-2"]
    pairs = wr.ordered_pairs(ROWS, cand, ref)
    replies = {"(1):\nGOOD-0": "1", "(2):\nGOOD-0": "Output (2)", "(1):\nGOOD-1": "1", "(2):\nGOOD-1": "2",
               "Question 2": "(1)"}
    with FakeJudge(replies) as judge:
        got = wr.judge_api(pairs, [r["id"] for r in ROWS], api_judge(judge.url))
    assert got["preferred"].tolist() == [1, 2, 2, 1, 1, 1]
    assert wr.outcomes(got["preferred"]).tolist() == [1, -1, 0]
    assert len(judge.requests) == 6 and judge.requests[0][1] == "Bearer sk-test"
    body = judge.requests[0][2]
    assert body["temperature"] == 0 and body["model"] == "judge-1"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    with FakeJudge({"Question 0": "1", "Question 1": "I cannot decide", "Question 2": "2"}) as judge:
        with pytest.raises(ScoreError, match=r"instruction id 'q1' \(candidate first\)"):
            wr.judge_api(pairs, [r["id"] for r in ROWS], api_judge(judge.url))
        got = wr.judge_api(pairs, [r["id"] for r in ROWS], api_judge(judge.url, unparsable="tie"))
    assert got["preferred"].tolist() == [1, 1, 0, 0, 2, 2]
    with FakeJudge({}, fail_first=10) as judge:
        with pytest.raises(ScoreError, match=r"instruction id 'q0' \(candidate first\).*HTTP 503"):
            wr.judge_api(pairs[:2], ["q0"], api_judge(judge.url))


def test_end_to_end_with_an_api_judge_that_always_says_1(tiny_model_dir, tmp_path, monkeypatch):
    """A checkpoint-free (base-model) run: generation through lm-eval's HFLM, reference from a
    field, an API judge with position bias only → every pair a tie."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    rows = [{"id": f"r{k}", "instruction": f"Name thing {k}.", "gold": f"thing {k}"} for k in range(4)]
    src = tmp_path / "set.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with FakeJudge({"thing": "1"}) as judge:
        spec = {**SPEC, "instructions": {"path": str(src), "id_field": "id", "limit": None},
                "reference": {"field": "gold"}, "judge": api_judge(judge.url)}
        assert wr.write_instructions("t", spec, tmp_path / "ins.jsonl") == 4
        wr.write_reference("t", spec, tmp_path / "ins.jsonl", None, "cpu", tmp_path / "ref.jsonl")
        base = {"name_or_path": tiny_model_dir, "revision": None}
        rec = wr.evaluate_winrate(None, base, "t", spec, tmp_path / "ins.jsonl", tmp_path / "ref.jsonl", None,
                                  "cpu", tmp_path / "winrate_t.json")
    assert len(judge.requests) == 8
    saved = json.loads((tmp_path / "winrate_t.json").read_text())
    res = saved["results"]["winrate_t"]
    assert res["win_rate,none"] == 0 and res["winning_score,none"] == 1 and res["win_rate_ties_half,none"] == 0.5
    assert saved["winrate"]["values"]["tie_rate"] == 1 and saved["winrate"]["order"]["position_1_preferred"] == 1
    assert saved["n-samples"]["winrate_t"] == {"original": 4, "effective": 4}
    s = saved["samples"]["winrate_t"]
    assert [x["id"] for x in s] == ["r0", "r1", "r2", "r3"] and s[0]["reference_output"] == "thing 0"
    assert s[0]["preferred"] == {"candidate_first": 1, "reference_first": 1} and s[0]["outcome"] == "tie"
    assert rec["model_args"]["pretrained"] == tiny_model_dir and "peft" not in rec["model_args"]
    from lm_eval.utils import make_table

    assert "win_rate" in make_table(saved)                      # lm-eval's own tooling reads it


# ---------------------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("line, match", [
    ({"id": "a", "input": "x"}, r"set\.jsonl:2: field 'instruction': missing"),
    ({"id": "a", "instruction": "  "}, r"set\.jsonl:2: field 'instruction': empty"),
    ({"instruction": "Q"}, r"set\.jsonl:2: field 'id': missing or empty id"),
    ({"id": "first", "instruction": "Q"}, r"set\.jsonl:2: field 'id': duplicate id 'first' \(first at row 1\)"),
    ({"id": "b", "instruction": "Q", "input": 3}, r"set\.jsonl:2: field 'input': not a string \(int\)"),
])
def test_bad_instruction_rows_name_file_row_and_field_and_leave_no_output(tmp_path, line, match):
    src = tmp_path / "set.jsonl"
    src.write_text(json.dumps({"id": "first", "instruction": "Q"}) + "\n" + json.dumps(line) + "\n")
    spec = {"instructions": {"path": str(src), "id_field": "id", "limit": None}, "reference": {"model": "m"}}
    with pytest.raises(DataError, match=match):
        wr.write_instructions("t", spec, tmp_path / "out" / "ins.jsonl")
    assert not (tmp_path / "out" / "ins.jsonl").exists()


def test_reference_field_missing_and_pool_rows(tmp_path):
    src = tmp_path / "set.jsonl"
    src.write_text(json.dumps({"id": "a", "instruction": "Q"}) + "\n")
    spec = {"instructions": {"path": str(src), "id_field": "id", "limit": None}, "reference": {"field": "output"}}
    with pytest.raises(DataError, match=r"set\.jsonl:1: field 'output': missing"):
        wr.write_instructions("t", spec, tmp_path / "ins.jsonl")
    pool = pd.DataFrame({"id": ["p0", "p1"], "messages": [
        [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "hi"}],
        [{"role": "user", "content": "Say bye."}, {"role": "assistant", "content": "bye"}]]})
    pool.to_parquet(tmp_path / "pool.parquet")
    spec["instructions"]["path"] = str(tmp_path / "pool.parquet")
    assert wr.write_instructions("t", spec, tmp_path / "ins.jsonl") == 2
    assert wr.read_instructions(tmp_path / "ins.jsonl")[1] == {"id": "p1", "instruction": "Say bye.", "input": "",
                                                              "reference": "bye"}
    (tmp_path / "ref.jsonl").write_text(json.dumps({"id": "p0", "output": "x"}) + "\n")
    with pytest.raises(DataError, match=r"ref\.jsonl: field 'id': no reference output for instruction id 'p1'"):
        wr.read_reference(tmp_path / "ref.jsonl", wr.read_instructions(tmp_path / "ins.jsonl"))


# ---------------------------------------------------------------------------- the reports read it

def test_tidy_and_paired_significance_read_the_json(tmp_path):
    rng = np.random.default_rng(0)
    units = []
    for method, p_win in (("random", 0.2), ("good", 0.8)):
        for seed in (0, 1):
            n = 60
            cand_first = np.where(rng.random(n) < p_win, 1, 2)
            cand_second = np.where(rng.random(n) < p_win, 2, 1)
            pref = np.stack([cand_first, cand_second], axis=1).ravel()
            path = tmp_path / f"{method}{seed}.json"
            path.write_text(json.dumps(record_of(pref)))
            units.append(dict(pool="p", base_model="m", preset="lora", method=method, budget=100, seed=seed,
                              task="winrate_t", path=str(path)))
    tidy = tidy_table(units)
    assert set(tidy["metric"]) == {"win_rate", "winning_score", "win_rate_ties_half"}
    assert set(tidy["task"]) == {"winrate_t"} and (tidy["n"] == 60).all() and tidy["stderr"].notna().all()
    sig = significance_table(tidy, Options(resamples=2000), units=units)
    paired = sig[sig["test"] == "paired_bootstrap"]
    assert len(paired) == 3 and paired["p_value"].notna().all(), paired["note"].tolist()
    assert (paired["effect"] > 0.3).all() and paired["significant"].all()
    assert paired["note"].str.contains("items paired by doc_id").all()


# ---------------------------------------------------------------------------- config and workflow

def winrate_config(**judge):
    cfg = small_config()
    cfg["evaluation"]["winrate"] = {"mini": {
        "instructions": {"build": {"generator": "demo_instructions", "params": {"seed": 1, "n_per_task": 3}}},
        "reference": {"model": "tiny"},
        "judge": judge or {"model": "tiny", "prompt_format": "tulu", "max_length": 512},
        "max_new_tokens": 4, "batch_size": 6}}
    return cfg


def test_config_errors_name_the_key():
    from selectbench.config import check_config

    cfg = winrate_config(model="tiny", api_url="http://x")
    with pytest.raises(ConfigError, match=r"evaluation.winrate.mini.judge: give exactly one of model, api_url"):
        check_config(cfg)
    cfg = winrate_config(model="tyni")
    with pytest.raises(ConfigError, match=r"judge.model: .*'tyni'.*did you mean 'tiny'"):
        check_config(cfg)
    cfg = winrate_config()
    cfg["evaluation"]["tasks"]["winrate_mini"] = {"lm_eval_task": "demo_sentiment_mc", "num_fewshot": 0}
    with pytest.raises(ConfigError, match="report task 'winrate_mini' is also a key of evaluation.tasks"):
        check_config(cfg)
    cfg = winrate_config()
    cfg["evaluation"]["winrate"]["mini"]["instructions"]["path"] = "x.jsonl"
    with pytest.raises(ConfigError, match=r"instructions: give exactly one of path, hub, build"):
        check_config(cfg)
    cfg = winrate_config()
    cfg["evaluation"]["winrate"]["mini"]["judge"]["unparsable"] = "tie"
    with pytest.raises(ConfigError, match="unparsable apply to an API judge"):
        check_config(cfg)


def run_snakemake(wd, cfg, *args):
    path = wd / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(wd), "--configfile", str(path), "--cores", "2", *args],
                          capture_output=True, text=True, env=env)


def test_workflow_plans_winrate_jobs_from_config(tmp_path):
    res = run_snakemake(tmp_path, winrate_config(), "-n", "--quiet", "rules")
    assert res.returncode == 0, res.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", res.stdout, re.M))
    units = 4 + 1                                   # random, balanced, longest, ppl_low at b40 + full
    assert counts["winrate"] == str(units) and counts["winrate_base"] == "1"
    assert counts["winrate_reference"] == "1" and counts["winrate_instructions"] == "1"


@pytest.mark.slow   # a workflow run (make test-fast skips it)
def test_workflow_runs_the_base_model_winrate_job(tmp_path):
    """The cheapest real chain: tiny model build → instructions → reference → winrate_base."""
    res = run_snakemake(tmp_path, winrate_config(), "results/evals/base/tiny/winrate_mini.json")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    rec = json.loads((tmp_path / "results/evals/base/tiny/winrate_mini.json").read_text())
    assert rec["task"] == "winrate_mini" and rec["n-samples"]["winrate_mini"]["effective"] == 6
    assert rec["winrate"]["judge"]["kind"] == "local"
    ref = [json.loads(x) for x in (tmp_path / "results/winrate/mini/reference.jsonl").read_text().splitlines()]
    assert len(ref) == 6 and ref[0]["generator"] == "model:tiny"
    # the base model is its own reference here: identical answers → the judge's order bias decides → ties only
    assert [s["output"] for s in rec["samples"]["winrate_mini"]] == [r["output"] for r in ref]
    assert rec["winrate"]["counts"]["wins"] == 0 and rec["winrate"]["counts"]["losses"] == 0
    assert (tmp_path / "benchmarks/evals/base/tiny/winrate_mini.tsv").exists()
    assert (tmp_path / "results/evals/base/tiny/winrate_mini.json.prov.json").exists()
    tidy = tidy_table([dict(pool="demo", base_model="tiny", preset="lora", method="base", budget="none",
                            seed=None, path=str(tmp_path / "results/evals/base/tiny/winrate_mini.json"))])
    assert set(tidy["metric"]) == set(wr.METRICS)
