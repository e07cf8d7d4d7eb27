from selectbench.analysis.selected import write_composition_figure
from selectbench.workflow import logged

with logged(snakemake) as log:
    write_composition_figure(snakemake.input[0], snakemake.output[0])
