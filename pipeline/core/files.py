"""Files written whole, and the checksummed entries both caches keep.

`atomic_write` and `replace_folder` never leave a half file or folder under a final name, and give what
they create the mode any file the user creates gets (0666 or 0777 less the umask, or the folder's
default ACL), so colleagues on a shared drive can open the reviews. The read cache
(`pipeline.read.cache`) and the review cache (`pipeline.write.cache`) store entries in one format
(`write_entry`, `read_entry`: a first line with the format and the SHA-256 of the rest) and key them by
`code_fingerprint` (our source and the versions of the libraries that read and draw).
"""
from __future__ import annotations

import errno
import hashlib
import os
import secrets
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any


# --- files written whole -------------------------------------------------------------------------------
def atomic_write(path: Path, data: bytes) -> Path:
    """Write `data` to `path` whole or not at all: a temp file in the same folder, fsync, rename.

    The file gets the mode any file the user creates gets (0666 less the umask, or the folder's default
    ACL), so colleagues on a shared drive can open it; `tempfile.mkstemp` would make it 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_aside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | \
    getattr(os, "O_BINARY", 0)


def _aside_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")


def _make_aside(target: Path, make: Callable[[str], Any]) -> tuple[Any, str]:
    """``make(name)`` for a fresh unused name beside `target` (it must fail with FileExistsError when the
    name is taken): (what it returned, the name)."""
    for _ in range(100):
        tmp = str(_aside_name(target))
        try:
            return make(tmp), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name beside it", str(target))


def _create_aside(target: Path) -> tuple[int, str]:
    """A new, exclusive temp file beside `target`, created 0666 so that the kernel applies the umask (no
    process-wide ``os.umask`` dance, so no race with other threads)."""
    return _make_aside(target, lambda tmp: os.open(tmp, _CREATE, 0o666))


def mkdir_aside(target: Path) -> Path:
    """A new, empty folder beside `target`, created 0777 less the umask (`tempfile.mkdtemp` makes it 0700)."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    return Path(_make_aside(target, lambda tmp: os.mkdir(tmp, 0o777))[1])


def swap_in(tmp: Path, final: Path) -> Path:
    """Put the folder `tmp` (made by `mkdir_aside`) in the place of `final`, the old contents removed."""
    import shutil

    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def replace_folder(final: Path, fill) -> Path:
    """Build a folder aside with ``fill(tmp_folder)``, then swap it in for `final` (old contents removed):
    a re-run leaves exactly this run's files, and a crash leaves the previous folder whole."""
    import shutil

    final = Path(final)
    tmp = mkdir_aside(final)
    try:
        fill(tmp)
        swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


# --- cache entries ---------------------------------------------------------------------------------------
def write_entry(path: Path, fmt: bytes, body: bytes) -> None:
    """`body` behind a first line of the format and its SHA-256; written aside and renamed. A failure to
    cache never fails the run."""
    try:
        atomic_write(path, fmt + b" " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    except OSError:
        pass


def read_entry(path: Path, fmt: bytes) -> bytes | None:
    """The body of the entry at `path` when its first line is `fmt` and the body's checksum; else None,
    and a bad entry is deleted. A good entry's time is touched (the cache keeps what is used)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head, sep, body = data.partition(b"\n")
    if sep and head == fmt + b" " + hashlib.sha256(body).hexdigest().encode():
        try:
            os.utime(path)
        except OSError:
            pass
        return body
    discard(path)
    return None


def discard(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except OSError:
        return 0


def prune(folder: Path, keep: Iterable[str], suffix: str) -> int:
    """Delete the entries (and stray temp files) of `folder` whose key is not in `keep`."""
    folder = Path(folder)
    wanted = {f"{k}{suffix}" for k in keep}
    removed = 0
    if not folder.is_dir():
        return 0
    for entry in folder.iterdir():
        if entry.is_file() and entry.name not in wanted:
            removed += discard(entry)
    return removed


def fingerprint_files() -> list[str]:
    """The source files (relative to the package) whose text is part of every cache key: all of them."""
    import pipeline

    root = Path(pipeline.__file__).parent
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))


# the libraries whose behaviour a review or a read grid depends on: a new version renders and reads again
LIBRARIES = ("pandas", "numpy", "matplotlib", "pillow", "reportlab", "rl-accel", "python-calamine", "openpyxl",
             "defusedxml")


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The versions of this package and of `LIBRARIES`, plus a hash of the package's source."""
    from importlib import metadata

    import pipeline

    h = hashlib.sha256()
    for name in LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{name}={version}|".encode())
    h.update(pipeline.__version__.encode())
    root = Path(pipeline.__file__).parent
    for rel in fingerprint_files():
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return h.hexdigest()
