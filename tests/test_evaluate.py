"""lm-eval on local tasks: one JSON per task at the declared path, lm-eval's fields kept."""

import json

import pytest

from selectbench.analysis import summarize, tidy_table
from selectbench.evaluation import write_local_tasks
from selectbench.evaluation.run import evaluate_checkpoint
from selectbench.errors import ConfigError

EVAL = {
    "tasks": {"sentiment": {"lm_eval_task": "demo_sentiment_mc", "num_fewshot": 0, "limit": 8},
              "category": {"lm_eval_task": "demo_category_gen", "num_fewshot": 0, "limit": 8}},
    "batch_size": 8, "bootstrap_iters": 0, "apply_chat_template": False,
    "local_tasks": {"generator": "demo_tasks", "params": {"seed": 0, "n_per_task": 20}},
}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("eval")
    write_local_tasks("demo_tasks", tmp / "tasks", EVAL["local_tasks"]["params"])
    outs = [str(tmp / "out" / f"{t}.json") for t in EVAL["tasks"]]
    evaluate_checkpoint(None, {"name_or_path": tiny_model_dir}, EVAL, "cpu", tmp / "tasks", outs)
    return tmp, outs


def test_one_json_per_task_with_lm_eval_fields(evaluated):
    _, outs = evaluated
    for path in outs:
        rec = json.loads(open(path).read())
        for key in ("results", "versions", "n-shot", "configs", "config", "samples"):
            assert key in rec
        sub = rec["lm_eval_task"]
        assert rec["n-shot"][sub] == 0 and len(rec["samples"][sub]) == 8
    sent = json.loads(open(outs[0]).read())
    assert 0.0 <= sent["results"]["demo_sentiment_mc"]["acc,none"] <= 1.0


def test_tidy_and_summary_from_jsons(evaluated):
    _, outs = evaluated
    recs = []
    for seed in (0, 1):
        for method in ("random", "m"):
            recs += [dict(pool="p", base_model="b", preset="x", method=method, budget="10", seed=seed,
                          task=t, path=o) for t, o in zip(EVAL["tasks"], outs)]
    tidy = tidy_table(recs)
    assert set(tidy["metric"]) >= {"acc", "exact_match"}
    assert len(tidy) == 8
    summ = summarize(tidy, "random")
    assert (summ["n_seeds"] == 2).all() and (summ["std"] == 0).all()
    assert (summ["delta_vs_baseline"] == 0).all()


def test_unknown_task_name_suggests(tmp_path, evaluated, tiny_model_dir):
    tmp, _ = evaluated
    bad = dict(EVAL, tasks={"s": {"lm_eval_task": "demo_sentiment_m", "num_fewshot": 0}})
    with pytest.raises(ConfigError, match="did you mean 'demo_sentiment_mc'"):
        evaluate_checkpoint(None, {"name_or_path": tiny_model_dir}, bad, "cpu", tmp / "tasks",
                            [str(tmp_path / "s.json")])
