"""Evaluate one model (base, LoRA adapter or full checkpoint) on configured lm-eval tasks.

The model is loaded once (`HFLM`) and reused for every task; each task runs its own
`simple_evaluate` (tasks differ in n-shot). lm-eval would append a timestamp to its
own result files, so we write one JSON per task ourselves, keeping lm-eval's
`results`, `versions`, `n-shot`, `configs` and `config`, plus per-example records
(`samples`) for paired significance tests.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..io import atomic_write_text

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


def _task_manager(include_path: str | None, need_defaults: bool):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path, include_defaults=need_defaults)


def _check_task_names(tm, tasks: dict) -> None:
    from ..errors import ConfigError
    from ..registry import unknown

    known = set(tm.all_tasks)
    for key, t in tasks.items():
        if t["lm_eval_task"] not in known:
            raise ConfigError(f"evaluation.tasks.{key}.lm_eval_task: "
                              f"{unknown('lm-eval task', t['lm_eval_task'], known)}")


def check_tasks(tasks: dict, include_path: str | None, local_names=()) -> dict:
    """Resolve every configured task name with lm-eval's own task index (no model, no data).

    Returns {config key: {lm_eval_task, num_fewshot, kind}}; an unknown name is a
    ConfigError naming the key, with the closest known name. The workflow runs this as
    an early job that every scoring and fine-tuning job waits for.
    """
    need_defaults = any(t["lm_eval_task"] not in local_names for t in tasks.values())
    tm = _task_manager(include_path, need_defaults)
    _check_task_names(tm, tasks)
    return {key: {"lm_eval_task": t["lm_eval_task"], "num_fewshot": t["num_fewshot"],
                  "kind": "local" if t["lm_eval_task"] in local_names else "lm-eval"}
            for key, t in tasks.items()}


def evaluate(model_args: dict, tasks: dict, out_paths: dict, include_path: str | None,
             bootstrap_iters: int = 0, apply_chat_template: bool = False, seed: int = 1234,
             local_names: tuple = ()) -> dict:
    """Run every task in `tasks` (config key → spec) and write `out_paths[key]` JSONs."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.utils import handle_non_serializable

    need_defaults = any(t["lm_eval_task"] not in local_names for t in tasks.values())
    tm = _task_manager(include_path, need_defaults)
    _check_task_names(tm, tasks)
    add_bos = {"add_bos_token": True}
    lm = HFLM(**model_args, **add_bos)
    written = {}
    for key, spec in tasks.items():
        t0 = time.time()
        res = lm_eval.simple_evaluate(
            model=lm, tasks=[spec["lm_eval_task"]], num_fewshot=spec["num_fewshot"],
            limit=spec.get("limit"), gen_kwargs=spec.get("gen_kwargs"), task_manager=tm,
            bootstrap_iters=bootstrap_iters, apply_chat_template=apply_chat_template,
            log_samples=True, random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
            fewshot_random_seed=seed,
        )
        record = {
            "task": key,
            "lm_eval_task": spec["lm_eval_task"],
            "num_fewshot": spec["num_fewshot"],
            "limit": spec.get("limit"),
            "results": res["results"],
            "groups": res.get("groups", {}),
            "versions": res["versions"],
            "n-shot": res["n-shot"],
            "configs": res["configs"],
            "config": {k: v for k, v in res.get("config", {}).items() if k != "model_args"},
            "model_args": model_args,
            "n_samples": res.get("n-samples", {}),
            "samples": {name: [{k: v for k, v in s.items() if k not in SAMPLE_DROP} for s in rows]
                        for name, rows in res.get("samples", {}).items()},
            "wall_s": round(time.time() - t0, 3),
            "lm_eval_version": lm_eval.__version__ if hasattr(lm_eval, "__version__") else None,
        }
        text = json.dumps(record, sort_keys=True, indent=1, default=handle_non_serializable, ensure_ascii=False)
        atomic_write_text(text + "\n", out_paths[key])
        written[key] = record
    return written
