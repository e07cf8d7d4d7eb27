from selectbench.analysis.verdict import write_verdict
from selectbench.workflow import logged

with logged(snakemake) as log:
    i = snakemake.input
    cost = i.cost if isinstance(i.cost, str) else (i.cost[0] if len(i.cost) else None)
    out = write_verdict(i.significance, i.generalization, cost, snakemake.output[0], snakemake.params.baseline)
    log.info("verdict:\n%s", out.to_string(index=False))
