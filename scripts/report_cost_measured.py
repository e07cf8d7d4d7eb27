from selectbench.analysis.cost import write_measured_table
from selectbench.workflow import logged

with logged(snakemake) as log:
    write_measured_table(snakemake.params.units, snakemake.params.prices, snakemake.output[0])
