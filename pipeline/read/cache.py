"""Workbooks already read, kept between runs, so a re-run reads only the files that changed.

The entry of one input file is its cell grids, its date system and read problems exactly as the worker reading
it gave them back (`pipeline.read.raw.FileOutcome`, packed), stored under ``OUTPUT/.cache/read/<key>.bin``. The key hashes
the file's bytes (its SHA-256, computed anyway for the manifest), its path in the input folder, the
reading limits and `pipeline.write.cache.code_fingerprint` (the package's source and the versions of the
libraries that read): the same bytes read by the same code under the same limits give the same grids.
Only files that were read are stored; a refused file is tried again every run.

A file is known without being read again when its stat (device, inode, size, modification time in ns) is
the one recorded after the last run read it, and that modification lies more than two seconds before the
record (``.cache/read.stamps``; git's rule for changes in the same clock tick): then this process takes
its entry directly, and no worker hashes it. Any other file is hashed (in a worker, under the file's
limits) and looked up by its bytes. Deleting the cache folder is always safe.

Entries are marshal data (no pickle: loading one runs no code) behind a first line with the format and
the SHA-256 of the rest. An entry that does not check out or does not have the expected shape is deleted
and the file is read again. Entries a run did not use are pruned at its end.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import marshal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.core import problems as P
from pipeline.core.files import code_fingerprint, discard, read_entry, write_entry
from pipeline.core.files import prune as cache_prune
from pipeline.read.raw import CellError, FileOutcome, RawSheet, RawWorkbook

FORMAT = b"partner-review-read 2"
_PROBLEM_FIELDS = tuple(P.Problem.__dataclass_fields__)


def entry_key(sha256: str, rel: str, limits: dict[str, Any], fingerprint: str | None = None) -> str:
    """The entry's key; a worker process is given the `code_fingerprint` of the run that started it."""
    text = json.dumps([sha256, rel, sorted(limits.items()), fingerprint or code_fingerprint()], default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def store(folder: Path, key: str, outcome: Any) -> None:
    """Keep a packed `FileOutcome` of a file that was read (never fails the run)."""
    book = outcome.workbook
    if book is None or len(outcome.packed) != len(book.sheets):
        return
    try:
        specials = [[(r, c) + _encode(v) for r, c, v in sheet] for sheet in outcome.specials]
        specials += [[] for _ in range(len(book.sheets) - len(specials))]  # csv: no values aside
    except TypeError:
        return  # a value this format cannot hold: read the file again next time
    sheets = [(s.name, s.first_row, s.first_col, [(r, c, f) for (r, c), f in s.formulas_without_value.items()],
               s.hidden, sorted(s.hidden_rows)) for s in book.sheets]
    problems = [tuple(getattr(p, f) for f in _PROBLEM_FIELDS) for p in outcome.problems]
    body = marshal.dumps((outcome.kind, book.path, book.kind, bool(book.date1904), sheets, list(outcome.packed),
                          specials, problems))
    write_entry(Path(folder) / f"{key}.bin", FORMAT, body)


def load(folder: Path, key: str) -> Any | None:
    """The packed `FileOutcome` stored under `key`, or None (a bad entry is removed)."""
    path = Path(folder) / f"{key}.bin"
    body = read_entry(path, FORMAT)
    if body is None:
        return None
    try:
        kind, path_, book_kind, date1904, sheets, packed, specials, problems = marshal.loads(body)
        if not isinstance(date1904, bool):
            raise ValueError("shape")
        book = RawWorkbook(path=str(path_), kind=str(book_kind), date1904=date1904)
        for name, first_row, first_col, formulas, hidden, hidden_rows in sheets:
            book.sheets.append(RawSheet(name=str(name), rows=[], first_row=int(first_row), first_col=int(first_col),
                                        formulas_without_value={(int(r), int(c)): str(f) for r, c, f in formulas},
                                        hidden=bool(hidden), hidden_rows={int(r) for r in hidden_rows}))
        if len(packed) != len(book.sheets) or len(specials) != len(book.sheets) or \
                not all(isinstance(b, bytes) for b in packed):
            raise ValueError("shape")
        outcome = FileOutcome(str(kind), book, problems=[P.Problem(*map(str, p)) for p in problems],
                              specials=[[(int(r), int(c), _decode(tag, v)) for r, c, tag, v in s] for s in specials],
                              packed=list(packed))
    except (ValueError, TypeError, EOFError, KeyError, IndexError):
        discard(path)
        return None
    return outcome


# --- stamps: the files whose bytes are known without reading them ---------------------------------------
STAMPS_FORMAT = b"partner-review-stamps 1"
RACY_NS = 2 * 10**9  # a file changed within this long of its stamp could change again unseen: read it


def stamp_of(path: Path) -> tuple[int, int, int, int] | None:
    """(device, inode, size, mtime in ns) of the file at `path` (a stat, nothing read), or None."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _stamps_file(folder: Path) -> Path:
    """Beside the entries' folder (``.cache/read.stamps``), so that pruning the entries leaves it alone."""
    return Path(folder).with_name(Path(folder).name + ".stamps")


def load_stamps(folder: Path) -> dict[str, tuple]:
    """rel path -> (stamp, sha256, when it was taken in ns) from the last run; {} when there is none."""
    body = read_entry(_stamps_file(folder), STAMPS_FORMAT)
    try:
        found = marshal.loads(body) if body is not None else {}
        return {str(rel): (tuple(map(int, st)), str(sha), int(at)) for rel, (st, sha, at) in found.items()}
    except (ValueError, TypeError, EOFError):
        return {}


def known_sha(stamps: dict[str, tuple], rel: str, stamp: tuple | None) -> str:
    """The SHA-256 of the file `rel` when its stamp is the one recorded, long enough after its last change
    that a change in the same clock tick cannot hide (git's "racy" rule); else ''. The stat-only shortcut
    that lets a re-run skip the files it has read before, as make and rsync do."""
    known = stamps.get(rel)
    if stamp is None or known is None or tuple(known[0]) != tuple(stamp) or stamp[3] >= known[2] - RACY_NS:
        return ""
    return known[1]


def save_stamps(folder: Path, stamps: dict[str, tuple]) -> None:
    write_entry(_stamps_file(folder), STAMPS_FORMAT, marshal.dumps({rel: (list(st), sha, at) for rel, (st, sha, at)
                                                                    in stamps.items()}))


def prune(folder: Path, keep: Iterable[str]) -> None:
    """Delete the entries of `folder` whose key is not in `keep`."""
    cache_prune(folder, keep, suffix=".bin")


def _encode(value: Any) -> tuple[str, Any]:
    if isinstance(value, CellError):
        return "error", value.text
    if isinstance(value, dt.datetime):
        return "datetime", value.isoformat()
    if isinstance(value, dt.date):
        return "date", value.isoformat()
    if isinstance(value, dt.time):
        return "time", value.isoformat()
    if isinstance(value, dt.timedelta):
        return "timedelta", (value.days, value.seconds, value.microseconds)
    raise TypeError(type(value).__name__)


def _decode(tag: str, value: Any) -> Any:
    if tag == "error":
        return CellError(str(value))
    if tag == "datetime":
        return dt.datetime.fromisoformat(value)
    if tag == "date":
        return dt.date.fromisoformat(value)
    if tag == "time":
        return dt.time.fromisoformat(value)
    if tag == "timedelta":
        return dt.timedelta(*value)
    raise ValueError(f"unknown value tag {tag!r}")
