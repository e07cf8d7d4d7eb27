"""Name → implementation registries with "did you mean" errors (after lm-eval's Registry)."""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")


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


class Registry(Generic[T]):
    """A named collection of implementations; `register` is a decorator."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str, where: str | None = None) -> T:
        """The implementation called `name`; `where` (a config key) prefixes the error."""
        try:
            return self._items[name]
        except KeyError:
            err = unknown(self.kind, name, self._items)
            raise (ConfigError(f"{where}: {err}") if where else err) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        return sorted(self._items)
