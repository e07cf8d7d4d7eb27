from selectbench.pools import write_normalized_pool
from selectbench.workflow import logged

with logged(snakemake) as log:
    n = write_normalized_pool(snakemake.wildcards.pool, snakemake.params.spec, snakemake.output.pool,
                              snakemake.output.stats, base_dir=".")
    log.info("wrote %d rows", n)
