from selectbench.scoring.run import merge_score_shards
from selectbench.workflow import logged

with logged(snakemake) as log:
    merge_score_shards(list(snakemake.input.shards), list(snakemake.input.provenance), snakemake.input.pool,
                       snakemake.input.stats, snakemake.output.scores, snakemake.output.provenance)
