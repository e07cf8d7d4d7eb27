"""envs/selectbench.yaml from requirements.lock: the conda env pins exactly what the lock pins.

Snakemake identifies a conda env by the text of its YAML file, so the pins are written
inline (a `-r ../requirements.lock` line would leave the env unchanged when the lock
changes). Regenerate with `make conda-env` (python -m selectbench.condaenv); a test
checks that the two agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
ENV = ROOT / "envs" / "selectbench.yaml"
PYTHON = "3.11"

HEADER = """\
# Conda environment for `--sdm conda` on clusters (every rule uses it).
# GENERATED from requirements.lock by `make conda-env` (python -m selectbench.condaenv):
# do not edit by hand. The pins are inline so that Snakemake (which identifies an env by
# this file's text) rebuilds the env whenever the lock changes.
# On a GPU node pip resolves torch=={torch} to the CUDA build from PyPI.
"""


def lock_pins(text: str) -> list[str]:
    """The `name==version` lines of a lock file, in order (comments and blanks dropped)."""
    pins = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "==" not in line or line.startswith("-"):
            raise ValueError(f"requirements.lock: not an exact pin: {line!r}")
        pins.append(line)
    return pins


def env_text(lock_text: str) -> str:
    pins = lock_pins(lock_text)
    torch = next((p.split("==")[1] for p in pins if p.lower().startswith("torch==")), "?")
    lines = [HEADER.format(torch=torch).rstrip("\n"),
             "name: selectbench", "channels:", "  - conda-forge", "  - nodefaults", "dependencies:",
             f"  - python={PYTHON}", "  - pip", "  - pip:"]
    lines += [f"      - {p}" for p in pins]
    lines += ["      - -e .."]
    return "\n".join(lines) + "\n"


def env_pins(env_text_: str) -> list[str]:
    """The exact pins of an env file's pip section (the `-e ..` line excluded)."""
    import yaml

    env = yaml.safe_load(env_text_)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return [p for p in pip if not p.startswith("-")]


def main(argv=None) -> int:
    text = env_text(LOCK.read_text())
    if ENV.exists() and ENV.read_text() == text:
        print(f"{ENV.relative_to(ROOT)}: up to date with {LOCK.name}")
        return 0
    ENV.write_text(text)
    print(f"{ENV.relative_to(ROOT)}: regenerated from {LOCK.name} ({len(lock_pins(LOCK.read_text()))} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
