from selectbench.evaluation.winrate import evaluate_winrate
from selectbench.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    checkpoint = snakemake.input.checkpoint or None
    record = evaluate_winrate(checkpoint, p.base, snakemake.wildcards.wset, p.spec, snakemake.input.instructions,
                              snakemake.input.reference, p.judge, p.device, snakemake.output[0],
                              threads=snakemake.threads)
    log.info("%s", record["winrate"]["counts"])
