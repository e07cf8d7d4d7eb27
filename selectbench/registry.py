"""Name → implementation registries with "did you mean" errors (after lm-eval's Registry).

Implementations come from selectbench itself and from plug-ins (`selectbench.plugins`):
Python entry points of installed packages, loaded the first time a registry is read, and
the modules a config lists under `plugins.modules`. Each entry remembers where it was
defined (`origin`), so `selectbench list` and the errors can say so.
"""

from __future__ import annotations

import difflib
import inspect
import sys
from dataclasses import dataclass
from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class _Required:
    """The default of a declared parameter that has none: the config must give it."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


def did_you_mean(name: str, choices) -> str:
    """A ' (did you mean 'x'?)' suffix for the closest choice, or ''."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


MAX_LISTED = 20   # an error lists every known name up to this many, else the closest this many


def unknown(kind: str, name: str, choices, list_all: str | None = None) -> ConfigError:
    """'unknown KIND NAME (did you mean …?); known: …'. Past MAX_LISTED choices (lm-eval knows
    thousands of tasks) only the closest are listed, with `list_all`: how to see them all."""
    choices = sorted(str(c) for c in choices)
    if len(choices) <= MAX_LISTED:
        return ConfigError(
            f"unknown {kind} '{name}'{did_you_mean(name, choices)}; known: {', '.join(choices) or '(none)'}")
    close = difflib.get_close_matches(str(name), choices, n=MAX_LISTED, cutoff=0.0)
    how = f"; list them all with `{list_all}`" if list_all else ""
    # the closest of all is the first of `close`: suggest from the shortlist, not all names again
    return ConfigError(
        f"unknown {kind} '{name}'{did_you_mean(name, close)}; the closest of {len(choices)} known: "
        f"{', '.join(close)}{how}")


@dataclass(frozen=True)
class Origin:
    """Where an implementation is defined: its distribution (or 'selectbench', or
    'plugins.modules' for a module a config imports), module, file and line."""

    package: str
    module: str
    file: str
    line: int

    @property
    def builtin(self) -> bool:
        return self.module == "selectbench" or self.module.startswith("selectbench.")

    def __str__(self) -> str:
        return f"{self.package} ({self.module}:{self.line})"


def origin_of(fn) -> Origin:
    """The Origin of a function (or class)."""
    module = getattr(fn, "__module__", None) or "?"
    try:
        file = inspect.getsourcefile(fn) or "?"
        line = inspect.getsourcelines(fn)[1]
    except (OSError, TypeError):
        file, line = getattr(sys.modules.get(module), "__file__", None) or "?", 0
    if module == "selectbench" or module.startswith("selectbench."):
        package = "selectbench"
    else:
        from .plugins import package_of

        package = package_of(module)
    return Origin(package, module, str(file), int(line))


class Registry(Generic[T]):
    """A named collection of implementations; `register` is a decorator.

    Reading it (get, in, iteration, names) first loads the installed plug-ins of its
    entry-point group (`plugins.GROUPS`)."""

    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind
        self.group = group    # the entry-point group of its plug-ins
        self._items: dict[str, T] = {}
        self._origins: dict[str, Origin] = {}

    def register(self, name: str, source: Callable | None = None) -> Callable[[T], T]:
        """Register under `name`; `source`: the function whose definition is the origin
        (default: the registered object itself)."""
        def deco(obj: T) -> T:
            origin = origin_of(source if source is not None else obj)
            if name in self._items:
                raise ConfigError(
                    f"{self.kind} '{name}' is registered twice: by {self._origins[name]} and by "
                    f"{origin} ({origin.file}); rename one of them")
            self._items[name] = obj
            self._origins[name] = origin
            return obj

        return deco

    def _load(self) -> None:
        if self.group:
            from .plugins import load_entry_points

            load_entry_points(self.group)

    def get(self, name: str, where: str | None = None) -> T:
        """The implementation called `name`; `where` (a config key) prefixes the error."""
        self._load()
        try:
            return self._items[name]
        except KeyError:
            err = unknown(self.kind, name, self._items)
            raise (ConfigError(f"{where}: {err}") if where else err) from None

    def origin(self, name: str) -> Origin:
        self.get(name)
        return self._origins[name]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)
