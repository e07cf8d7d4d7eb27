from selectbench.analysis.effective import write_effective_cost
from selectbench.workflow import logged

with logged(snakemake) as log:
    i, p = snakemake.input, snakemake.params
    write_effective_cost(i.cost, i.measured, i.tidy, p.pool_rows, p.baseline, p.full_methods, snakemake.output[0])
