"""The bundled sample drops (package data in ``pipeline/samples/drops/``, written by the checkout's
``samples/make_samples.py``), copied out by ``partner-review sample`` so that an installed package can try
the routine without a checkout: ``DIR/<quarter>/...``, one folder per drop, the oldest quarter first.

Nothing already there is overwritten: when any file the copy would write exists, nothing is written.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from pipeline.core.files import atomic_write
from pipeline.core.problems import RunRefused


def sample_drops() -> Traversable:
    """The folder of the bundled drops, inside the installed package."""
    return resources.files("pipeline").joinpath("samples", "drops")


def _files(folder: Traversable, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Traversable]]:
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            out += _files(entry, (*prefix, entry.name))
        else:
            out.append(((*prefix, entry.name), entry))
    return out


@dataclass(frozen=True)
class SampleDrop:
    quarter: str
    folder: Path
    files: int


def write_samples(output_dir: Path | str) -> list[SampleDrop]:
    """Copy every bundled drop to ``output_dir/<quarter>/`` (folders created as needed) and return them,
    oldest quarter first. Refused (`RunRefused`, nothing written) when a file it would write exists."""
    out = Path(output_dir)
    drops = sorted((d for d in sample_drops().iterdir() if d.is_dir() and not d.name.startswith(".")),
                   key=lambda d: d.name)
    if not drops:
        raise RunRefused("this installation holds no sample drops (the package data is missing): reinstall partner-review")
    plan = [(d.name, parts, entry) for d in drops for parts, entry in _files(d)]
    existing = [out.joinpath(quarter, *parts) for quarter, parts, _ in plan
                if out.joinpath(quarter, *parts).exists() or out.joinpath(quarter, *parts).is_symlink()]
    if existing:
        shown = ", ".join(str(p) for p in existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise RunRefused(f"{shown} already exist{'s' * (len(existing) == 1)}; nothing was written. "
                         "Choose an empty folder (--output) or move those files away")
    for quarter, parts, entry in plan:
        atomic_write(out.joinpath(quarter, *parts), entry.read_bytes())
    return [SampleDrop(d.name, out / d.name, sum(1 for q, _, _ in plan if q == d.name)) for d in drops]
