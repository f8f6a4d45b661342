"""Content-addressed cache of partner reviews, so a re-run renders only what changed.

A partner PDF depends on its `PartnerView` (frames, registry row, health, problems, sources, config,
extras), the report date, the package version and the code that draws it. `review_key` hashes all of
that; an entry is stored under ``OUTPUT/.cache/<quarter>/<key>.pdf`` with the SHA-256 of its bytes in a
first line, and is served only when that checksum still matches. A corrupted or truncated entry is
deleted and treated as a miss, never copied into place. Entries a run neither used nor wrote are pruned
at its end, so the cache holds at most one review per partner per quarter.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

CACHE_DIR = ".cache"
FORMAT = b"partner-review-cache 1"
# the modules a partner review is drawn by: editing any of them invalidates every entry
# the code a review's bytes depend on: every module of pipeline/render/ (whatever it is split into) and these
RENDER_MODULES = ("charts.py", "frames.py", "cache.py")


def cache_dir(output_dir: Path, quarter: str) -> Path:
    return Path(output_dir) / CACHE_DIR / quarter


def fingerprint_files() -> list[str]:
    """The source files (relative to the package) whose text is part of every cache key."""
    import pipeline

    root = Path(pipeline.__file__).parent
    return list(RENDER_MODULES) + sorted(p.relative_to(root).as_posix() for p in (root / "render").glob("*.py"))


@lru_cache(maxsize=1)
def render_fingerprint() -> str:
    """Package and library versions plus a hash of the rendering code's source."""
    import matplotlib
    import reportlab

    import pipeline

    h = hashlib.sha256()
    h.update(f"{pipeline.__version__}|{matplotlib.__version__}|{reportlab.Version}|{pd.__version__}".encode())
    root = Path(pipeline.__file__).parent
    for rel in fingerprint_files():
        path = root / rel
        h.update(rel.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"missing") + b"\0")
    return h.hexdigest()


def review_key(view: Any, report_date: dt.date | None = None) -> str:
    """The cache key of one partner's review: everything its PDF is made from."""
    h = hashlib.sha256()
    h.update(render_fingerprint().encode())
    h.update(str(report_date or dt.date.today()).encode())
    _feed(h, view)
    return h.hexdigest()


def _feed(h: "hashlib._Hash", value: Any) -> None:
    """Hash `value` canonically: frames by columns, dtypes and full-precision CSV; containers recursively."""
    if isinstance(value, pd.DataFrame):
        # an empty frame's dtypes follow the whole portfolio's, not this partner's data: leave them out
        dtypes = [str(t) for t in value.dtypes] if len(value) else []
        h.update(b"F" + repr((list(map(str, value.columns)), dtypes)).encode())
        _feed(h, value.index.tolist())
        for name in value.columns if len(value) else ():
            col = value[name]
            if col.dtype.kind in "biuf":   # plain numpy numbers: their bytes (NaN included)
                h.update(b"N" + col.to_numpy().tobytes())
            else:                           # anything else value by value, each repr'd (escapes separators)
                h.update(b"O" + "\x1f".join(map(repr, col.tolist())).encode("utf-8", "surrogatepass"))
    elif isinstance(value, pd.Series):
        _feed(h, value.to_frame())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        h.update(b"D" + type(value).__qualname__.encode())
        for f in dataclasses.fields(value):
            h.update(f.name.encode() + b"=")
            _feed(h, getattr(value, f.name))
    elif isinstance(value, dict):
        h.update(b"{%d" % len(value))
        for k in sorted(value, key=repr):
            _feed(h, k)
            _feed(h, value[k])
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        h.update(b"[%d" % len(items))
        for item in items:
            _feed(h, item)
    else:
        h.update(b"V" + type(value).__name__.encode() + b":" + repr(value).encode("utf-8", "surrogatepass"))
    h.update(b";")


def get(folder: Path, key: str) -> bytes | None:
    """The cached PDF for `key`, or None. An entry whose checksum does not match is removed, not served."""
    path = Path(folder) / f"{key}.pdf"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head, sep, body = data.partition(b"\n")
    parts = head.split(b" ")
    if (sep and len(parts) == 3 and b" ".join(parts[:2]) == FORMAT
            and parts[2] == hashlib.sha256(body).hexdigest().encode() and body.startswith(b"%PDF")):
        os.utime(path)
        return body
    try:
        path.unlink()
    except OSError:
        pass
    return None


def put(folder: Path, key: str, pdf: bytes) -> None:
    """Store `pdf` under `key` (written aside and renamed; a failure to cache never fails the run)."""
    from pipeline.outputs import atomic_write

    try:
        atomic_write(Path(folder) / f"{key}.pdf", FORMAT + b" " + hashlib.sha256(pdf).hexdigest().encode() + b"\n" + pdf)
    except OSError:
        pass


def prune(folder: Path, keep: Iterable[str]) -> int:
    """Delete the entries (and stray temp files) of `folder` whose key is not in `keep`."""
    folder = Path(folder)
    wanted = {f"{k}.pdf" for k in keep}
    removed = 0
    if not folder.is_dir():
        return 0
    for entry in folder.iterdir():
        if entry.is_file() and entry.name not in wanted:
            try:
                entry.unlink()
                removed += 1
            except OSError:
                pass
    return removed
