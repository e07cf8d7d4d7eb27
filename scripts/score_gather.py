from selectbench.scoring.run import merge_score_shards
from selectbench.workflow import logged

# the shards are temp(): their provenance records are kept inside this job's record
with logged(snakemake, inline_provenance=("shards", "provenance")) as log:
    merge_score_shards(list(snakemake.input.shards), list(snakemake.input.provenance), snakemake.input.pool,
                       snakemake.input.stats, snakemake.output.scores, snakemake.output.provenance)
