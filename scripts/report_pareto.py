from selectbench.analysis.effective import write_pareto
from selectbench.workflow import logged

with logged(snakemake) as log:
    write_pareto(snakemake.input[0], snakemake.params.baseline, snakemake.params.full_methods, snakemake.output[0])
