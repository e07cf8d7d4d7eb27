"""Atomic writers: a failed job never leaves a partial output behind.

Temporary files and directories (`mkstemp` 0600, `mkdtemp` 0700) are given the modes a
plain `open()`/`mkdir()` would have had under the process umask before they are moved into
place, so colleagues sharing a project folder can read the results (group-readable with the
usual umask 002/022).
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; move it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        share(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def share(path) -> None:
    """chmod `path` (recursively for a directory) to 0o666/0o777 & ~umask, like open()/mkdir()."""
    mask = umask()
    fmode, dmode = 0o666 & ~mask, 0o777 & ~mask
    path = Path(path)
    if path.is_symlink():
        return
    if not path.is_dir():
        os.chmod(path, fmode | (os.stat(path).st_mode & 0o111 & ~mask))
        return
    os.chmod(path, dmode)
    for root, dirs, files in os.walk(path):
        for d in dirs:
            if not os.path.islink(os.path.join(root, d)):
                os.chmod(os.path.join(root, d), dmode)
        for f in files:
            fp = os.path.join(root, f)
            if not os.path.islink(fp):
                os.chmod(fp, fmode | (os.stat(fp).st_mode & 0o111 & ~mask))


@contextmanager
def atomic_paths(*paths):
    """Yield one temporary path beside each of `paths`; on success give them the umask's modes
    and move them all into place (in order); on any failure remove the temporaries and every
    output already moved, so a job never leaves part of its set of outputs behind."""
    paths = [Path(p) for p in paths]
    temps: list[Path] = []
    placed: list[Path] = []
    try:
        for p in paths:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
            os.close(fd)
            temps.append(Path(name))
        yield temps
        for t in temps:
            share(t)
        for t, p in zip(temps, paths):
            os.replace(t, p)
            placed.append(p)
    except BaseException:
        for p in (*temps, *placed):
            p.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path):
    """Yield a temporary directory beside `path`; on success give it the umask's modes and
    move it into place (replacing an old `path`); on failure remove it."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        share(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sha256_file(path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dumps(obj) -> str:
    """Canonical JSON: sorted keys, UTF-8, trailing newline (byte-identical reruns)."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def atomic_write_json(obj, path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(dumps(obj), encoding="utf-8")


def atomic_write_parquet(df, path) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def atomic_write_text(text: str, path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path, what: str = "JSON file"):
    """Parse a JSON file a job wrote (selection, pool stats, checkpoint record, ...).

    A truncated or corrupt file is a DataError naming the file and where parsing
    stopped, instead of a bare JSONDecodeError naming nothing.
    """
    from .errors import DataError

    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(path, None, None, f"{what} not found") from None
    except UnicodeDecodeError as e:
        raise DataError(path, None, None, f"{what} is not UTF-8 (byte {e.start}): {e.reason}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        hint = " (the file ends early: truncated?)" if e.pos >= len(text.rstrip()) else ""
        raise DataError(path, None, None, f"{what} is not valid JSON at line {e.lineno}, column {e.colno}: "
                                          f"{e.msg}{hint}; rerun the job that writes it") from None


@contextmanager
def parquet_input(path, what: str):
    """Run a read of Parquet file `path` (a `what` a job wrote: pool, score file, ...):
    pyarrow's errors for a truncated or corrupt file ("Parquet magic bytes not found",
    "Corrupt snappy compressed data") name no file, so they become a DataError naming it."""
    import pyarrow as pa

    from .errors import DataError

    try:
        yield
    except FileNotFoundError:
        raise DataError(path, None, None, f"{what} not found") from None
    except (OSError, pa.ArrowException) as e:
        said = " ".join(str(e).split())  # pyarrow's message can span lines
        raise DataError(path, None, None, f"cannot read this {what} as Parquet: {said}; if it is truncated or "
                                          "corrupt, delete it and rerun the job that writes it") from None


def reads_parquet(arg: str, what: str):
    """Decorator: run the function (or generator) inside `parquet_input(<its argument arg>, what)`."""
    import functools
    import inspect

    def wrap(fn):
        sig = inspect.signature(fn)

        def path_of(args, kwargs):
            return sig.bind_partial(*args, **kwargs).arguments.get(arg)

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen(*args, **kwargs):
                with parquet_input(path_of(args, kwargs), what):
                    yield from fn(*args, **kwargs)
            return gen

        @functools.wraps(fn)
        def call(*args, **kwargs):
            with parquet_input(path_of(args, kwargs), what):
                return fn(*args, **kwargs)
        return call

    return wrap
