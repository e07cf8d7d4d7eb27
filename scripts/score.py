from selectbench.scoring.run import score_pool
from selectbench.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    score_pool(snakemake.input.pool, snakemake.input.stats, p.scorer, p.scorer_params, p.model,
               p.device, snakemake.threads, snakemake.output.scores, snakemake.output.provenance,
               models=p.models, rows=getattr(p, "rows", None),   # score_shard: [start, stop)
               embeddings=p.embeddings)
