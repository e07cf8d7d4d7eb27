"""Query sets built from lm-eval tasks (generator `lm_eval_fewshot`), on the local demo tasks."""

import json

import pytest

from selectbench.errors import DataError
from selectbench.evaluation.demo_tasks import write_demo_tasks
from selectbench.evaluation.fewshot_queries import write_lm_eval_queries
from selectbench.scoring.queries import load_queries


def test_queries_are_the_tasks_documents_as_chat_pairs(tmp_path):
    from lm_eval.tasks import TaskManager, get_task_dict

    tasks_dir = tmp_path / "tasks"
    write_demo_tasks(tasks_dir, seed=0, n_per_task=20)
    out = tmp_path / "q.jsonl"
    n = write_lm_eval_queries(out, {"sentiment": {"lm_eval_task": "demo_sentiment_mc", "n": 3, "split": "test"},
                                    "category": {"lm_eval_task": "demo_category_gen", "n": 2, "split": "test"}},
                              include_path=str(tasks_dir))
    assert n == 5
    q = load_queries(out)                                        # a valid query file
    assert [t for t, _ in q] == ["sentiment"] * 3 + ["category"] * 2
    task = get_task_dict(["demo_sentiment_mc"], TaskManager(include_path=str(tasks_dir),
                                                            include_defaults=False))["demo_sentiment_mc"]
    doc = list(task.test_docs())[0]
    gold = task.doc_to_choice(doc)[task.doc_to_target(doc)]
    assert q[0][1] == [{"role": "user", "content": task.doc_to_text(doc).strip()},
                       {"role": "assistant", "content": str(gold).strip()}]
    with pytest.raises(DataError, match="no fewshot documents"):
        write_lm_eval_queries(tmp_path / "x.jsonl", {"s": {"lm_eval_task": "demo_sentiment_mc"}},
                              include_path=str(tasks_dir))
    assert not (tmp_path / "x.jsonl").exists()
