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
        baseline=config.get("report", {}).get("baseline_method"),
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
    log:
        "logs/reports/cost.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_cost.py"


rule report_cost_measured:
    """Snakemake benchmark TSVs → wall, CPU core-, GPU-hours, peak memory and price per unit and stage."""
    input:
        cost_benchmarks(),
    output:
        report("results/reports/cost_measured.csv", category="Cost", caption="../report/cost_measured.rst"),
    params:
        units=cost_units(),
        prices=report_prices(),
    log:
        "logs/reports/cost_measured.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_cost_measured.py"


rule report_cost_modelled:
    """The fixed-length FLOPs model (2503.01807) of every unit, beside the token-based FLOPs."""
    input:
        cost="results/reports/cost.csv",
        stats=pool_stats_files(),
    output:
        report("results/reports/cost_modelled.csv", category="Cost", caption="../report/cost_modelled.rst"),
    params:
        config=config,
        gpu_flops=config.get("report", {}).get("gpu_flops", 4.0e14),
    log:
        "logs/reports/cost_modelled.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_cost_modelled.py"


rule report_effective_cost:
    """(Selection + training on the subset) ÷ training on the full pool, and score gained per $ over random."""
    input:
        cost="results/reports/cost.csv",
        measured="results/reports/cost_measured.csv",
        tidy="results/reports/tidy.csv",
    output:
        report("results/reports/effective_cost.csv", category="Cost", caption="../report/effective_cost.rst"),
    params:
        pool_rows=pool_rows(),
        baseline=config.get("report", {}).get("baseline_method"),
        full_methods=full_methods(),
    log:
        "logs/reports/effective_cost.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_effective_cost.py"


rule report_pareto:
    """Average benchmark score against total cost (log scale), the frontier shaded (2503.01807 Fig. 1)."""
    input:
        "results/reports/effective_cost.csv",
    output:
        report("results/reports/pareto.png", category="Cost", caption="../report/pareto.rst"),
    params:
        baseline=config.get("report", {}).get("baseline_method"),
        full_methods=full_methods(),
    log:
        "logs/reports/pareto.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_pareto.py"


rule report_selected_composition:
    """What was selected: source composition of every selection against the pool and random."""
    input:
        selected_inputs(),
    output:
        report("results/reports/selected_composition.csv", category="What was selected",
               caption="../report/selected_composition.rst"),
    params:
        analysis="composition",
        selections=selection_records(),
        pools=selected_pools(),
        baseline=config.get("report", {}).get("baseline_method"),
    log:
        "logs/reports/selected_composition.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_selected.py"


use rule report_selected_composition as report_selected_lengths with:
    output:
        report("results/reports/selected_lengths.csv", category="What was selected",
               caption="../report/selected_lengths.rst"),
    params:
        analysis="lengths",
        selections=selection_records(),
        pools=selected_pools(),
        baseline=config.get("report", {}).get("baseline_method"),
    log:
        "logs/reports/selected_lengths.log",


use rule report_selected_composition as report_selected_overlap with:
    output:
        report("results/reports/selected_overlap.csv", category="What was selected",
               caption="../report/selected_overlap.rst"),
    params:
        analysis="overlap",
        selections=selection_records(),
        pools=selected_pools(),
        baseline=config.get("report", {}).get("baseline_method"),
    log:
        "logs/reports/selected_overlap.log",


use rule report_selected_composition as report_selected_labels with:
    output:
        report("results/reports/selected_labels.csv", category="What was selected",
               caption="../report/selected_labels.rst"),
    params:
        analysis="labels",
        selections=selection_records(),
        pools=selected_pools(),
        baseline=config.get("report", {}).get("baseline_method"),
    log:
        "logs/reports/selected_labels.log",


rule report_selected_figure:
    """Stacked bars of source shares: the pool, then every method and budget (2503.01807 Figs. 6–7)."""
    input:
        "results/reports/selected_composition.csv",
    output:
        report("results/reports/selected_composition.png", category="What was selected",
               caption="../report/selected_figure.rst"),
    log:
        "logs/reports/selected_figure.log",
    localrule: True
    conda:
        "../envs/selectbench.yaml"
    script:
        "../scripts/report_selected_figure.py"
