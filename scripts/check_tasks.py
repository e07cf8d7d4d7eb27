from pathlib import Path

from selectbench.evaluation.run import check_configured_tasks
from selectbench.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    # evaluation.include_path is relative to the workflow directory (this script's parent's parent)
    record = check_configured_tasks(p.evaluation, p.tasks_dir, snakemake.output[0],
                                    workflow_dir=Path(__file__).resolve().parents[1])
    for key, t in record["tasks"].items():
        log.info("task %s: %s task '%s' resolved (%d-shot)", key, t["kind"], t["lm_eval_task"], t["num_fewshot"])
    log.info("wrote %s", snakemake.output[0])
