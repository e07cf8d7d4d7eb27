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


def test_llmbar_task_from_the_include_path(tmp_path, tiny_model_dir):
    """The shipped LLMBar tasks (config/tasks/llmbar) run through `evaluation.include_path`, on
    a local copy of rows in LLMBar's own format (the real files are fetched from GitHub)."""
    import re
    import shutil
    from pathlib import Path

    from selectbench.evaluation.run import check_configured_tasks

    repo = Path(__file__).resolve().parents[1]
    rows = [{"input": f"Say the number {i}.", "output_1": f"{i}" if i % 2 else "banana",
             "output_2": "banana" if i % 2 else f"{i}", "label": 1 if i % 2 else 2} for i in range(6)]
    (tmp_path / "llmbar.json").write_text(json.dumps(rows))
    inc = tmp_path / "inc"
    shutil.copytree(repo / "config" / "tasks", inc)
    nat = inc / "llmbar" / "llmbar_natural.yaml"
    nat.write_text(re.sub(r"https://\S+", str(tmp_path / "llmbar.json"), nat.read_text()))
    ev = {"tasks": {"llmbar": {"lm_eval_task": "llmbar_natural", "num_fewshot": 0}}, "batch_size": 4,
          "bootstrap_iters": 0, "apply_chat_template": False, "local_tasks": None, "include_path": "inc"}
    rec = check_configured_tasks(ev, tmp_path / "none", tmp_path / "check.json", workflow_dir=tmp_path)
    assert rec["tasks"]["llmbar"]["kind"] == "local"
    out = tmp_path / "out" / "llmbar.json"
    evaluate_checkpoint(None, {"name_or_path": tiny_model_dir}, ev, "cpu", tmp_path / "none", [str(out)],
                        workflow_dir=tmp_path)
    res = json.loads(out.read_text())
    samples = res["samples"]["llmbar_natural"]
    assert len(samples) == 6 and [s["target"] for s in samples] == [r["label"] - 1 for r in rows]
    assert 0.0 <= res["results"]["llmbar_natural"]["acc,none"] <= 1.0
    assert "# Output (b):" in res["configs"]["llmbar_natural"]["doc_to_text"]
    # the shipped folder itself resolves both task names without any network
    shipped = dict(ev, tasks={"a": {"lm_eval_task": "llmbar_natural", "num_fewshot": 0},
                              "b": {"lm_eval_task": "llmbar_adversarial", "num_fewshot": 0}},
                   include_path="config/tasks")
    rec = check_configured_tasks(shipped, tmp_path / "none", tmp_path / "check2.json", workflow_dir=repo)
    assert {t["kind"] for t in rec["tasks"].values()} == {"local"}
