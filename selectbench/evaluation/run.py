"""Evaluate one checkpoint (or a base model) on every configured task."""

from __future__ import annotations

from pathlib import Path


def evaluate_checkpoint(checkpoint, base: dict, evaluation: dict, device: str, tasks_dir,
                        outputs: list[str], threads: int = 1) -> dict:
    import torch

    from ..modeling import resolve_device
    from . import local_task_names
    from .lmeval import evaluate, model_args_for

    torch.set_num_threads(threads)
    dev = resolve_device(device)
    dtype = "bfloat16" if dev == "cuda" and torch.cuda.is_bf16_supported() else "float32"
    tasks = evaluation["tasks"]
    by_name = {Path(o).stem: o for o in outputs}
    missing = set(tasks) - set(by_name)
    if missing:
        raise ValueError(f"no output path for tasks {sorted(missing)}")
    local = evaluation.get("local_tasks")
    local_names = local_task_names(local["generator"]) if local else ()
    include = str(Path(tasks_dir).resolve()) if local else None
    args = model_args_for(checkpoint, base, dev, dtype, evaluation["batch_size"])
    return evaluate(args, tasks, by_name, include, bootstrap_iters=evaluation["bootstrap_iters"],
                    apply_chat_template=evaluation["apply_chat_template"], local_names=local_names)


def check_configured_tasks(evaluation: dict, tasks_dir, out_path) -> dict:
    """Resolve the configured lm-eval task names (local tasks from `tasks_dir`) and write a JSON record."""
    from ..io import atomic_write_json
    from . import local_task_names
    from .lmeval import check_tasks

    local = evaluation.get("local_tasks")
    local_names = local_task_names(local["generator"]) if local else ()
    include = str(Path(tasks_dir).resolve()) if local else None
    record = {"tasks": check_tasks(evaluation["tasks"], include, local_names)}
    atomic_write_json(record, out_path)
    return record
