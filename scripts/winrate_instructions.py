from selectbench.evaluation.winrate import write_instructions
from selectbench.workflow import logged

with logged(snakemake) as log:
    n = write_instructions(snakemake.wildcards.wset, snakemake.params.spec, snakemake.output[0])
    log.info("%d instructions", n)
