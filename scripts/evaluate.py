from pathlib import Path

from selectbench.evaluation.run import evaluate_checkpoint
from selectbench.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    checkpoint = snakemake.input.checkpoint or None
    evaluate_checkpoint(checkpoint, p.base, p.evaluation, p.device, p.tasks_dir,
                        list(snakemake.output), threads=snakemake.threads,
                        workflow_dir=Path(__file__).resolve().parents[1])
