"""Glue for the thin scripts under scripts/: logging into snakemake.log, provenance.

`logged(snakemake)` is the one wrapper every script uses. It

* sends stdout, stderr and `logging` of the job to its declared log file;
* writes a header (rule, wildcards, every input with its size and row count, every param,
  threads) and, on success, a footer (every output with size and row count, seconds), so
  no job log is empty and each says what the job read, did and wrote;
* on success gives every output the umask's modes (group-readable on a shared folder) and
  writes its provenance record `OUTPUT.prov.json` (see `selectbench.provenance`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path


def _rows(path: Path) -> str:
    """A short description of a file or directory: row count where cheap, and size."""
    try:
        if path.is_dir():
            files = [p for p in path.rglob("*") if p.is_file()]
            return f"directory, {len(files)} files, {_size(sum(p.stat().st_size for p in files))}"
        size = _size(path.stat().st_size)
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return f"{pq.read_metadata(path).num_rows} rows, {size}"
        if path.suffix in (".jsonl", ".csv", ".tsv"):
            with open(path, "rb") as fh:
                n = sum(1 for _ in fh)
            return f"{n - (path.suffix != '.jsonl')} rows, {size}"
        if path.suffix == ".json" and path.stat().st_size < 5_000_000:
            import json

            obj = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(obj, dict) and isinstance(obj.get("ids"), list):
                return f"{len(obj['ids'])} ids, {size}"
            if isinstance(obj, dict) and isinstance(obj.get("rows"), int):
                return f"{obj['rows']} rows, {size}"
            if isinstance(obj, dict) and isinstance(obj.get("samples"), dict):
                return f"{sum(len(v) for v in obj['samples'].values())} samples, {size}"
            return size
        return size
    except Exception as e:  # describing must never fail a job
        return f"({type(e).__name__})"


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _short(value, limit: int = 400) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _named(namedlist) -> dict:
    try:
        return dict(namedlist.items())
    except AttributeError:
        return {}


def _header(log, snakemake) -> None:
    wc = _named(snakemake.wildcards)
    log.info("job %s %s", snakemake.rule, ", ".join(f"{k}={v}" for k, v in wc.items()))
    for p in snakemake.input:
        log.info("input  %s (%s)", p, _rows(Path(p)) if os.path.exists(p) else "missing")
    for k, v in _named(snakemake.params).items():
        if k == "code":
            log.info("param  code: %d package modules hashed", len(v) if isinstance(v, dict) else 0)
        else:
            log.info("param  %s = %s", k, _short(v))
    log.info("threads %s", snakemake.threads)


def _script_path(scriptdir) -> str | None:
    """The rule's script: Snakemake runs a copy named `tmpXXXX.<name>.py` from scriptdir."""
    if not scriptdir or not sys.argv or not sys.argv[0]:
        return None
    name = Path(sys.argv[0]).name
    for candidate in (name, name.split(".", 1)[-1]):
        if (Path(scriptdir) / candidate).is_file():
            return os.path.normpath(str(Path(scriptdir) / candidate))
    return None


def _finish(log, snakemake, started: str, t0: float, inline=()) -> None:
    from .io import share
    from .provenance import job_record, write_records

    outputs = list(snakemake.output)
    for p in outputs:
        if os.path.exists(p):
            share(p)
        log.info("output %s (%s)", p, _rows(Path(p)) if os.path.exists(p) else "MISSING")
    seconds = time.time() - t0
    script = getattr(snakemake, "scriptdir", None)
    script_path = _script_path(script)
    record = job_record(
        rule=snakemake.rule, wildcards=_named(snakemake.wildcards), params=_named(snakemake.params),
        threads=snakemake.threads, log=list(snakemake.log), inputs=list(snakemake.input), outputs=outputs,
        script=script_path, workflow_dir=Path(script).parent if script else None, started=started,
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), seconds=seconds,
        inline=[p for key in inline for p in getattr(snakemake.input, key)])
    written = write_records(record, [p for p in outputs if os.path.exists(p)])
    log.info("provenance %s", ", ".join(str(p) for p in written))
    log.info("done in %.1f s", seconds)


@contextlib.contextmanager
def logged(snakemake, inline_provenance=()):
    """Run a job's body with its output going to the job log; see the module docstring.

    The old provenance records of the job's outputs are removed first (a job that fails
    leaves none). `inline_provenance`: names of input groups (temporary files) whose records
    are copied into this job's record.

    On an exception the traceback goes to the log and the error line to the
    terminal's stderr too (so the user sees file/row/field), then it re-raises:
    Snakemake marks the job failed and removes its outputs.
    """
    from .provenance import forget

    path = snakemake.log[0]
    real_err = sys.stderr
    t0 = time.time()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with open(path, "w", buffering=1) as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        # selectbench's own warnings (a control character in a pool, ...) reach the terminal too
        shout = logging.StreamHandler(real_err)
        shout.setLevel(logging.WARNING)
        shout.setFormatter(logging.Formatter(f"selectbench warning ({snakemake.rule}): %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.getLogger("selectbench").addHandler(shout)
        log = logging.getLogger("selectbench")
        try:
            _header(log, snakemake)
            forget(snakemake.output)
            _load_plugins(snakemake)
            yield log
            _finish(log, snakemake, started, t0, inline_provenance)
        except Exception as e:
            traceback.print_exc(file=fh)
            print(f"selectbench error ({snakemake.rule}): {e}", file=real_err)
            raise
        finally:
            root.removeHandler(handler)
            logging.getLogger("selectbench").removeHandler(shout)


def _load_plugins(snakemake) -> None:
    """The config's plug-in modules, as the Snakefile loaded them at parse time (a job is
    its own process; installed entry points load by themselves on first use)."""
    from .plugins import load

    plugins = (getattr(snakemake, "config", None) or {}).get("plugins")
    if plugins:
        load(plugins)


def checkpointing_of(snakemake) -> dict | None:
    """`compute.checkpointing` of the run's config (resume checkpoints of training jobs).

    Read from the config, not passed as a rule `params:` on purpose: it does not change
    a result (a resumed run equals an uninterrupted one, tests/test_resume.py), and a
    changed param would make Snakemake retrain every model.
    """
    return (snakemake.config.get("compute") or {}).get("checkpointing")
