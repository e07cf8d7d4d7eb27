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
    log:
        "logs/selections/{pool}/{method}/b{budget}/s{seed}.log",
    resources:
        mem_mb=select_mem_mb,
        runtime=30,
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/select.py"
