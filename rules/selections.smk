rule select:
    """One selected-index file per (pool, method, budget, seed): ids in selection order."""
    input:
        pool="results/pools/{pool}/pool.parquet",
        stats="results/pools/{pool}/stats.json",
        scores=selection_scores,
        embeddings=selection_embeddings,
        rounds=selection_rounds,
    output:
        selection="results/selections/{pool}/{method}/b{budget}/s{seed}.json",
        cost="results/selections/{pool}/{method}/b{budget}/s{seed}.cost.json",
    log:
        "logs/selections/{pool}/{method}/b{budget}/s{seed}.log",
    benchmark:
        "benchmarks/selections/{pool}/{method}/b{budget}/s{seed}.tsv"
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("select")
    resources:
        mem_mb=resources_of("select", "mem_mb"),
        runtime=resources_of("select", "runtime"),
    params:
        method=method_spec,
        budget=budget_value,
        seed=lambda wc: int(wc.seed),
        code=select_code,
    script:
        "../scripts/select.py"
