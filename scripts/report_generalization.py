import pandas as pd

from selectbench.analysis.generalization import write_generalization
from selectbench.analysis.significance import read_tidy
from selectbench.workflow import logged

with logged(snakemake) as log:
    i, o = snakemake.input, snakemake.output
    tidy = read_tidy(i.tidy)
    summary, ranks, kend = write_generalization(tidy, o.summary, snakemake.params.baseline, pd.read_csv(i.significance),
                                                o.rankings, o.kendall, o.figure, source=i.tidy)
    log.info("%d setups, %d Kendall pairs", ranks["setup"].nunique(), len(kend))
