"""The versions of reportlab and matplotlib whose private APIs `pipeline.compat` mirrors."""
from __future__ import annotations

from functools import cache

# library -> the (major, minor) versions whose private API the mirror is known to match
SUPPORTED: dict[str, tuple[tuple[int, int], ...]] = {
    "reportlab": ((5, 1),),
    "matplotlib": ((3, 11),),
}


@cache
def supported(library: str) -> bool:
    """Whether the installed `library` is a version our mirror of its private API was made for."""
    from importlib import metadata

    try:
        major, minor = (int(p) for p in metadata.version(library).split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) in SUPPORTED.get(library, ())
