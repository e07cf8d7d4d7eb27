rule make_raw_pool:
    """Generate a pool the workflow makes itself (the demo pool, with labelled defects)."""
    output:
        directory("results/raw/{pool}"),
    params:
        build=lambda wc: config["pools"][wc.pool]["build"],
        code=lambda wc: generator_code(config["pools"][wc.pool]["build"]),
    log:
        "logs/raw/{pool}.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/make_raw_pool.py"


rule normalize_pool:
    """Raw pool files (or a hub dataset) → one schema: id, source, messages (+ labels)."""
    input:
        raw_pool_input,
    output:
        pool="results/pools/{pool}/pool.parquet",
        stats="results/pools/{pool}/stats.json",
    params:
        spec=lambda wc: config["pools"][wc.pool],
        code=code_of("selectbench.pools.load"),
    log:
        "logs/pools/{pool}.log",
    threads: threads_of("normalize")
    resources:
        mem_mb=resources_of("normalize", "mem_mb"),
        runtime=resources_of("normalize", "runtime"),
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/normalize_pool.py"


rule make_query_set:
    """Generate a query set (few-shot examples of the target tasks) the workflow makes itself."""
    output:
        "results/queries/{query_set}.jsonl",
    params:
        build=lambda wc: config["query_sets"][wc.query_set]["build"],
        code=lambda wc: generator_code(config["query_sets"][wc.query_set]["build"]),
    log:
        "logs/queries/{query_set}.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
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
    params:
        derive=lambda wc: config["pools"][wc.pool]["derive"],
        rows=lambda wc: config["pools"][wc.pool]["rows"],
        code=code_of("selectbench.pools.derive"),
    log:
        "logs/pools/{pool}.derive.log",
    wildcard_constraints:
        pool=derived_pool_regex(),
    threads: threads_of("normalize")
    resources:
        mem_mb=resources_of("normalize", "mem_mb"),
        runtime=resources_of("normalize", "runtime"),
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/derive_pool.py"
