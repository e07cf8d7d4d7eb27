"""Evaluate one model (base, LoRA adapter or full checkpoint) on configured lm-eval tasks.

The model is loaded once (`HFLM`) and reused for every task; each task runs its own
`simple_evaluate` (tasks differ in n-shot). lm-eval would append a timestamp to its
own result files, so we write one JSON per task ourselves, with lm-eval's full
aggregated-results schema (what its CLI writes: `results`, `groups`, `group_subtasks`,
`configs`, `versions`, `n-shot`, `higher_is_better`, `n-samples`, `config`, `git_hash`,
`date`, environment and tokenizer fields, `task_hashes`, `model_source`, `model_name`,
`model_name_sanitized`, `total_evaluation_time_seconds`, ...),
so lm-eval's own tooling reads it, plus selectbench's keys (`task`, `lm_eval_task`,
`num_fewshot`, `limit`, `model_args`, `wall_s`, `lm_eval_version`) and the per-example
records under `samples` (lm-eval writes those to a separate file; we keep them inside
the one JSON so that paired significance tests read one declared output per task).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ..io import atomic_write_text

log = logging.getLogger(__name__)

SAMPLE_DROP = ("doc", "arguments", "resps")  # large; filtered_resps + metrics are kept


def model_args_for(checkpoint: str | None, base: dict, device: str, dtype: str, batch_size) -> dict:
    """HFLM arguments: base model alone, base + peft adapter, or a full checkpoint."""
    args = {"device": device, "dtype": dtype, "batch_size": batch_size}
    if checkpoint is None:
        args["pretrained"] = base["name_or_path"]
        if base.get("revision"):
            args["revision"] = base["revision"]
        return args
    from ..modeling import checkpoint_record

    meta = checkpoint_record(checkpoint)
    if meta["peft"] == "lora":
        args["pretrained"] = base["name_or_path"]
        if base.get("revision"):
            args["revision"] = base["revision"]
        args["peft"] = str(checkpoint)
        args["tokenizer"] = str(checkpoint)
    else:
        args["pretrained"] = str(checkpoint)
    return args


def model_name_args(model_args: dict) -> str:
    """lm-eval's `--model_args` string of `model_args` (what its CLI records in `config`)."""
    return ",".join(f"{k}={v}" for k, v in model_args.items())


def _task_manager(include_path: str | None, need_defaults: bool):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path, include_defaults=need_defaults)


def unreadable_task_files(include_path: str | list | None) -> list[str]:
    """'FILE:LINE: problem' for each task YAML under `include_path` that lm-eval's own loader
    cannot read. lm-eval's task index skips such a file with a debug message only, so a
    task defined there would just be 'unknown'."""
    import yaml
    from lm_eval.tasks._yaml_loader import load_yaml

    roots = [include_path] if isinstance(include_path, str) else list(include_path or [])
    bad = []
    for path in sorted(p for root in roots for p in Path(root).rglob("*.yaml")):
        try:
            load_yaml(path, resolve_func=False)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            bad.append(f"{where}: {e.problem or e.context}")
        except Exception as e:  # an include that is missing or cyclic, a list instead of a mapping
            bad.append(f"{path}: {e}")
    return bad


def _check_task_names(tm, tasks: dict, include_path: str | None = None) -> None:
    from ..errors import ConfigError
    from ..registry import unknown

    known = set(tm.all_tasks)
    bad = unreadable_task_files(include_path)
    for key, t in tasks.items():
        if t["lm_eval_task"] not in known:
            skipped = ("; lm-eval skipped these task files of evaluation.include_path, which it cannot read: "
                       + "; ".join(bad)) if bad else ""
            raise ConfigError(f"evaluation.tasks.{key}.lm_eval_task: "
                              f"{unknown('lm-eval task', t['lm_eval_task'], known, 'lm-eval ls tasks')}{skipped}")
    for line in bad:
        log.warning("lm-eval skips this task file, which it cannot read: %s", line)


def check_tasks(tasks: dict, include_path: str | None, local_names=()) -> dict:
    """Resolve every configured task name with lm-eval's own task index (no model, no data).

    Returns {config key: {lm_eval_task, num_fewshot, kind}}; an unknown name is a
    ConfigError naming the key, with the closest known name. The workflow runs this as
    an early job that every scoring and fine-tuning job waits for.
    """
    need_defaults = any(t["lm_eval_task"] not in local_names for t in tasks.values())
    tm = _task_manager(include_path, need_defaults)
    _check_task_names(tm, tasks, include_path)
    return {key: {"lm_eval_task": t["lm_eval_task"], "num_fewshot": t["num_fewshot"],
                  "kind": "local" if t["lm_eval_task"] in local_names else "lm-eval"}
            for key, t in tasks.items()}


def evaluate(model_args: dict, tasks: dict, out_paths: dict, include_path: str | None,
             bootstrap_iters: int = 0, apply_chat_template: bool = False, seed: int = 1234,
             local_names: tuple = ()) -> dict:
    """Run every task in `tasks` (config key → spec) and write `out_paths[key]` JSONs."""
    from dataclasses import asdict

    import lm_eval
    from lm_eval.loggers.evaluation_tracker import GeneralConfigTracker
    from lm_eval.models.huggingface import HFLM
    from lm_eval.utils import handle_non_serializable, hash_string

    need_defaults = any(t["lm_eval_task"] not in local_names for t in tasks.values())
    tm = _task_manager(include_path, need_defaults)
    _check_task_names(tm, tasks)  # the early check_tasks job named any unreadable task file
    add_bos = {"add_bos_token": True}
    lm = HFLM(**model_args, **add_bos)
    written = {}
    for key, spec in tasks.items():
        t0 = time.time()
        tracker = GeneralConfigTracker()
        tracker.log_experiment_args(model_source="hf", model_args=model_name_args(model_args),
                                    system_instruction=None, chat_template=None,
                                    fewshot_as_multiturn=False)
        res = lm_eval.simple_evaluate(
            model=lm, tasks=[spec["lm_eval_task"]], num_fewshot=spec["num_fewshot"],
            limit=spec.get("limit"), gen_kwargs=spec.get("gen_kwargs"), task_manager=tm,
            bootstrap_iters=bootstrap_iters, apply_chat_template=apply_chat_template,
            log_samples=True, random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
            fewshot_random_seed=seed,
        )
        tracker.log_end_time()
        samples = res.pop("samples", {}) or {}
        record = dict(res)
        record["task_hashes"] = {
            name: hash_string("".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"] for s in rows))
            for name, rows in samples.items()}
        record.update(asdict(tracker))
        record["config"] = dict(res.get("config", {}), model_args=model_name_args(model_args))
        record.update({
            "task": key,
            "lm_eval_task": spec["lm_eval_task"],
            "num_fewshot": spec["num_fewshot"],
            "limit": spec.get("limit"),
            "model_args": model_args,
            "samples": {name: [{k: v for k, v in s.items() if k not in SAMPLE_DROP} for s in rows]
                        for name, rows in samples.items()},
            "wall_s": round(time.time() - t0, 3),
            "lm_eval_version": getattr(lm_eval, "__version__", None),
        })
        text = json.dumps(record, sort_keys=True, indent=1, default=handle_non_serializable, ensure_ascii=False)
        atomic_write_text(text + "\n", out_paths[key])
        written[key] = record
    return written
