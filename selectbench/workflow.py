"""Glue for the thin scripts under scripts/: logging into snakemake.log."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback


@contextlib.contextmanager
def logged(snakemake):
    """Send stdout, stderr and `logging` of the job to its declared log file.

    On an exception the traceback goes to the log and the error line to the
    terminal's stderr too (so the user sees file/row/field), then it re-raises:
    Snakemake marks the job failed and removes its outputs.
    """
    path = snakemake.log[0]
    real_err = sys.stderr
    with open(path, "w", buffering=1) as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield logging.getLogger("selectbench")
        except Exception as e:
            traceback.print_exc(file=fh)
            print(f"selectbench error ({snakemake.rule}): {e}", file=real_err)
            raise
        finally:
            root.removeHandler(handler)


def checkpointing_of(snakemake) -> dict | None:
    """`compute.checkpointing` of the run's config (resume checkpoints of training jobs).

    Read from the config, not passed as a rule `params:` on purpose: it does not change
    a result (a resumed run equals an uninterrupted one, tests/test_resume.py), and a
    changed param would make Snakemake retrain every model.
    """
    return (snakemake.config.get("compute") or {}).get("checkpointing")
