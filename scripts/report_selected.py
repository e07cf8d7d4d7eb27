from selectbench.analysis.selected import write_selected
from selectbench.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    write_selected(p.analysis, p.selections, p.pools, p.baseline, snakemake.output[0])
