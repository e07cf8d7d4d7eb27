"""Evaluate one checkpoint (or a base model) on every configured task."""

from __future__ import annotations

from pathlib import Path


def include_root(include_path: str, workflow_dir=".") -> Path:
    """`evaluation.include_path` as a folder (relative paths from the workflow directory)."""
    root = Path(include_path) if Path(include_path).is_absolute() else Path(workflow_dir) / include_path
    if not root.is_dir():
        raise ValueError(f"evaluation.include_path: {root} is not a folder")
    return root


def task_includes(evaluation: dict, tasks_dir, workflow_dir=".") -> tuple[list[str] | None, tuple]:
    """(lm-eval include paths, names of the tasks they define): the generated local tasks
    (`tasks_dir`), `evaluation.include_path` (relative to `workflow_dir`) and the task
    folders of installed plug-ins (entry-point group `selectbench.tasks`)."""
    from ..plugins import task_dirs
    from . import local_task_names

    local = evaluation.get("local_tasks")
    names = tuple(local_task_names(local["generator"])) if local else ()
    paths = [str(Path(tasks_dir).resolve())] if local else []
    inc = evaluation.get("include_path")
    if inc:
        from lm_eval.tasks import TaskManager

        root = include_root(inc, workflow_dir)
        paths.append(str(root.resolve()))
        names += tuple(TaskManager(include_path=str(root.resolve()), include_defaults=False).all_tasks)
    plugin_dirs = [str(d) for d in task_dirs().values()]
    if plugin_dirs:
        from lm_eval.tasks import TaskManager

        paths += plugin_dirs
        names += tuple(TaskManager(include_path=plugin_dirs, include_defaults=False).all_tasks)
    return (paths or None), names


def evaluate_checkpoint(checkpoint, base: dict, evaluation: dict, device: str, tasks_dir,
                        outputs: list[str], threads: int = 1, workflow_dir=".") -> dict:
    import torch

    from ..modeling import resolve_device, use_threads
    from .lmeval import evaluate, model_args_for

    use_threads(threads)
    dev = resolve_device(device)
    dtype = "bfloat16" if dev == "cuda" and torch.cuda.is_bf16_supported() else "float32"
    tasks = evaluation["tasks"]
    by_name = {Path(o).stem: o for o in outputs}
    missing = set(tasks) - set(by_name)
    if missing:
        raise ValueError(f"no output path for tasks {sorted(missing)}")
    include, local_names = task_includes(evaluation, tasks_dir, workflow_dir)
    args = model_args_for(checkpoint, base, dev, dtype, evaluation["batch_size"])
    return evaluate(args, tasks, by_name, include, bootstrap_iters=evaluation["bootstrap_iters"],
                    apply_chat_template=evaluation["apply_chat_template"], local_names=local_names)


def check_configured_tasks(evaluation: dict, tasks_dir, out_path, workflow_dir=".") -> dict:
    """Resolve the configured lm-eval task names (local tasks from `tasks_dir`) and write a JSON record."""
    from ..io import atomic_write_json
    from .lmeval import check_tasks

    include, local_names = task_includes(evaluation, tasks_dir, workflow_dir)
    record = {"tasks": check_tasks(evaluation["tasks"], include, local_names)}
    atomic_write_json(record, out_path)
    return record
