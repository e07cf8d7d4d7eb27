rule winrate_instructions:
    """An instruction set of `evaluation.winrate` as JSONL {id, instruction, input[, reference]}."""
    input:
        winrate_source_input,
    output:
        "results/winrate/{wset}/instructions.jsonl",
    log:
        "logs/winrate/{wset}/instructions.log",
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("normalize")
    resources:
        mem_mb=resources_of("normalize", "mem_mb"),
        runtime=resources_of("normalize", "runtime"),
    params:
        spec=winrate_spec,
        code=code_of("selectbench.evaluation.winrate"),
    script:
        "../scripts/winrate_instructions.py"


rule winrate_reference:
    """The reference's answers to an instruction set, once for every model compared with it:
    a reference model's greedy generations, or the instruction rows' reference field."""
    input:
        instructions="results/winrate/{wset}/instructions.jsonl",
        model=winrate_reference_input,
        checked=TASK_CHECK,
    output:
        "results/winrate/{wset}/reference.jsonl",
    log:
        "logs/winrate/{wset}/reference.log",
    benchmark:
        "benchmarks/winrate/{wset}/reference.tsv"
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("winrate")
    resources:
        gpu=resources_of("winrate", "gpu"),
        mem_mb=resources_of("winrate", "mem_mb"),
        runtime=resources_of("winrate", "runtime"),
    params:
        spec=winrate_spec,
        model=winrate_reference_model,
        device=config["compute"]["device"],
        code=code_of("selectbench.evaluation.winrate"),
    script:
        "../scripts/winrate_reference.py"


rule winrate:
    """Judged win rate of one fine-tuned checkpoint against the reference on one instruction set
    (both orders judged), one JSON in lm-eval's schema beside the benchmark JSONs."""
    input:
        checkpoint="results/checkpoints/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}/model",
        base=lambda wc: model_input(wc.base_model),
        instructions="results/winrate/{wset}/instructions.jsonl",
        reference="results/winrate/{wset}/reference.jsonl",
        judge=winrate_judge_input,
    output:
        "results/evals/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}/winrate_{wset}.json",
    log:
        "logs/evals/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}/winrate_{wset}.log",
    benchmark:
        "benchmarks/evals/{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}/winrate_{wset}.tsv"
    conda:
        "../envs/selectbench.yaml"
    threads: threads_of("winrate")
    resources:
        gpu=resources_of("winrate", "gpu"),
        mem_mb=resources_of("winrate", "mem_mb"),
        runtime=resources_of("winrate", "runtime"),
    params:
        base=lambda wc: model_ref(wc.base_model),
        spec=winrate_spec,
        judge=winrate_judge_model,
        device=config["compute"]["device"],
        code=code_of("selectbench.evaluation.winrate"),
    script:
        "../scripts/winrate.py"


use rule winrate as winrate_base with:
    input:
        checkpoint=[],
        base=lambda wc: model_input(wc.base_model),
        instructions="results/winrate/{wset}/instructions.jsonl",
        reference="results/winrate/{wset}/reference.jsonl",
        judge=winrate_judge_input,
    output:
        "results/evals/base/{base_model}/winrate_{wset}.json",
    log:
        "logs/evals/base/{base_model}/winrate_{wset}.log",
    benchmark:
        "benchmarks/evals/base/{base_model}/winrate_{wset}.tsv"
