from selectbench.analysis.flops import write_modelled_table
from selectbench.workflow import logged

with logged(snakemake) as log:
    write_modelled_table(snakemake.params.config, snakemake.input.cost, snakemake.params.gpu_flops,
                         snakemake.output[0])
