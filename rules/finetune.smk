rule finetune:
    """Fine-tune a base model on one selection (LoRA or full, per preset); GPU nodes on a cluster.
    gpu N > 1: N processes on one node (DDP, or FSDP per preset), threads split between them,
    same effective batch. Resume state in <model>.resume/ (compute.checkpointing), kept on failure.
    """
    input:
        selection="results/selections/{pool}/{method}/b{budget}/s{seed}.json",
        pool="results/pools/{pool}/pool.parquet",
        model=lambda wc: model_input(wc.base_model),
        checked=TASK_CHECK,
    output:
        checkpoint=directory(
            "results/checkpoints/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}/model"
        ),
        loss="results/checkpoints/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}/loss.csv",
        metrics="results/checkpoints/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}/metrics.json",
    log:
        "logs/checkpoints/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}.log",
    benchmark:
        "benchmarks/checkpoints/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}.tsv"
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("finetune")
    resources:
        gpu=resources_of("finetune", "gpu"),
        mem_mb=resources_of("finetune", "mem_mb"),
        runtime=resources_of("finetune", "runtime"),
    params:
        base=lambda wc: model_ref(wc.base_model),
        preset=preset_params,
        seed=lambda wc: int(wc.seed),
        device=config["compute"]["device"],
        code=code_of("selectbench.training.finetune"),
    script:
        "../scripts/finetune.py"
