"""Find the files in the input folder: what will be read and what is skipped (with a note).

Walks the folder with an explicit stack, so any depth works, in a deterministic order (sorted names,
'/' separated relative paths). Nothing is opened here, only listed and stat'ed: hashing and sniffing
the content happen in the worker that reads the file (`pipeline.read.reader`), under its time and size limits.

Every folder that is not read has its problem: one that cannot be listed (FOLDER_UNREADABLE), a path the
system refuses (PATH_TOO_LONG), a symlinked folder that leads outside the input folder
(FOLDER_LINK_OUTSIDE) or to a folder read already, a loop among them (FOLDER_LOOP). Symlinked folders
that lead inside are followed once every real folder has been walked, so a folder that has a path of its
own is read under it, once. A symlinked file is read when it leads to a regular file inside the input
folder; outside, FILE_LINK_OUTSIDE; nowhere, FILE_LINK_BROKEN. The rules are in ``docs/reading.md``.
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pipeline.core import problems as P
from pipeline.core.settings import CONFIG_FILE

# extension -> kind of reader
KINDS = {".xlsx": "xlsx", ".xlsm": "xlsm", ".xls": "xls", ".ods": "ods", ".csv": "csv"}


@dataclass(frozen=True)
class Found:
    """A file that looks like input, to be sniffed and read."""

    path: str        # relative to the input folder, '/' separators
    kind: str        # by extension: xlsx, xlsm, xls, ods, csv
    size: int


@dataclass(frozen=True)
class Skipped:
    """A file or folder that is not read, with the note (or warning) that says why."""

    path: str                # a folder's ends with '/'
    problem: P.Problem
    is_folder: bool = False


def _shown(path: str) -> str:
    """A path as text: bytes of the name that are not UTF-8 (Python keeps them as surrogates) become \ufffd."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "replace")


def _is_readme(name: str) -> bool:
    return name.lower().split(".")[0] == "readme"


def _inside(real: str, base: str) -> bool:
    return real == base or os.path.commonpath([real, base]) == base


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def discover(input_dir: Path) -> tuple[list[Found], list[Skipped]]:
    """Every candidate file under ``input_dir`` (sorted by path) and every file or folder skipped, with its problem.

    Lock files (``~$x.xlsx``) give FILE_LOCK, hidden files and folders FILE_HIDDEN (a hidden folder is
    not entered), anything else FILE_UNSUPPORTED; the config file and README files are silently fine.
    Raises `PipelineError` only when the input folder itself cannot be listed.
    """
    root = Path(input_dir)
    base = os.path.realpath(root)
    found: list[Found] = []
    skipped: list[Skipped] = []
    try:
        st = os.stat(root)
    except OSError as exc:
        raise _unreadable_root(root, exc) from exc
    seen = {(st.st_dev, st.st_ino)}         # every folder listed (or about to be), by device and inode
    stack: list[tuple[str, str]] = [(str(root), "")]   # (folder on disk, its relative path + '/')
    links: list[tuple[str, str, os.stat_result]] = []   # symlinked folders, followed after the real ones

    while stack or links:
        if not stack:
            full, rel, st = links.pop(0)
            real = os.path.realpath(full)
            shown = _shown(rel)
            if not _inside(real, base):
                skipped.append(Skipped(shown, P.make("FOLDER_LINK_OUTSIDE", file=shown, detail=_shown(real)), True))
            elif (st.st_dev, st.st_ino) in seen:
                to = os.path.relpath(real, base)
                detail = "the input folder itself" if to == "." else "'" + _shown(Path(to).as_posix()) + "/'"
                skipped.append(Skipped(shown, P.make("FOLDER_LOOP", file=shown, detail=detail), True))
            else:
                seen.add((st.st_dev, st.st_ino))
                stack.append((full, rel))
            continue
        here, prefix = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if not prefix:
                raise _unreadable_root(root, exc) from exc
            skipped.append(Skipped(_shown(prefix), _not_listed(prefix, here, exc), True))
            continue
        below: list[tuple[str, str]] = []
        for entry in entries:
            _classify(entry, prefix, base, seen, below, links, found, skipped)
        stack.extend(reversed(below))
    found.sort(key=lambda f: f.path)
    skipped.sort(key=lambda s: s.path)
    return found, skipped


def _classify(entry: os.DirEntry, prefix: str, base: str, seen: set, below: list, links: list,
              found: list[Found], skipped: list[Skipped]) -> None:
    """Sort one directory entry into a folder to walk, a link to follow later, a file found or one skipped."""
    name, rel = entry.name, prefix + entry.name
    hidden = name.startswith(".")
    try:
        link = entry.is_symlink()
        st = os.stat(entry.path) if link else entry.stat(follow_symlinks=False)
    except OSError as exc:
        try:
            folder = entry.is_dir(follow_symlinks=False)
        except OSError:
            folder = False
        shown = _shown(rel + "/" if folder else rel)
        if hidden:
            problem = P.make("FILE_HIDDEN", file=shown)
        elif exc.errno == errno.ENAMETOOLONG:
            problem = _too_long(shown, entry.path, folder)
        elif link:
            problem = P.make("FILE_LINK_BROKEN", file=shown, detail=_why(exc))
        elif folder:
            problem = P.make("FOLDER_UNREADABLE", file=shown, detail=_why(exc))
        else:
            problem = P.make("FILE_CORRUPT", file=shown, detail=f"it cannot be opened ({_why(exc)})")
        skipped.append(Skipped(shown, problem, folder))
        return
    if stat.S_ISDIR(st.st_mode):
        rel += "/"
        if hidden:
            shown = _shown(rel)
            skipped.append(Skipped(shown, P.make("FILE_HIDDEN", file=shown), is_folder=True))
        elif link:
            links.append((entry.path, rel, st))
        elif (st.st_dev, st.st_ino) in seen:  # a bind mount of a folder walked already
            skipped.append(Skipped(_shown(rel),
                                   P.make("FOLDER_LOOP", file=_shown(rel), detail="a folder mounted there again"), True))
        else:
            seen.add((st.st_dev, st.st_ino))
            below.append((entry.path, rel))
        return
    if not prefix and name == CONFIG_FILE:
        return
    shown = _shown(rel)
    if shown != rel:  # bytes that are not UTF-8 in the name: it could not be shown or written
        skipped.append(Skipped(shown, P.make("FILE_BAD_NAME", file=shown)))
    elif name.startswith("~$"):
        skipped.append(Skipped(rel, P.make("FILE_LOCK", file=rel)))
    elif hidden:
        skipped.append(Skipped(rel, P.make("FILE_HIDDEN", file=rel)))
    elif _is_readme(name):
        return
    elif link and not _inside(os.path.realpath(entry.path), base):
        real = _shown(os.path.realpath(entry.path))
        skipped.append(Skipped(rel, P.make("FILE_LINK_OUTSIDE", file=rel, detail=real)))
    elif not stat.S_ISREG(st.st_mode):  # FIFO, device, socket: never opened
        skipped.append(Skipped(rel, P.make("FILE_UNSUPPORTED", file=rel, detail="not a regular file")))
    else:
        ext = Path(name).suffix.lower()
        kind = KINDS.get(ext)
        if kind is None:
            skipped.append(Skipped(rel, P.make("FILE_UNSUPPORTED", file=rel, detail=ext or "no extension")))
        else:
            found.append(Found(rel, kind, st.st_size))


def _too_long(shown: str, full: str, folder: bool) -> P.Problem:
    detail = f"{len(os.fsencode(full)):,} bytes"
    return P.make("PATH_TOO_LONG", file=shown, detail=detail, severity=None if folder else P.ERROR)


def _not_listed(rel: str, full: str, exc: OSError) -> P.Problem:
    shown = _shown(rel)
    if exc.errno == errno.ENAMETOOLONG:
        return _too_long(shown, full, folder=True)
    return P.make("FOLDER_UNREADABLE", file=shown, detail=_why(exc))


def _unreadable_root(root: Path, exc: OSError) -> P.PipelineError:
    problem = P.make("FOLDER_UNREADABLE", detail=_why(exc))
    return P.PipelineError(f"the input folder {root} cannot be read ({_why(exc)})", [problem])
