from selectbench.analysis.significance import Options, read_tidy, write_significance
from selectbench.workflow import logged

with logged(snakemake) as log:
    opts = Options(**snakemake.params.options)
    tidy = read_tidy(snakemake.input.tidy)
    out = write_significance(tidy, snakemake.output[0], opts, snakemake.params.units, source=snakemake.input.tidy)
    log.info("%d test rows, %d significant (%s, alpha %s)", len(out),
             int((out["significant"].astype(str) == "True").sum()), opts.correction, opts.alpha)
