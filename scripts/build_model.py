from selectbench.builders import build_model
from selectbench.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    build_model(p.build, snakemake.output[0], threads=snakemake.threads, models=p.models, device=p.device,
                inputs=list(snakemake.input.inputs))
