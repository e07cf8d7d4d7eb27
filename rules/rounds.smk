rule diverse_evol_init:
    """DiverseEvol round 0: a seeded random subset (1/rounds of the budget)."""
    input:
        pool="results/pools/{pool}/pool.parquet",
    output:
        "results/rounds/{pool}/{method}/b{budget}/s{seed}/r0.json",
    log:
        "logs/rounds/{pool}/{method}/b{budget}/s{seed}/r0.log",
    benchmark:
        "benchmarks/rounds/{pool}/{method}/b{budget}/s{seed}/r0.tsv"
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("select")
    resources:
        mem_mb=resources_of("select", "mem_mb"),
        runtime=resources_of("select", "runtime"),
    params:
        method=lambda wc: EXP.methods[wc.method].params,
        budget=lambda wc: int(wc.budget),
        seed=lambda wc: int(wc.seed),
        code=code_of("selectbench.training.rounds"),
    script:
        "../scripts/diverse_evol_init.py"


rule diverse_evol_round:
    """DiverseEvol round r ≥ 1: train on round r-1, embed the pool with that model, add k-center picks."""
    input:
        pool="results/pools/{pool}/pool.parquet",
        previous=round_previous,
        model=lambda wc: model_input(round_base_model(wc)),
        checked=TASK_CHECK,
    output:
        selection="results/rounds/{pool}/{method}/b{budget}/s{seed}/r{round}.json",
        model=directory(
            "results/rounds/{pool}/{method}/b{budget}/s{seed}/r{round}_model"
        ),
    log:
        "logs/rounds/{pool}/{method}/b{budget}/s{seed}/r{round}.log",
    benchmark:
        "benchmarks/rounds/{pool}/{method}/b{budget}/s{seed}/r{round}.tsv"
    wildcard_constraints:
        round=r"[1-9]\d*",
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("finetune")
    resources:
        gpu=resources_of("finetune", "gpu"),
        mem_mb=resources_of("finetune", "mem_mb"),
        runtime=resources_of("finetune", "runtime"),
    params:
        method=lambda wc: EXP.methods[wc.method].params,
        base=lambda wc: model_ref(round_base_model(wc)),
        budget=lambda wc: int(wc.budget),
        seed=lambda wc: int(wc.seed),
        round=lambda wc: int(wc.round),
        device=config["compute"]["device"],
        code=code_of("selectbench.training.rounds"),
    script:
        "../scripts/diverse_evol_round.py"


rule mods_select:
    """MoDS: quality filter (reward scores) → k-center seed set → train on it → necessity from its answers."""
    input:
        pool="results/pools/{pool}/pool.parquet",
        scores=selection_scores,
        embeddings=selection_embeddings,
        model=lambda wc: model_input(round_base_model(wc)),
        reward=lambda wc: model_input(mods_reward_model(wc)),
    output:
        selection="results/rounds/{pool}/{method}/b{budget}/s{seed}/mods.json",
        model=directory("results/rounds/{pool}/{method}/b{budget}/s{seed}/mods_model"),
    log:
        "logs/rounds/{pool}/{method}/b{budget}/s{seed}/mods.log",
    benchmark:
        "benchmarks/rounds/{pool}/{method}/b{budget}/s{seed}/mods.tsv"
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("finetune")
    resources:
        gpu=resources_of("finetune", "gpu"),
        mem_mb=resources_of("finetune", "mem_mb"),
        runtime=resources_of("finetune", "runtime"),
    params:
        method=lambda wc: EXP.methods[wc.method].params,
        base=lambda wc: model_ref(round_base_model(wc)),
        reward=lambda wc: model_ref(mods_reward_model(wc)),
        reward_params=lambda wc: scorer_params("reward", wc.pool),
        budget=lambda wc: int(wc.budget),
        seed=lambda wc: int(wc.seed),
        device=config["compute"]["device"],
        code=code_of("selectbench.training.mods"),
    script:
        "../scripts/mods_select.py"
