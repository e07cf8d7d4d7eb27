# selectbench: raw pools → normalized pool → scores → selections → fine-tunes → lm-eval → reports.
# Run the demo:   make demo        Paper-scale plan:   snakemake -n
from snakemake.utils import min_version, validate

min_version("9.0")


# The paper-scale config is the default. `--configfile X` replaces it (X is not merged into
# it); `--config key=value` overlays whichever config is in use (the default or X).
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"


# common.smk checks the config (duplicated keys, unknown keys with suggestions, schema,
# cross-references) and fills in the schema's defaults; `validate` then re-checks the result.
include: "rules/common.smk"


validate(config, "schemas/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/models.smk"
include: "rules/pools.smk"
include: "rules/warmups.smk"
include: "rules/scores.smk"
include: "rules/rounds.smk"
include: "rules/selections.smk"
include: "rules/finetune.smk"
include: "rules/evaluate.smk"
include: "rules/winrate.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
    localrule: True


# (importable once common.smk has put the package on sys.path)
from selectbench.provenance import remove_orphans


# A provenance record lives only beside its output: after the run, drop the records whose
# output is gone (temporary score shards, whose records the gather job keeps inside its own;
# an output deleted by hand). `selectbench audit orphans` lists them without a run.
onsuccess:
    remove_orphans("results")


onerror:
    remove_orphans("results")
