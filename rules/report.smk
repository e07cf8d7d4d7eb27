rule report_tables:
    """Every benchmark JSON → tidy table, summary (mean ± std, baseline beside), figure."""
    input:
        [r["path"] for r in eval_records()],
    output:
        tidy="results/reports/tidy.csv",
        summary=report("results/reports/summary.csv", category="Results", caption="../report/summary.rst"),
        figure=report("results/reports/summary.png", category="Results", caption="../report/figure.rst"),
    params:
        records=eval_records(),
        baseline=config["report"]["baseline_method"],
        code=code_of("selectbench.analysis"),
    log:
        "logs/reports/tables.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_tables.py"


rule report_cost:
    """Compute spent per unit: scoring wall time, fine-tuning tokens, steps, FLOPs, wall time."""
    input:
        cost_inputs(),
    output:
        report("results/reports/cost.csv", category="Cost", caption="../report/cost.rst"),
    params:
        units=cost_units(),
        code=code_of("selectbench.analysis.cost"),
    log:
        "logs/reports/cost.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_cost.py"


rule report_significance:
    """Method − baseline tests per setup: 2410.09335's pooled Mann-Whitney protocol, seed
    bootstrap / Welch / Mann-Whitney per benchmark metric, paired per-example hierarchical
    bootstrap from the benchmark JSONs; Holm and BH across methods (docs/statistics.md)."""
    input:
        tidy="results/reports/tidy.csv",
        evals=[r["path"] for r in eval_records()],
    output:
        report("results/reports/significance.csv", category="2. Significance", caption="../report/significance.rst"),
    params:
        units=eval_records(),
        options=significance_options(),
        code=code_of("selectbench.analysis.significance"),
    log:
        "logs/reports/significance.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_significance.py"


rule report_generalization:
    """Rankings of methods per setup, Kendall's τ between setups (heatmap), win rates vs baseline."""
    input:
        tidy="results/reports/tidy.csv",
        significance="results/reports/significance.csv",
    output:
        summary=report("results/reports/generalization.csv", category="3. Generalization",
                       caption="../report/generalization.rst"),
        rankings="results/reports/rankings.csv",
        kendall="results/reports/kendall_tau.csv",
        figure=report("results/reports/kendall_tau.png", category="3. Generalization",
                      caption="../report/kendall_tau.rst"),
    params:
        baseline=significance_options()["baseline"],
        code=code_of("selectbench.analysis.generalization"),
    log:
        "logs/reports/generalization.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_generalization.py"


rule report_verdict:
    """The front page: per method, significant wins over the baseline, effective cost, mean rank."""
    input:
        significance="results/reports/significance.csv",
        generalization="results/reports/generalization.csv",
        cost=verdict_cost_input,
    output:
        report("results/reports/verdict.csv", category="1. Verdict", caption="../report/verdict.rst"),
    params:
        baseline=significance_options()["baseline"],
        code=code_of("selectbench.analysis.verdict"),
    log:
        "logs/reports/verdict.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_verdict.py"
