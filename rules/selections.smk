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
    params:
        method=method_spec,
        budget=budget_value,
        seed=lambda wc: int(wc.seed),
        code=select_code,
    log:
        "logs/selections/{pool}/{method}/b{budget}/s{seed}.log",
    threads: threads_of("select")
    benchmark:
        "benchmarks/selections/{pool}/{method}/b{budget}/s{seed}.tsv"
    resources:
        mem_mb=resources_of("select", "mem_mb"),
        runtime=resources_of("select", "runtime"),
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/select.py"
