"""Methods from the user's own package: plug-ins, without editing selectbench.

Two ways in, both before any job runs (the Snakefile checks the config at parse time, and
every job loads the same plug-ins before it looks a name up):

- **Entry points** of an installed distribution, one group per kind (`GROUPS`), e.g. in
  the plug-in's pyproject.toml::

      [project.entry-points."selectbench.selectors"]
      my_top = "my_methods.select"

  The entry point's name is the name it registers; its value, the module that registers it
  (importing the module runs its ``@selector``/``@scorer``/``@pool_generator`` decorators).
  Benchmark tasks: group ``selectbench.tasks``, whose entry point names a package; the
  lm-eval task YAML files in that package's folder join `evaluation.include_path`.
- **`plugins.modules`** in the config: modules to import, for code that is not installed;
  `plugins.paths` are put in front of ``sys.path`` for them (relative to the working
  directory, as every path of a config).

A plug-in's source file counts toward the code digest of the jobs it feeds
(`provenance.code_files`), so editing it reruns exactly those jobs.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import sys
from pathlib import Path

from .errors import ConfigError

# kind → entry-point group
GROUPS = {
    "scorer": "selectbench.scorers",
    "selector": "selectbench.selectors",
    "pool generator": "selectbench.pool_generators",
}

_loaded_groups: set[str] = set()
_loading: set[str] = set()
_imported: set[str] = set()      # plug-in modules loaded in this process


def _registry(group: str):
    if group == GROUPS["scorer"]:
        from .scoring import SCORERS

        return SCORERS
    if group == GROUPS["selector"]:
        from .selection import SELECTORS

        return SELECTORS
    from .builders import POOL_GENERATORS

    return POOL_GENERATORS


def _import(module: str, what: str) -> None:
    try:
        importlib.import_module(module)
    except ConfigError as e:          # a decorator's own check (a name registered twice, …)
        raise ConfigError(f"{what}: {e}") from None
    except SyntaxError as e:
        raise ConfigError(f"{what} failed to import: SyntaxError at {e.filename}:{e.lineno}: {e.msg}") from None
    except Exception as e:            # noqa: BLE001 — any import failure is the plug-in's
        raise ConfigError(f"{what} failed to import: {type(e).__name__}: {e}") from None
    _imported.add(module)


def load_entry_points(group: str) -> None:
    """Import every installed plug-in of `group` once per process; each must register the
    name of its entry point in that group's registry."""
    if group in _loaded_groups or group in _loading:
        return
    _loading.add(group)
    try:
        registry = _registry(group)
        for ep in sorted(md.entry_points(group=group), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "?"
            what = f"plug-in '{ep.name}' (entry point '{ep.name} = {ep.value}' of {dist}, group {group})"
            module = ep.value.split(":")[0].strip()
            _import(module, what)
            if ep.name not in registry._items:
                got = sorted(n for n, o in registry._origins.items() if o.module == module)
                raise ConfigError(f"{what}: module {module} registered no {registry.kind} named "
                                  f"'{ep.name}' (it registered: {', '.join(got) or 'none'})")
        _loaded_groups.add(group)
    finally:
        _loading.discard(group)


def load(plugins: dict | None, workdir=".") -> None:
    """Load every plug-in a config names (`plugins.modules`, `plugins.paths`) and the
    installed ones of every group."""
    for group in GROUPS.values():
        load_entry_points(group)
    plugins = plugins or {}
    for p in plugins.get("paths", []):
        path = str((Path(workdir) / p).resolve())
        if not Path(path).is_dir():
            raise ConfigError(f"plugins.paths: '{p}' is not a directory (resolved to {path})")
        if path not in sys.path:
            sys.path.insert(0, path)
    for module in plugins.get("modules", []):
        _import(module, f"plug-in module '{module}' (config plugins.modules)")


TASKS_GROUP = "selectbench.tasks"


def task_dirs() -> dict[str, Path]:
    """{entry point name: folder} of the installed task plug-ins (group `selectbench.tasks`):
    each names a package whose folder holds lm-eval task YAML files. Its folder is found
    without importing it."""
    import importlib.util

    out = {}
    for ep in sorted(md.entry_points(group=TASKS_GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else "?"
        what = f"task plug-in '{ep.name}' (entry point '{ep.name} = {ep.value}' of {dist}, group {TASKS_GROUP})"
        try:
            spec = importlib.util.find_spec(ep.value.split(":")[0].strip())
        except (ImportError, ValueError) as e:
            raise ConfigError(f"{what}: cannot find its package: {e}") from None
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            raise ConfigError(f"{what}: {ep.value} is not a package (a folder of lm-eval task YAML files)")
        folder = Path(locations[0])
        if not any(folder.rglob("*.yaml")):
            raise ConfigError(f"{what}: its folder {folder} holds no task YAML files")
        out[ep.name] = folder.resolve()
    return out


def package_of(module: str) -> str:
    """The distribution that provides `module`, or 'plugins.modules' for one a config
    imports from a path."""
    top = module.split(".")[0]
    dists = md.packages_distributions().get(top)
    if dists:
        return dists[0]
    return "plugins.modules"


def plugin_tops() -> set[str]:
    """Top-level package names of the plug-in modules loaded in this process."""
    return {m.split(".")[0] for m in _imported}
