rule score:
    """Score every example of a pool with one scorer (and one scorer model)."""
    input:
        pool="results/pools/{pool}/pool.parquet",
        stats="results/pools/{pool}/stats.json",
        model=score_model_input,
        files=score_file_inputs,
    output:
        scores="results/scores/{pool}/{scorer}/{scorer_model}.parquet",
        provenance="results/scores/{pool}/{scorer}/{scorer_model}.json",
    params:
        scorer=lambda wc: wc.scorer,
        scorer_params=score_params,
        model=score_model_ref,
        models=score_models,
        device=config["compute"]["device"],
    log:
        "logs/scores/{pool}/{scorer}/{scorer_model}.log",
    benchmark:
        "benchmarks/scores/{pool}/{scorer}/{scorer_model}.tsv"
    threads: threads_of("score")
    resources:
        gpu=lambda wc: 0 if wc.scorer_model == NO_MODEL else resources_of("score", "gpu"),
        mem_mb=score_mem_mb,
        runtime=resources_of("score", "runtime"),
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/score.py"
