from selectbench.pools.derive import derive_pool, parents_of
from selectbench.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    parents = list(zip(parents_of(p.derive), snakemake.input))
    stats = derive_pool(parents, p.derive, p.rows, snakemake.output.pool, snakemake.output.stats,
                        name=snakemake.wildcards.pool)
    log.info("derived %d rows from %s", stats["rows"], ", ".join(n for n, _ in parents))
