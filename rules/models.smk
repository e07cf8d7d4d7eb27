rule build_model:
    """Build a model the workflow makes itself (the demo's tiny Llama + BPE tokenizer)."""
    input:
        inputs=build_inputs,
        checked=TASK_CHECK,
    output:
        directory("results/models/{model}"),
    log:
        "logs/models/{model}.log",
    benchmark:
        "benchmarks/models/{model}.tsv"
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("build_model")
    resources:
        gpu=resources_of("build_model", "gpu"),
        mem_mb=resources_of("build_model", "mem_mb"),
        runtime=resources_of("build_model", "runtime"),
    params:
        build=lookup(dpath="models/{model}/build", within=config),
        models=build_models,
        device=config["compute"]["device"],
        code=lambda wc: generator_code(config["models"][wc.model]["build"]),
    script:
        "../scripts/build_model.py"
