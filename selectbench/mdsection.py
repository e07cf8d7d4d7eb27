"""Generated sections of Markdown pages: the text between a start and an end marker, which a
command rewrites and a test compares (the configuration reference, the README's rule graph)."""

from __future__ import annotations

from pathlib import Path


def section(text: str, start: str, end: str) -> str:
    """The part of `text` between the markers, or raise ValueError naming them."""
    try:
        a = text.index(start) + len(start)
        b = text.index(end, a)
    except ValueError:
        raise ValueError(f"the page lacks the markers {start!r} … {end!r}") from None
    return text[a:b].strip("\n") + "\n"


def replace(path, start: str, end: str, new: str) -> bool:
    """Put `new` between the markers of the page at `path`; True if that changed it."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if section(text, start, end) == new:
        return False
    a = text.index(start) + len(start)
    b = text.index(end, a)
    path.write_text(text[:a] + "\n" + new + text[b:], encoding="utf-8")
    return True
