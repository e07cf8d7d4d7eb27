"""lm-eval tasks for the demo: held-out sentiment and category benchmarks.

`write_demo_tasks` writes, per task, a JSONL of documents and an lm-eval YAML
beside it. lm-eval 0.4.13 resolves ``dataset_kwargs.data_files`` against the working
directory, so the YAMLs name their data relative to themselves and load it through
``custom_dataset: !function selectbench_task_loader.load`` — lm-eval imports that
module from the YAML's own folder and calls it with ``dataset_kwargs``; it resolves
the files against its ``__file__``. The folder can therefore be moved or copied
(a moved ``results/`` tree, a colleague's copy) and still loads. Prompts use the Tulu chat format of `selectbench.formatting`,
so the answer follows ``<|assistant|>\\n`` directly, without a leading space:

* ``demo_sentiment_mc`` (multiple_choice, ``acc``): is a review positive or
  negative? ``target_delimiter`` is empty, so each choice is scored as the text
  right after the prompt.
* ``demo_category_gen`` (generate_until, ``exact_match``): one-word category of
  an item (fruit, animal, ...), greedy, up to 8 tokens, stopped at a newline,
  EOS or a user tag; the ``strip`` filter trims whitespace and exact match
  ignores case and punctuation. Its metric key is ``exact_match,strip``.
* ``demo_category_mc`` (multiple_choice, ``acc``): the same question, scored
  over the eight category names.

Items come from `selectbench.demo.data.eval_examples`: word combinations
that never occur in the demo pool.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ..demo.data import CATEGORY_NAMES, SENTIMENT_LABELS, eval_examples
from ..formatting import prompt_for

TASK_NAMES = ("demo_sentiment_mc", "demo_category_gen", "demo_category_mc")
GEN_STOP = ["\n", "</s>", "<|user|>"]


def chat_prompt(question: str) -> str:
    """The generation prompt for a single user question."""
    return prompt_for([{"role": "user", "content": question}])


def task_docs(name: str, seed: int, n: int) -> list[dict]:
    """The documents of demo task `name`: {id, prompt, answer[, choices, label]}."""
    source = "sentiment" if name == "demo_sentiment_mc" else "category"
    choices = SENTIMENT_LABELS if source == "sentiment" else CATEGORY_NAMES
    docs = []
    for i, ex in enumerate(eval_examples(source, n, seed)):
        doc = {"id": f"{name}-{i:04d}", "prompt": chat_prompt(ex.prompt), "answer": ex.response}
        if name.endswith("_mc"):
            doc |= {"choices": list(choices), "label": choices.index(ex.response)}
        docs.append(doc)
    return docs


LOADER_MODULE = "selectbench_task_loader"
LOADER_SOURCE = '''"""lm-eval `custom_dataset` loader written by selectbench: data files relative to this folder."""
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load(data_files=None, **_):
    import datasets

    files = {split: str(HERE / name) for split, name in (data_files or {}).items()}
    return datasets.load_dataset("json", data_files=files)
'''


def task_config(name: str, data_file: Path) -> dict:
    """The lm-eval YAML config of demo task `name`, reading `data_file` (named relative to the
    YAML's folder; `write_demo_tasks` adds the `custom_dataset` loader line)."""
    config = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": Path(data_file).name}},
        "test_split": "test",
        "doc_to_text": "prompt",
    }
    if name.endswith("_mc"):
        return config | {
            "output_type": "multiple_choice",
            "doc_to_choice": "choices",
            "doc_to_target": "label",
            "target_delimiter": "",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        }
    return config | {
        "output_type": "generate_until",
        "doc_to_target": "answer",
        "target_delimiter": "",
        "generation_kwargs": {"until": GEN_STOP, "max_gen_toks": 8, "do_sample": False},
        "filter_list": [{"name": "strip", "filter": [{"function": "remove_whitespace"},
                                                     {"function": "take_first"}]}],
        "metric_list": [{"metric": "exact_match", "aggregation": "mean",
                         "higher_is_better": True, "ignore_case": True,
                         "ignore_punctuation": True}],
    }


def write_demo_tasks(out_dir, seed: int, n_per_task: int) -> list[str]:
    """Write `<task>.jsonl` + `<task>.yaml` for every demo task; return the task names.

    Use the folder with ``lm_eval.tasks.TaskManager(include_path=out_dir,
    include_defaults=False)``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in TASK_NAMES:
        data_file = out / f"{name}.jsonl"
        docs = task_docs(name, seed, n_per_task)
        data_file.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs),
                             encoding="utf-8")
        (out / f"{name}.yaml").write_text(
            yaml.safe_dump(task_config(name, data_file), sort_keys=False)
            + f"custom_dataset: !function {LOADER_MODULE}.load\n", encoding="utf-8")
    (out / f"{LOADER_MODULE}.py").write_text(LOADER_SOURCE, encoding="utf-8")
    return list(TASK_NAMES)
