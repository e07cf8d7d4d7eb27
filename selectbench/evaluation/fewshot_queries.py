"""Query sets from lm-eval tasks: each target task's few-shot (or dev) examples as chat pairs.

RDS+, Embed and LESS select for a target task with a handful of its examples (the
RDS+ paper's `gsm8k_shots`, `bbh_shots`, `mmlu_shots`, …: the tasks' few-shot
exemplars). Generator `lm_eval_fewshot` builds such a query file at run time from the
same lm-eval tasks the benchmark runs:

    query_sets:
      targets:
        build:
          generator: lm_eval_fewshot
          params:
            tasks:
              gsm8k: {lm_eval_task: gsm8k_cot, n: 8}                 # the 8 CoT exemplars
              mmlu: {lm_eval_task: mmlu, n: 5, split: fewshot}      # 5 dev examples per subject

For every leaf task of `lm_eval_task` (a group gives all its subtasks) the first `n`
documents of `split` are taken in the task's order — `fewshot` (default: the task's
few-shot source — its `fewshot_split` or listed samples, else its train, else its
validation split; never the test split), `validation`, `train` or `test` (explicit only: a
query set from the test split leaks the benchmark into the selection). Each document
becomes `{"task": <config name>, "messages": [user: doc_to_text, assistant: target]}`;
a multiple-choice target is the text of the gold choice. Loading the task's data needs
the dataset hub (or a local `include_path` task), so this runs as a job, never at
planning time.
"""

from __future__ import annotations

import json

from ..errors import ConfigError, DataError
from ..io import atomic_write_text

SPLITS = ("fewshot", "validation", "train", "test")


def _leaves(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    else:
        yield obj


def _docs(task, split: str):
    if split == "fewshot":
        # lm-eval's own fallback ends at the test split; here it stops at validation
        cfg = getattr(task, "fewshot_cfg", None)
        if cfg is not None and (cfg.split is not None or (task.config.fewshot_config is not None
                                                          and cfg.samples is not None)):
            docs = task.fewshot_docs()
        elif task.has_training_docs():
            docs = task.training_docs()
        elif task.has_validation_docs():
            docs = task.validation_docs()
        else:
            docs = None
    elif split == "validation":
        docs = task.validation_docs() if task.has_validation_docs() else None
    elif split == "train":
        docs = task.training_docs() if task.has_training_docs() else None
    else:
        docs = task.test_docs() if task.has_test_docs() else None
    return None if docs is None else list(docs)


def _as_text(value) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()


def doc_messages(task, doc) -> list[dict]:
    """(user, assistant) turns of one lm-eval document."""
    prompt = _as_text(task.doc_to_text(doc))
    target = task.doc_to_target(doc)
    if task.OUTPUT_TYPE == "multiple_choice" and isinstance(target, int):
        target = task.doc_to_choice(doc)[target]
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": _as_text(target)}]


def write_lm_eval_queries(out_path, tasks: dict, include_path: str | None = None) -> int:
    """Write the query JSONL; return the number of queries."""
    from lm_eval.tasks import TaskManager, get_task_dict

    tm = TaskManager(include_path=include_path, include_defaults=include_path is None)
    lines = []
    for name, spec in tasks.items():
        where = f"query_sets…params.tasks.{name}"
        split, n = spec.get("split", "fewshot"), int(spec.get("n", 5))
        if split not in SPLITS:
            raise ConfigError(f"{where}.split: one of {', '.join(SPLITS)} (got {split!r})")
        if n < 1:
            raise ConfigError(f"{where}.n: must be >= 1 (got {n})")
        leaves = list(_leaves(get_task_dict([spec["lm_eval_task"]], tm)))
        for task in leaves:
            docs = _docs(task, split)
            if not docs:
                raise DataError(spec["lm_eval_task"], None, split,
                                f"task '{getattr(task, 'config', None) and task.config.task}' has no {split} documents")
            for k, doc in enumerate(docs[:n]):
                messages = doc_messages(task, doc)
                if not messages[0]["content"] or not messages[1]["content"]:
                    raise DataError(spec["lm_eval_task"], k + 1, "messages",
                                    f"empty prompt or target in {split} document {k + 1}")
                lines.append(json.dumps({"task": name, "messages": messages}, ensure_ascii=False))
    atomic_write_text("\n".join(lines) + "\n", out_path)
    return len(lines)
