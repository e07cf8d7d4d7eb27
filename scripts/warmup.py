from selectbench.training import warmup_random_fraction
from selectbench.workflow import checkpointing_of, logged

with logged(snakemake) as log:
    p = snakemake.params
    warmup_random_fraction(snakemake.input.pool, p.base, p.preset, p.fraction, p.seed, p.device,
                           snakemake.output[0], threads=snakemake.threads,
                           checkpointing=checkpointing_of(snakemake))
