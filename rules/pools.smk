rule make_raw_pool:
    """Generate a pool the workflow makes itself (the demo pool, with labelled defects)."""
    output:
        directory("results/raw/{pool}"),
    log:
        "logs/raw/{pool}.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        build=lookup(dpath="pools/{pool}/build", within=config),
        code=lambda wc: generator_code(config["pools"][wc.pool]["build"]),
    script:
        "../scripts/make_raw_pool.py"


rule normalize_pool:
    """Raw pool files (or a hub dataset) → one schema: id, source, messages (+ labels)."""
    input:
        raw_pool_input,
    output:
        pool="results/pools/{pool}/pool.parquet",
        stats="results/pools/{pool}/stats.json",
    log:
        "logs/pools/{pool}.log",
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("normalize")
    resources:
        mem_mb=resources_of("normalize", "mem_mb"),
        runtime=resources_of("normalize", "runtime"),
    params:
        spec=lookup(dpath="pools/{pool}", within=config),
        code=code_of("selectbench.pools.load"),
    script:
        "../scripts/normalize_pool.py"


rule make_query_set:
    """Generate a query set (few-shot examples of the target tasks) the workflow makes itself."""
    output:
        "results/queries/{query_set}.jsonl",
    log:
        "logs/queries/{query_set}.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        build=lookup(dpath="query_sets/{query_set}/build", within=config),
        code=lambda wc: generator_code(config["query_sets"][wc.query_set]["build"]),
    script:
        "../scripts/make_query_set.py"


ruleorder: derive_pool > normalize_pool


rule derive_pool:
    """A pool made from other normalized pools: seeded subsample, source filter or mixture."""
    input:
        derive_parents,
    output:
        pool="results/pools/{pool}/pool.parquet",
        stats="results/pools/{pool}/stats.json",
    log:
        "logs/pools/{pool}.derive.log",
    wildcard_constraints:
        pool=derived_pool_regex(),
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("normalize")
    resources:
        mem_mb=resources_of("normalize", "mem_mb"),
        runtime=resources_of("normalize", "runtime"),
    params:
        derive=lookup(dpath="pools/{pool}/derive", within=config),
        rows=lookup(dpath="pools/{pool}/rows", within=config),
        code=code_of("selectbench.pools.derive"),
    script:
        "../scripts/derive_pool.py"
