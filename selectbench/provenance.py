"""Provenance of every workflow output: what made it, from what, with which code.

Each job run through `selectbench.workflow.logged` writes, beside each declared output
`X`, a record `X.prov.json` (for a directory output `D/`, `D.prov.json`):

* ``job``: rule, wildcards, params (exactly what the script received), threads, log;
* ``inputs``: every input file or directory with its sha256 (a directory's hash is a
  sha256 over the sorted ``relative path, sha256`` lines of its files) and the path of
  the input's own provenance record, if the workflow made it (this is the chain
  `selectbench audit trace` follows: benchmark JSON → checkpoint → selection → scores →
  pool → raw sources);
* ``outputs``: every output of the job with its sha256, size and mtime (a later job
  reuses a recorded hash when size and mtime still match, instead of re-reading);
* ``code``: the sha256 of each package module the job's code path imports (the rule's
  ``code`` param, see `code_files`), the script's hash, the workflow's git commit and
  dirty flag;
* ``versions`` (torch, transformers, peft, lm-eval, snakemake, selectbench, ...),
  ``device`` (type and name), host-independent timing (``seconds``) and timestamps.

Volatile fields (timestamps, seconds) live only in these sibling records, never in the
outputs themselves, so a selection file stays byte-identical across reruns.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
from functools import lru_cache
from pathlib import Path

from .io import sha256_file

SUFFIX = ".prov.json"
SCHEMA = 1
VERSIONED = ("selectbench", "snakemake", "torch", "transformers", "peft", "lm_eval", "accelerate",
             "datasets", "sentence-transformers", "pandas", "numpy", "pyarrow")
PACKAGE_DIR = Path(__file__).resolve().parent


def prov_path(output) -> Path:
    """The provenance record of an output file or directory."""
    return Path(str(output).rstrip("/") + SUFFIX)


# ---------------------------------------------------------------- content hashes
# (files: io.sha256_file)
IGNORED = (".snakemake_timestamp",)  # Snakemake adds it to directory outputs after the job


def _files(root: Path):
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            if f not in IGNORED:
                yield Path(dirpath) / f


def fingerprint(path) -> dict:
    """Cheap identity of a path: kind, total bytes, newest mtime (ns), file count."""
    path = Path(path)
    if path.is_dir():
        stats = [f.stat() for f in _files(path)]
        return {"kind": "dir", "bytes": sum(s.st_size for s in stats), "files": len(stats),
                "mtime_ns": max((s.st_mtime_ns for s in stats), default=path.stat().st_mtime_ns)}
    s = path.stat()
    return {"kind": "file", "bytes": s.st_size, "files": 1, "mtime_ns": s.st_mtime_ns}


def content_hash(path) -> str:
    """sha256 of a file; of a directory, sha256 over its sorted `relpath\\tsha256` lines."""
    path = Path(path)
    if not path.is_dir():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in _files(path):
        h.update(f"{f.relative_to(path).as_posix()}\t{sha256_file(f)}\n".encode())
    return h.hexdigest()


CACHE_DIR = Path(".snakemake") / "selectbench-hashes"


def describe(path) -> dict:
    """fingerprint + sha256 of `path`. The hash is reused, not recomputed, when the producer's
    record or a previous job saw the same path with the same size, mtime and file count
    (`.snakemake/selectbench-hashes/`, relative to the workflow's directory): a large pool
    or base model is read once, not by every downstream job. Snakemake touches outputs
    after a job, so the producer's own record matches only until then."""
    import hashlib as _h

    fp = fingerprint(path)
    rec = read_record(prov_path(path))
    if rec:
        old = rec.get("outputs", {}).get(str(path))
        if old and all(old.get(k) == fp[k] for k in ("bytes", "mtime_ns", "files")):
            return {**fp, "sha256": old["sha256"]}
    key = _h.sha256(f"{os.path.abspath(path)}|{fp['bytes']}|{fp['mtime_ns']}|{fp['files']}".encode()).hexdigest()
    cached = CACHE_DIR / key
    try:
        digest = cached.read_text().strip()
        if len(digest) == 64:
            return {**fp, "sha256": digest}
    except OSError:
        pass
    digest = content_hash(path)
    try:
        from .io import atomic_write_text

        atomic_write_text(digest + "\n", cached)
    except OSError:
        pass
    return {**fp, "sha256": digest}


def read_record(path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- code identity
def _tracked(modname: str) -> bool:
    """selectbench's own modules and those of loaded plug-in packages (their code counts)."""
    from .plugins import plugin_tops

    top = modname.split(".")[0]
    return top == "selectbench" or top in plugin_tops()


def _module_file(modname: str) -> Path | None:
    parts = modname.split(".")
    if parts[0] != "selectbench":
        return _plugin_file(modname) if _tracked(modname) else None
    p = PACKAGE_DIR.joinpath(*parts[1:])
    if (p / "__init__.py").exists():
        return p / "__init__.py"
    if p.with_suffix(".py").exists():
        return p.with_suffix(".py")
    return None


def _plugin_file(modname: str) -> Path | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec(modname)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _code_key(f: Path) -> str:
    """A code file's name in a `code` param: package-relative for selectbench, else
    'plugin:<path from the plug-in's top-level package>'."""
    try:
        return f.relative_to(PACKAGE_DIR.parent).as_posix()
    except ValueError:
        pass
    from .plugins import plugin_tops

    parts = f.resolve().parts
    for i in range(len(parts) - 1, -1, -1):
        stem = parts[i][:-3] if parts[i].endswith(".py") else parts[i]
        if stem in plugin_tops():
            return "plugin:" + "/".join(parts[i:])
    return "plugin:" + f.name


def _resolve(modname: str, level: int, module: str | None, is_pkg: bool) -> str:
    if level == 0:
        return module or ""
    base = modname.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _imports(tree, modname: str, is_pkg: bool):
    """(module, names or None) for every selectbench import anywhere in `tree`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if _tracked(a.name):
                    yield a.name, None
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(modname, node.level, node.module, is_pkg)
            if target and _tracked(target):
                yield target, [a.name for a in node.names]


@lru_cache(maxsize=None)
def _parse(path: Path):
    return ast.parse(path.read_text(encoding="utf-8"))


# modules that only find code (plug-ins' loader): they import every registry lazily, but
# compute nothing a result depends on; the plug-in modules they load are hashed by name
NOT_CODE_PATH = {"selectbench.plugins"}


def _closure(modname: str, names: tuple | None, seen: set) -> None:
    f = _module_file(modname)
    if f is None or modname in NOT_CODE_PATH or (modname, names) in seen:
        return
    seen.add((modname, names))
    is_pkg = f.name == "__init__.py"
    if is_pkg and names is not None:
        # a package: only the submodules / re-exports / definitions that were asked for
        seen.add((modname, "__file__"))
        tree = _parse(f)
        for name in names:
            if _module_file(f"{modname}.{name}"):
                _closure(f"{modname}.{name}", None, seen)
                continue
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and name in [a.asname or a.name for a in node.names]:
                    target = _resolve(modname, node.level, node.module, True)
                    _closure(target, (name,), seen)
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
                    for mod, sub in _imports(node, modname, True):
                        _closure(mod, tuple(sub) if sub else None, seen)
        return
    seen.add((modname, "__file__"))
    for mod, sub in _file_imports(f, modname, is_pkg):
        mf = _module_file(mod)
        if mf is None:
            continue
        _closure(mod, sub if sub is not None and mf.name == "__init__.py" else None, seen)


@lru_cache(maxsize=None)
def _file_imports(f: Path, modname: str, is_pkg: bool) -> tuple:
    """A module file's selectbench imports, walked once per workflow parse (rules ask for the
    code of ~200 jobs' modules, which share most of their imports)."""
    return tuple((mod, tuple(sub) if sub is not None else None) for mod, sub in _imports(_parse(f), modname, is_pkg))


@lru_cache(maxsize=None)
def code_files(*modules: str) -> dict:
    """{package-relative file: code_digest[:16]} of `modules` and every selectbench module they
    import (transitively, also imports inside functions; of a package `__init__` only the
    names imported from it). Used as a rule's ``code`` param, so that editing a scorer's or
    selector's module reruns exactly the jobs whose code path includes it."""
    seen: set = set()
    for m in modules:
        _closure(m, None, seen)
    files = sorted({_module_file(m) for m, tag in seen if tag == "__file__"})
    return {_code_key(f): code_digest(f)[:16] for f in files}


def code_digest(path) -> str:
    """sha256 of a module's syntax tree without docstrings: editing code reruns the jobs that
    run it; editing comments, docstrings or formatting does not."""
    st = Path(path).stat()
    return _code_digest(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=None)
def _code_digest(path: str, mtime_ns: int, size: int) -> str:   # one parse per file version
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


# ---------------------------------------------------------------- environment
def versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in VERSIONED:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


@lru_cache(maxsize=None)
def git_state(directory) -> dict:
    """{'commit', 'dirty'} of the git work tree holding `directory` (None outside git).
    Dirty = tracked files differ from the commit (untracked files are ignored)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True,
                              timeout=30)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        status = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def device_info() -> dict:
    """The device the job computed on: CUDA (name, count) if the job imported torch and a
    GPU is visible, else CPU."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return {"type": "cuda", "name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
    import platform

    return {"type": "cpu", "name": platform.processor() or platform.machine(), "count": os.cpu_count()}


def jsonable(obj):
    """Params as JSON values (tuples → lists, unknown objects → repr)."""
    return json.loads(json.dumps(obj, default=repr))


def _input_entry(path: str, inline: bool) -> dict:
    prov = prov_path(path)
    entry = {**describe(path), "prov": str(prov) if prov.exists() else None}
    if inline and prov.exists():
        # a temporary input (a score shard): Snakemake deletes it, and then its record, after
        # this job; its record lives on inside this one, so the chain stays traceable
        entry["record"] = read_record(prov)
    return entry


def job_record(*, rule: str, wildcards: dict, params: dict, threads: int, log: list, inputs: list,
               outputs: list, script: str | None, workflow_dir, started: str, finished: str,
               seconds: float, inline: tuple = ()) -> dict:
    """The provenance record of one finished job (see the module docstring).

    `inline`: inputs (temporary ones) whose own records are copied into this record's
    ``inputs[path]["record"]``."""
    inline = {str(x) for x in inline}
    return {
        "schema": SCHEMA,
        "job": {"rule": rule, "wildcards": wildcards, "params": jsonable(params), "threads": threads,
                "log": [str(x) for x in log]},
        "inputs": {p: _input_entry(p, p in inline)
                   for p in dict.fromkeys(str(x) for x in inputs) if os.path.exists(p)},
        "outputs": {str(p): describe(p) for p in outputs if os.path.exists(p)},
        "code": {"files": jsonable(params.get("code")) if isinstance(params.get("code"), dict) else None,
                 "script": {"path": script, "sha256": sha256_file(script)} if script and os.path.exists(script)
                 else None,
                 "git": git_state(str(workflow_dir)) if workflow_dir else {"commit": None, "dirty": None}},
        "versions": versions(),
        "device": device_info(),
        "started": started,
        "finished": finished,
        "seconds": round(seconds, 3),
    }


def forget(outputs) -> None:
    """Remove the records of `outputs` (a job about to rewrite them: a failed job leaves none)."""
    for out in outputs:
        prov_path(out).unlink(missing_ok=True)


def orphans(root) -> list[Path]:
    """Records under `root` whose output no longer exists (deleted by hand, a cleaned-up
    temporary file), sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*" + SUFFIX)
                  if p.is_file() and not os.path.lexists(str(p)[: -len(SUFFIX)]))


def remove_orphans(root) -> list[Path]:
    """Delete the records `orphans(root)` lists; returns them."""
    gone = orphans(root)
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def write_records(record: dict, outputs: list) -> list[Path]:
    """Write `record` as the `.prov.json` sibling of every output (atomically, shared modes)."""
    from .io import atomic_write_json

    paths = []
    for out in outputs:
        p = prov_path(out)
        atomic_write_json(dict(record, output=str(out)), p)
        paths.append(p)
    return paths
