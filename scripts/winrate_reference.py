from selectbench.evaluation.winrate import write_reference
from selectbench.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    info = write_reference(snakemake.wildcards.wset, p.spec, snakemake.input.instructions, p.model, p.device,
                           snakemake.output[0], threads=snakemake.threads)
    log.info("%d reference outputs (%s)", info["rows"], info["generator"])
