rule report_tables:
    """Every benchmark JSON → tidy table, summary (mean ± std, baseline beside), figure."""
    input:
        [r["path"] for r in eval_records()],
    output:
        tidy="results/reports/tidy.csv",
        summary=report(
            "results/reports/summary.csv",
            category="4. Results",
            caption="../report/summary.rst",
        ),
        figure=report(
            "results/reports/summary.png",
            category="4. Results",
            caption="../report/figure.rst",
        ),
    log:
        "logs/reports/tables.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        records=eval_records(),
        baseline=config["report"]["baseline_method"],
        code=code_of("selectbench.analysis"),
    script:
        "../scripts/report_tables.py"


rule report_cost:
    """Compute spent per unit: scoring wall time, fine-tuning tokens, steps, FLOPs, wall time."""
    input:
        cost_inputs(),
    output:
        report(
            "results/reports/cost.csv",
            category="5. Cost",
            caption="../report/cost.rst",
        ),
    log:
        "logs/reports/cost.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        units=cost_units(),
        code=code_of("selectbench.analysis.cost"),
    script:
        "../scripts/report_cost.py"


rule report_significance:
    """Method − baseline tests per setup: 2410.09335's pooled Mann-Whitney protocol, seed
    bootstrap / Welch / Mann-Whitney per benchmark metric, paired per-example hierarchical
    bootstrap from the benchmark JSONs; Holm and BH across methods (docs/statistics.md).
    The benchmark JSONs (params.units) are report_tables' inputs: a changed one rewrites
    tidy.csv, which reruns this rule; listing them again here cost 3 ms per file in planning.
    """
    input:
        tidy="results/reports/tidy.csv",
    output:
        report(
            "results/reports/significance.csv",
            category="2. Significance",
            caption="../report/significance.rst",
        ),
    log:
        "logs/reports/significance.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        units=eval_records(),
        options=significance_options(),
        code=code_of("selectbench.analysis.significance"),
    script:
        "../scripts/report_significance.py"


rule report_generalization:
    """Rankings of methods per setup, Kendall's τ between setups (heatmap), win rates vs baseline."""
    input:
        tidy="results/reports/tidy.csv",
        significance="results/reports/significance.csv",
    output:
        summary=report(
            "results/reports/generalization.csv",
            category="3. Generalization",
            caption="../report/generalization.rst",
        ),
        rankings="results/reports/rankings.csv",
        kendall="results/reports/kendall_tau.csv",
        figure=report(
            "results/reports/kendall_tau.png",
            category="3. Generalization",
            caption="../report/kendall_tau.rst",
        ),
    log:
        "logs/reports/generalization.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        baseline=significance_options()["baseline"],
        code=code_of("selectbench.analysis.generalization"),
    script:
        "../scripts/report_generalization.py"


rule report_verdict:
    """The front page: per method, significant wins over the baseline, effective cost, mean rank."""
    input:
        significance="results/reports/significance.csv",
        generalization="results/reports/generalization.csv",
        cost=verdict_cost_input,
    output:
        report(
            "results/reports/verdict.csv",
            category="1. Verdict",
            caption="../report/verdict.rst",
        ),
    log:
        "logs/reports/verdict.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        baseline=significance_options()["baseline"],
        code=code_of("selectbench.analysis.verdict"),
    script:
        "../scripts/report_verdict.py"


rule report_cost_measured:
    """Snakemake benchmark TSVs → wall, CPU core-, GPU-hours, peak memory and price per unit and stage."""
    input:
        cost_benchmarks(),
    output:
        report(
            "results/reports/cost_measured.csv",
            category="5. Cost",
            caption="../report/cost_measured.rst",
        ),
    log:
        "logs/reports/cost_measured.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        units=cost_units(),
        prices=report_prices(),
        code=code_of("selectbench.analysis.cost"),
    script:
        "../scripts/report_cost_measured.py"


rule report_cost_modelled:
    """The fixed-length FLOPs model (2503.01807) of every unit, beside the token-based FLOPs."""
    input:
        cost="results/reports/cost.csv",
        stats=pool_stats_files(),
    output:
        report(
            "results/reports/cost_modelled.csv",
            category="5. Cost",
            caption="../report/cost_modelled.rst",
        ),
    log:
        "logs/reports/cost_modelled.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        config=cost_model_config(),
        gpu_flops=config["report"]["gpu_flops"],
        code=code_of("selectbench.analysis.flops"),
    script:
        "../scripts/report_cost_modelled.py"


rule report_effective_cost:
    """(Selection + training on the subset) ÷ training on the full pool, and score gained per $ over random."""
    input:
        cost="results/reports/cost.csv",
        measured="results/reports/cost_measured.csv",
        tidy="results/reports/tidy.csv",
    output:
        report(
            "results/reports/effective_cost.csv",
            category="5. Cost",
            caption="../report/effective_cost.rst",
        ),
    log:
        "logs/reports/effective_cost.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        pool_rows=pool_rows(),
        baseline=config["report"]["baseline_method"],
        full_methods=full_methods(),
        code=code_of("selectbench.analysis.effective"),
    script:
        "../scripts/report_effective_cost.py"


rule report_pareto:
    """Average benchmark score against total cost (log scale), the frontier shaded (2503.01807 Fig. 1)."""
    input:
        "results/reports/effective_cost.csv",
    output:
        report(
            "results/reports/pareto.png",
            category="5. Cost",
            caption="../report/pareto.rst",
        ),
    log:
        "logs/reports/pareto.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        baseline=config["report"]["baseline_method"],
        full_methods=full_methods(),
        code=code_of("selectbench.analysis.effective"),
    script:
        "../scripts/report_pareto.py"


rule report_selected_composition:
    """What was selected: source composition of every selection against the pool and random."""
    input:
        selected_inputs(),
    output:
        report(
            "results/reports/selected_composition.csv",
            category="6. What was selected",
            caption="../report/selected_composition.rst",
        ),
    log:
        "logs/reports/selected_composition.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        analysis="composition",
        selections=selection_records(),
        pools=selected_pools(),
        baseline=config["report"]["baseline_method"],
        code=code_of("selectbench.analysis.selected"),
    script:
        "../scripts/report_selected.py"


use rule report_selected_composition as report_selected_lengths with:
    output:
        report(
            "results/reports/selected_lengths.csv",
            category="6. What was selected",
            caption="../report/selected_lengths.rst",
        ),
    log:
        "logs/reports/selected_lengths.log",
    params:
        analysis="lengths",


use rule report_selected_composition as report_selected_overlap with:
    output:
        report(
            "results/reports/selected_overlap.csv",
            category="6. What was selected",
            caption="../report/selected_overlap.rst",
        ),
    log:
        "logs/reports/selected_overlap.log",
    params:
        analysis="overlap",


use rule report_selected_composition as report_selected_labels with:
    output:
        report(
            "results/reports/selected_labels.csv",
            category="6. What was selected",
            caption="../report/selected_labels.rst",
        ),
    log:
        "logs/reports/selected_labels.log",
    params:
        analysis="labels",


rule report_selected_figure:
    """Stacked bars of source shares: the pool, then every method and budget (2503.01807 Figs. 6–7)."""
    input:
        "results/reports/selected_composition.csv",
    output:
        report(
            "results/reports/selected_composition.png",
            category="6. What was selected",
            caption="../report/selected_figure.rst",
        ),
    log:
        "logs/reports/selected_figure.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    params:
        code=code_of("selectbench.analysis.selected"),
    script:
        "../scripts/report_selected_figure.py"
