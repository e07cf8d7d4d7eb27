from selectbench.training import finetune_selection
from selectbench.workflow import checkpointing_of, logged

with logged(snakemake) as log:
    p = snakemake.params
    finetune_selection(snakemake.input.pool, snakemake.input.selection, p.base, p.preset, p.seed,
                       p.device, snakemake.output.checkpoint, snakemake.output.loss,
                       snakemake.output.metrics, threads=snakemake.threads,
                       checkpointing=checkpointing_of(snakemake),
                       processes=max(1, int(getattr(snakemake.resources, "gpu", 0) or 0)))
