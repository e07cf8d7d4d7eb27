rule less_warmup:
    """LESS warm-up: LoRA on a random fraction of the pool, one checkpoint (+ Adam state) per epoch.
    One device (a small LoRA run), whatever the fine-tune GPU count; resumable like fine-tuning.
    """
    input:
        pool="results/pools/{pool}/pool.parquet",
        model=lambda wc: model_input(config["warmups"][wc.warmup]["base_model"]),
        checked=TASK_CHECK,
    output:
        directory("results/warmups/{pool}/{warmup}"),
    log:
        "logs/warmups/{pool}/{warmup}.log",
    benchmark:
        "benchmarks/warmups/{pool}/{warmup}.tsv"
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("finetune")
    resources:
        gpu=lambda wc: min(1, resource_value("finetune", "gpu", wc)),
        mem_mb=resources_of("finetune", "mem_mb"),
        runtime=resources_of("finetune", "runtime"),
    params:
        base=lambda wc: model_ref(config["warmups"][wc.warmup]["base_model"]),
        preset=lookup(dpath="warmups/{warmup}/preset", within=config),
        fraction=lookup(dpath="warmups/{warmup}/fraction", within=config),
        seed=lookup(dpath="warmups/{warmup}/seed", within=config),
        device=config["compute"]["device"],
        code=code_of("selectbench.training.warmup"),
    script:
        "../scripts/warmup.py"
