rule make_local_tasks:
    """Write the local lm-eval tasks (YAML over generated data, absolute paths)."""
    output:
        directory(LOCAL_TASKS),
    log:
        "logs/tasks.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        build=config["evaluation"].get("local_tasks"),
        code=generator_code(config["evaluation"].get("local_tasks")),
    script:
        "../scripts/make_local_tasks.py"


rule check_tasks:
    """Resolve every lm-eval task name early: scoring, fine-tuning and evaluation jobs wait for it."""
    input:
        tasks=local_tasks_input,
        task_files=include_task_files(),
    output:
        TASK_CHECK,
    log:
        "logs/tasks/check.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        evaluation=eval_params(),
        tasks_dir=LOCAL_TASKS,
        code=code_of("selectbench.evaluation.lmeval"),
    script:
        "../scripts/check_tasks.py"


rule evaluate:
    """One lm-eval job per fine-tuned checkpoint, writing one benchmark JSON per task."""
    input:
        checkpoint="results/checkpoints/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}/model",
        base=lambda wc: model_input(wc.base_model),
        tasks=local_tasks_input,
        task_files=include_task_files(),
        checked=TASK_CHECK,
    output:
        expand(
            "results/evals/{{pool}}/{{base_model}}/{{preset}}/{{method}}/b{{budget}}/s{{seed}}/{task}.json",
            task=TASKS,
        ),
    log:
        "logs/evals/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}.log",
    benchmark:
        "benchmarks/evals/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}.tsv"
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("evaluate")
    resources:
        gpu=resources_of("evaluate", "gpu"),
        mem_mb=resources_of("evaluate", "mem_mb"),
        runtime=resources_of("evaluate", "runtime"),
    params:
        base=lambda wc: model_ref(wc.base_model),
        evaluation=eval_params(),
        device=config["compute"]["device"],
        tasks_dir=LOCAL_TASKS,
        code=code_of("selectbench.evaluation.run"),
    script:
        "../scripts/evaluate.py"


use rule evaluate as evaluate_base with:
    input:
        checkpoint=[],
        base=lambda wc: model_input(wc.base_model),
        tasks=local_tasks_input,
        task_files=include_task_files(),
        checked=TASK_CHECK,
    output:
        expand("results/evals/base/{{base_model}}/{task}.json", task=TASKS),
    log:
        "logs/evals/base/{base_model}.log",
    benchmark:
        "benchmarks/evals/base/{base_model}.tsv"
