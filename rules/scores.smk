rule score:
    """Score every example of a pool with one scorer (and one scorer model)."""
    input:
        pool="results/pools/{pool}/pool.parquet",
        stats="results/pools/{pool}/stats.json",
        model=score_model_input,
        files=score_file_inputs,
        checked=TASK_CHECK,
    output:
        scores="results/scores/{pool}/{scorer}/{scorer_model}.parquet",
        provenance="results/scores/{pool}/{scorer}/{scorer_model}.json",
    log:
        "logs/scores/{pool}/{scorer}/{scorer_model}.log",
    benchmark:
        "benchmarks/scores/{pool}/{scorer}/{scorer_model}.tsv"
    wildcard_constraints:
        pool=UNSHARDED_POOLS,
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("score")
    resources:
        gpu=resources_of("score", "gpu"),
        mem_mb=resources_of("score", "mem_mb"),
        runtime=resources_of("score", "runtime"),
    params:
        scorer=lambda wc: wc.scorer,
        scorer_params=score_params,
        model=score_model_ref,
        models=score_models,
        embeddings=score_embeddings,
        device=config["compute"]["device"],
        code=score_code,
    script:
        "../scripts/score.py"


use rule score as score_shard with:
    output:
        scores=temp(
            "results/scores/{pool}/{scorer}/{scorer_model}.shards/{shard}.parquet"
        ),
        provenance=temp(
            "results/scores/{pool}/{scorer}/{scorer_model}.shards/{shard}.json"
        ),
    log:
        "logs/scores/{pool}/{scorer}/{scorer_model}.shards/{shard}.log",
    benchmark:
        "benchmarks/scores/{pool}/{scorer}/{scorer_model}.shards/{shard}.tsv"
    wildcard_constraints:
        pool=SHARDED_POOLS,
        shard=r"\d+",
    params:
        rows=shard_rows,


rule score_gather:
    """Concatenate a sharded score job's shards (row order) into the same score file as one job writes."""
    input:
        pool="results/pools/{pool}/pool.parquet",
        stats="results/pools/{pool}/stats.json",
        shards=lambda wc: score_shard_outputs(wc, "parquet"),
        provenance=lambda wc: score_shard_outputs(wc, "json"),
    output:
        scores="results/scores/{pool}/{scorer}/{scorer_model}.parquet",
        provenance="results/scores/{pool}/{scorer}/{scorer_model}.json",
    log:
        "logs/scores/{pool}/{scorer}/{scorer_model}.gather.log",
    wildcard_constraints:
        pool=SHARDED_POOLS,
    conda:
        "../envs/selectbench.yaml"
    resources:
        mem_mb=resources_of("score", "mem_mb"),
        runtime=resources_of("score", "runtime"),
    params:
        code=code_of("selectbench.scoring.run"),
    script:
        "../scripts/score_gather.py"
