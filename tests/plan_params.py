"""Print every job `snakemake -n` plans, with its params as Snakemake records them for rerun
decisions (`Persistence._params`: the sorted reprs), as JSON: [[rule, first output, params], ...].

    python tests/plan_params.py SNAKEFILE CONFIGFILE WORKDIR

Two configs that say the same thing must print the same bytes (tests/test_paper_configs.py).
`reversed_keys` writes such a second config.
"""

import json
import sys
from pathlib import Path


def reversed_keys(obj, mapping=dict):
    """`obj` with every mapping's keys in reverse order, as `mapping`s (lists keep their order)."""
    if isinstance(obj, dict):
        return mapping((k, reversed_keys(obj[k], mapping)) for k in reversed(list(obj)))
    if isinstance(obj, list):
        return [reversed_keys(v, mapping) for v in obj]
    return obj


def main(snakefile: Path, configfile: Path, workdir: Path) -> None:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (ConfigSettings, DAGSettings, OutputSettings, ResourceSettings,
                                          StorageSettings)

    with SnakemakeApi(OutputSettings()) as api:
        wf = api.workflow(resource_settings=ResourceSettings(cores=1),
                          config_settings=ConfigSettings(configfiles=[configfile]),
                          storage_settings=StorageSettings(), workdir=workdir, snakefile=snakefile)
        wf.dag(dag_settings=DAGSettings()).execute_workflow(executor="dryrun")
        w = wf._workflow
        jobs = [[job.rule.name, str(job.output[0]) if job.output else "", w.persistence._params(job)]
                for job in w.dag.jobs]
    sys.stdout.write(json.dumps(sorted(jobs)))


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:4]))
