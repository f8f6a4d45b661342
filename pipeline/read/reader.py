"""Read every workbook in the input folder into cell grids (`RawWorkbook`), safely.

`read_input` discovers the files and has each one read by `read_file` in an isolated worker process
(`pipeline.core.sandbox.run_isolated`) with a time and memory limit; this process never opens an input
file. `read_file` hashes the file (at most ``limits.max_file_mb`` of it, a regular file only), takes it
from the read cache or sniffs it, hardens zip packages (`pipeline.read.safety`), reads the cells with
python-calamine (`pipeline.read.calamine`, which overlays what calamine does not report: error values,
formulas without a stored value, hidden rows; csv with the csv module). Problems with a file are
collected as FILE_* problems; nothing raises for one bad file.

This module imports no pandas at import time: the workers import it.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core import problems as P
from pipeline.core.sandbox import run_isolated
from pipeline.read import ole
from pipeline.read import safety as S
from pipeline.read.calamine import read_calamine
from pipeline.read.raw import FileOutcome, RawSheet, RawWorkbook, cell_ref
from pipeline.read.sheetxml import SheetScan

if TYPE_CHECKING:
    from pipeline.core.frames import InputFile
    from pipeline.core.settings import Config


@dataclass
class ReadResult:
    inputs: list[InputFile]        # one per file found (read, skipped or refused), sorted by path
    workbooks: list[RawWorkbook]   # one per file read (xlsx/xlsm/xls/ods/csv)
    problems: list[P.Problem] = field(default_factory=list)   # file-level problems (FILE_* codes)
    cached: list[str] = field(default_factory=list)           # files taken from the read cache, not read


def read_input(input_dir: Path, config: Config, cache_dir: Path | None = None,
               done: Callable[[int, int], None] | None = None) -> ReadResult:
    """Discover and read every workbook under ``input_dir``; never writes there, never raises for a bad file.

    With `cache_dir`, a file read by an earlier run with the same bytes is taken from there instead of
    being read again, and every file read is stored there (`pipeline.read.cache`)."""
    from pipeline.core.frames import InputFile
    from pipeline.read import cache as readcache
    from pipeline.read.discover import discover

    root = Path(input_dir).resolve()
    limits = dict(config.values["limits"])
    found, skipped = discover(root)
    inputs: dict[str, InputFile] = {}
    problems: dict[str, list[P.Problem]] = {}
    for s in skipped:  # a skipped folder has its problem but no InputFile: it is not a file
        if not s.is_folder:
            inputs[s.path] = InputFile(s.path, status="skipped")
        problems[s.path] = [s.problem]
    lookup = None if cache_dir is None else (str(cache_dir), readcache.code_fingerprint())
    known = readcache.load_stamps(cache_dir) if cache_dir is not None else {}
    jobs, cached, keys, stamps, outcomes = [], [], {}, {}, {}
    for f in sorted(found, key=lambda f: -f.size):  # the largest first: the workers finish together
        full = root / f.path
        inputs[f.path] = InputFile(f.path, kind=f.kind)
        problems[f.path] = []
        stamps[f.path] = readcache.stamp_of(full)
        sha = readcache.known_sha(known, f.path, stamps[f.path]) if cache_dir is not None else ""
        hit = readcache.load(cache_dir, readcache.entry_key(sha, f.path, limits)) if sha and cache_dir is not None else None
        if hit is not None:  # read by an earlier run and not changed since: not even hashed again
            hit.sha256, hit.cached = sha, True
            outcomes[f.path] = ("ok", hit)
        else:
            jobs.append((f.path, (str(full), f.path, f.kind, f.size, limits, lookup)))
    outcomes.update(run_isolated(read_file_packed, jobs, seconds=float(limits["file_seconds"]),
                                 memory_mb=int(limits["file_memory_mb"]), done=done))
    now = time.time_ns()
    seen: dict[str, tuple] = {}
    workbooks: list[RawWorkbook] = []
    for path, (status, value) in outcomes.items():
        item = inputs[path]
        if status == "ok":
            item.sha256 = value.sha256
            if cache_dir is not None and value.sha256:
                keys[path] = readcache.entry_key(value.sha256, path, limits)
                unchanged = readcache.stamp_of(root / path) == stamps[path]  # not changed while it was read
                if value.cached:
                    cached.append(path)
                elif unchanged:
                    readcache.store(cache_dir, keys[path], value)
                if unchanged and stamps[path] is not None:
                    before = known.get(path)
                    same = before is not None and tuple(before[0]) == stamps[path] and before[1] == value.sha256
                    seen[path] = (stamps[path], value.sha256, before[2] if same and before is not None else now)
            outcome: FileOutcome = value.resolve()
            item.kind = outcome.kind
            problems[path].extend(outcome.problems)
            if outcome.workbook is None:
                item.status = "refused"
            else:
                workbooks.append(outcome.workbook)
        else:
            item.status = "refused"
            problems[path].append(_isolation_problem(status, value, path, limits))
    workbooks.sort(key=lambda w: w.path)
    if cache_dir is not None:
        readcache.prune(cache_dir, keys.values())
        if seen != known:
            readcache.save_stamps(cache_dir, seen)
    return ReadResult(inputs=[inputs[p] for p in sorted(inputs)], workbooks=workbooks,
                      problems=[pr for p in sorted(problems) for pr in problems[p]], cached=sorted(cached))


def _isolation_problem(status: str, detail: Any, path: str, limits: dict) -> P.Problem:
    if status == "timeout":
        return P.make("FILE_TIMEOUT", file=path, seconds=limits["file_seconds"])
    if status == "memory":
        return P.make("FILE_MEMORY", file=path, megabytes=limits["file_memory_mb"])
    return P.make("FILE_CORRUPT", file=path, detail=f"the reader crashed on it ({detail})")


HEAD = 4096  # bytes sniffed


def hash_bounded(path: Path, size: int, limits: dict) -> tuple[str, bytes]:
    """(SHA-256, first bytes) of a regular file of at most ``limits.max_file_mb``, read once, streaming.

    Raises `Refused`: FILE_UNSUPPORTED for anything but a regular file (opened without blocking, so a
    FIFO swapped in since the walk costs nothing), FILE_TOO_LARGE past the limit, on disk or while read
    (a file that grows, or a pseudo-file of size 0 that streams forever). An empty file gives b''."""
    cap = int(limits["max_file_mb"]) * 2**20

    def too_large(what: str) -> S.Refused:
        return S.Refused("FILE_TOO_LARGE", detail=f"{what}; the limit is {limits['max_file_mb']} MB (limits.max_file_mb)")

    if size > cap:
        raise too_large(f"the file is {size // 2**20} MB")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise S.Refused("FILE_CORRUPT", detail=f"it cannot be opened ({exc.strerror or exc})") from exc
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise S.Refused("FILE_UNSUPPORTED", detail="not a regular file")
        if st.st_size > cap:
            raise too_large(f"the file is {st.st_size // 2**20} MB")
        h, head, total = hashlib.sha256(), b"", 0
        try:
            while chunk := fh.read(S.CHUNK):
                total += len(chunk)
                if total > cap:
                    raise too_large("it gave more bytes than that when read (it grows, or is not a real file)")
                h.update(chunk)
                if len(head) < HEAD:
                    head += chunk[:HEAD - len(head)]
        except OSError as exc:
            raise S.Refused("FILE_CORRUPT", detail=f"it cannot be read ({exc.strerror or exc})") from exc
    return h.hexdigest(), head


# --- one file (runs in a worker process) ----------------------------------------------------------

def read_file(full: str, rel: str, kind: str, size: int, limits: dict,
              cache: tuple[str, str] | None = None) -> FileOutcome:
    """Read one file in this process: hash, sniff, harden, parse. Refusals become problems, never exceptions.

    With ``cache`` (the read cache's folder and the run's `code_fingerprint`) a file read before with the
    same bytes is taken from there (``cached``) instead of being parsed."""
    return _outcome(full, rel, kind, size, limits, cache).resolve()


def read_file_packed(full: str, rel: str, kind: str, size: int, limits: dict,
                     cache: tuple[str, str] | None = None) -> FileOutcome:
    """`read_file` for a worker process: the grids packed for the trip back (see `FileOutcome`)."""
    out = _outcome(full, rel, kind, size, limits, cache)
    return out if out.cached else out.pack()   # a cached entry comes packed


def _outcome(full: str, rel: str, kind: str, size: int, limits: dict, cache: tuple[str, str] | None) -> FileOutcome:
    path = Path(full)
    try:
        sha, head = hash_bounded(path, size, limits)
    except S.Refused as r:
        return FileOutcome(kind, None, [P.make(r.code, file=rel, **r.context)])
    if cache is not None:
        from pipeline.read import cache as readcache

        hit = readcache.load(Path(cache[0]), readcache.entry_key(sha, rel, limits, fingerprint=cache[1]))
        if hit is not None:
            hit.sha256, hit.cached = sha, True
            return hit
    try:
        out = _read_file(path, rel, kind, head, limits)  # no bytes: FILE_EMPTY
    except S.Refused as r:
        out = FileOutcome(kind, None, [P.make(r.code, file=rel, **r.context)])
    out.sha256 = sha
    return out


def _read_file(path: Path, rel: str, kind: str, head: bytes, limits: dict) -> FileOutcome:
    fmt = S.sniff(head)
    if fmt == "":
        raise S.Refused("FILE_EMPTY")
    if fmt == "zip":
        return _read_zip(path, rel, kind, limits)
    if fmt == "ole":
        streams = ole.ole_streams(path)
        if "EncryptedPackage" in streams or "EncryptionInfo" in streams:
            raise S.Refused("FILE_ENCRYPTED")
        if not streams & {"Workbook", "Book"}:
            if kind in ("xlsx", "xlsm"):
                raise S.Refused("FILE_ENCRYPTED")
            raise S.Refused("FILE_CORRUPT", detail="it is an OLE file with no workbook stream (a Word or other Office document?)")
        try:
            return read_calamine(path, rel, "xls", from_bytes=kind != "xls", date1904=ole.biff_date1904(path))
        except S.Refused as r:
            if r.code != "FILE_CORRUPT":
                raise
            version = "Excel 97-2003 (.xls)" if "Workbook" in streams else "Excel 5.0/95 (.xls)"
            raise S.Refused("FILE_OLD_FORMAT", detail=version) from None
    if fmt == "biff":
        version = S.BIFF_BOFS[head[:2]]
        try:
            return read_calamine(path, rel, "xls", from_bytes=True, date1904=ole.biff_date1904(path))
        except S.Refused:
            raise S.Refused("FILE_OLD_FORMAT", detail=f"{version} (BIFF)") from None
    if kind == "csv" and (fmt == "text" or head[:2] in (b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" is UTF-16
        return FileOutcome("csv", read_csv(path, rel))
    if fmt == "xml" and kind == "xls":
        raise S.Refused("FILE_OLD_FORMAT", detail="Excel 2003 XML or web-page (saved with an .xls name)")
    if kind == "csv":
        raise S.Refused("FILE_CORRUPT", detail="it is not a text CSV file (binary content)")
    raise S.Refused("FILE_CORRUPT", detail=f"it is not a .{kind} workbook (not a zip archive); "
                                           "it may be damaged or have the wrong extension")


def _read_zip(path: Path, rel: str, kind: str, limits: dict) -> FileOutcome:
    """A zip package: harden and scan it (`pipeline.read.safety`), then read the cells with calamine. Sheets
    whose populated cells span more than ``limits.max_cells`` are refused by name, never allocated."""
    pkg = S.Package(path)
    try:
        if pkg.info("content.xml") is not None and pkg.info("xl/workbook.xml") is None:
            S.scan_package(pkg, [], limits)
            return read_calamine(path, rel, "ods", from_bytes=kind != "ods")
        parts, strict = S.sheet_parts(pkg)
        scans = S.scan_package(pkg, parts, limits)
        refuse = _too_large(pkg, parts, scans, rel, int(limits["max_cells"]))
        odd_names, date1904 = pkg.odd_names, pkg.date1904
    finally:
        pkg.close()
    kind = kind if kind in ("xlsx", "xlsm") else "xlsx"
    by_name = {p.name: scans.get(p.part) for p in parts}
    try:
        out = read_calamine(path, rel, kind, from_bytes=path.suffix.lower() not in (".xlsx", ".xlsm"),
                             scans=by_name, skip=refuse, date1904=date1904)
    except S.Refused as r:
        if r.code != "FILE_CORRUPT":
            raise
        if odd_names:  # backslashes or odd case in part names: retry on a normalised copy in memory
            out = _read_normalised(path, rel, kind, by_name, refuse, date1904)
        elif strict:
            raise S.Refused("FILE_STRICT_XML", severity=P.ERROR,
                            detail=f"it could not be read ({r.context.get('detail', '')})") from None
        else:
            raise
    out.problems[:0] = list(refuse.values())
    return out


def _too_large(pkg: S.Package, parts: list[S.SheetPart], scans: dict[str, SheetScan], rel: str,
               max_cells: int) -> dict[str, P.Problem]:
    """Sheet name -> FILE_TOO_LARGE for sheets whose populated cells span more than ``max_cells``."""
    refuse: dict[str, P.Problem] = {}
    for part in parts:
        scan = scans.get(part.part)
        if scan is None or scan.cells <= max_cells:
            continue
        r0, r1, c0, c1, far = S.precise_extent(pkg, part.part)  # styled blank cells do not count
        cells = (r1 - r0 + 1) * (c1 - c0 + 1) if r1 else 0
        if cells > max_cells:
            refuse[part.name] = P.make(
                "FILE_TOO_LARGE", file=rel, sheet=part.name, cell=far,
                detail=f"the sheet spans {cell_ref(r0, c0)}:{cell_ref(r1, c1)}, {cells:,} cells (limits.max_cells is "
                       f"{max_cells:,}); delete the stray cell {far}")
        else:
            scan.rows, scan.cols = (r0, r1), (c0, c1)
    return refuse


def _read_normalised(path: Path, rel: str, kind: str, scans: dict, refuse: dict, date1904: bool = False) -> FileOutcome:
    pkg = S.Package(path)
    try:
        S.sheet_parts(pkg)  # learns how the relationships spell the parts
        buffer = io.BytesIO()
        pkg.normalised_copy(buffer)
    finally:
        pkg.close()
    return read_calamine(path, rel, kind, data=buffer.getvalue(), scans=scans, skip=refuse, date1904=date1904)


# --- csv ------------------------------------------------------------------------------------------

def read_csv(path: Path, rel: str) -> RawWorkbook:
    """One sheet named after the file stem; utf-8 (with or without BOM) or UTF-16 with BOM, else cp1252;
    delimiter , ; or tab; every value a str, or None when empty."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    delimiter = sniff_delimiter(text)
    rows = [[None if v == "" else v for v in row] for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    return RawWorkbook(path=rel, kind="csv", sheets=[RawSheet(name=Path(rel).stem, rows=rows)])


def sniff_delimiter(text: str) -> str:
    """The most frequent of , ; and tab in the first non-blank line (outside quotes); ',' on a tie."""
    for line in text.splitlines():
        if line.strip():
            bare, quoted = [], False
            for ch in line:
                if ch == '"':
                    quoted = not quoted
                elif not quoted:
                    bare.append(ch)
            counts = {d: bare.count(d) for d in (",", ";", "\t")}
            best = max(counts, key=lambda d: counts[d])
            return best if counts[best] > counts[","] else ","
    return ","
