"""Find the files in the input folder: what will be read and what is skipped (with a note).

Walks the folder recursively in a deterministic order (sorted names, '/' separated relative paths).
Nothing is opened here; sniffing the content is `pipeline.safety`'s job.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline import problems as P
from pipeline.config import CONFIG_FILE

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
    """A file (or hidden folder) that is not read, with the note that says why."""

    path: str
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


def discover(input_dir: Path) -> tuple[list[Found], list[Skipped]]:
    """Every candidate file under ``input_dir`` (sorted by path) and every skipped one, with its note.

    Lock files (``~$x.xlsx``) give FILE_LOCK, hidden files and folders FILE_HIDDEN (a hidden folder is
    not entered), anything else FILE_UNSUPPORTED; the config file and README files are silently fine.
    Symlinked folders are not followed.
    """
    root = Path(input_dir)
    found: list[Found] = []
    skipped: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for d in sorted(dirnames):
            if d.startswith("."):
                rel = _shown(prefix + d + "/")
                skipped.append(Skipped(rel, P.make("FILE_HIDDEN", file=rel), is_folder=True))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            rel = prefix + name
            full = here / name
            if not prefix and name == CONFIG_FILE:
                continue
            shown = _shown(rel)
            if shown != rel:  # bytes that are not UTF-8 in the name: it could not be shown or written
                skipped.append(Skipped(shown, P.make("FILE_BAD_NAME", file=shown)))
            elif name.startswith("~$"):
                skipped.append(Skipped(rel, P.make("FILE_LOCK", file=rel)))
            elif name.startswith("."):
                skipped.append(Skipped(rel, P.make("FILE_HIDDEN", file=rel)))
            elif _is_readme(name):
                continue
            elif not full.is_file():
                skipped.append(Skipped(rel, P.make("FILE_UNSUPPORTED", file=rel, detail="not a regular file")))
            else:
                kind = KINDS.get(full.suffix.lower())
                if kind is None:
                    ext = full.suffix.lower() or "no extension"
                    skipped.append(Skipped(rel, P.make("FILE_UNSUPPORTED", file=rel, detail=ext)))
                else:
                    found.append(Found(rel, kind, full.stat().st_size))
    found.sort(key=lambda f: f.path)
    skipped.sort(key=lambda s: s.path)
    return found, skipped
