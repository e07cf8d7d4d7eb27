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
