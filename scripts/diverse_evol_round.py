from selectbench.training.rounds import run_diverse_evol_round
from selectbench.workflow import checkpointing_of, logged

with logged(snakemake) as log:
    p = snakemake.params
    run_diverse_evol_round(snakemake.input.pool, snakemake.input.previous, snakemake.output.selection,
                           snakemake.output.model, round_index=p.round, budget=p.budget, params=p.method,
                           base=p.base, seed=p.seed, device=p.device, threads=snakemake.threads,
                           checkpointing=checkpointing_of(snakemake),
                           processes=max(1, int(getattr(snakemake.resources, "gpu", 0) or 0)))
