"""Look at an untrusted file before any parser does: sniff its format, harden its zip, scan its XML.

Everything here reads the file read-only and in a streaming way with bounded memory: the magic
bytes decide the format (never the extension), zip members are inflated chunk by chunk (CRC checked,
total size capped, DTDs and entity declarations refused), and sheet XML is scanned with byte regexes
for what python-calamine does not report: formula cells without a stored value, error cells, hidden
rows, and the real extent of the populated cells.

The second half is the isolation: `run_isolated` runs each file's parsing in a small pool of long-lived
worker processes, each job with a wall-clock deadline and the worker under an address-space limit, so
a hang, a Rust panic, an abort or an OOM in the native reader costs that one file, never the run.
"""
from __future__ import annotations

import codecs
import importlib
import os
import pickle
import posixpath
import re
import resource
import selectors
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import unescape

from pipeline.problems import PipelineError
from pipeline.raw import cell_ref

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
# BIFF BOF records of files older than the OLE container: record type, then the version they mean
BIFF_BOFS = {b"\x09\x00": "Excel 2.x", b"\x09\x02": "Excel 3.0", b"\x09\x04": "Excel 4.0", b"\x09\x08": "Excel 5.0/95"}
MAX_RATIO = 500            # a part this much larger than its compressed size (and >= RATIO_FLOOR) is a bomb
RATIO_FLOOR = 10 * 2**20
CHUNK = 1 << 20
STRICT_NS = b"http://purl.oclc.org/ooxml/"


class Refused(Exception):
    """The file must not be parsed. ``code`` is a FILE_* catalog code, ``context`` its template values."""

    def __init__(self, code: str, **context: object):
        super().__init__(code, context)
        self.code = code
        self.context = context


# --- sniffing -------------------------------------------------------------------------------------

def sniff(head: bytes) -> str:
    """The container format from the first bytes: zip, ole, biff, xml, text or binary (empty for b'')."""
    if not head:
        return ""
    if head.startswith(OLE_MAGIC):
        return "ole"
    if head[:4] in ZIP_MAGICS:
        return "zip"
    if head[:2] in BIFF_BOFS and len(head) >= 4:
        return "biff"
    stripped = head.lstrip(b"\xef\xbb\xbf\xff\xfe\r\n\t ").replace(b"\x00", b"").lower()
    if stripped.startswith((b"<?xml", b"<html", b"<!doctype", b"<table")):
        return "xml"
    return "binary" if b"\x00" in head[:4096] else "text"


def _utf16z(name: str) -> bytes:
    return (name + "\0").encode("utf-16-le")


def ole_streams(path: Path, names: tuple[str, ...] = ("EncryptedPackage", "EncryptionInfo", "Workbook", "Book")) -> set[str]:
    """Which of ``names`` appear as (NUL-terminated UTF-16) directory entry names in an OLE file."""
    wanted = {n: _utf16z(n) for n in names}
    overlap = max(len(w) for w in wanted.values())
    found: set[str] = set()
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            data = tail + chunk
            found.update(n for n, w in wanted.items() if w in data)
            tail = data[-overlap:]
    return found


# --- zip packages ---------------------------------------------------------------------------------

@dataclass
class SheetPart:
    name: str           # the sheet's name as Excel shows it
    part: str           # normalised member name ('/' separators, as stored case-folded key)
    hidden: bool = False


@dataclass
class SheetScan:
    """What the XML scan found in one sheet part (Excel 1-based coordinates)."""

    rows: tuple[int, int] = (0, 0)          # min, max row number of <row> elements (0 = none)
    cols: tuple[int, int] = (0, 0)          # min, max column of cell refs
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)   # formula cells without a value
    errors: dict[tuple[int, int], str] = field(default_factory=dict)     # cells holding #DIV/0! etc.
    hidden_rows: set[int] = field(default_factory=set)

    @property
    def cells(self) -> int:
        if not self.rows[1] or not self.cols[1]:
            return 0
        return (self.rows[1] - self.rows[0] + 1) * (self.cols[1] - self.cols[0] + 1)


class Package:
    """A zip package opened read-only, with member names looked up like Excel does (any case, '\\' or '/')."""

    def __init__(self, path: Path):
        try:
            self.zf = zipfile.ZipFile(path)
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise Refused("FILE_CORRUPT", detail=f"it is not a complete zip archive ({exc}); it may have been cut off while copying") from exc
        if not infos:
            raise Refused("FILE_CORRUPT", detail="the zip archive is empty")
        self.members = {normalise(i.filename): i for i in infos}
        self.referenced: dict[str, str] = {}   # normalised -> spelled as a relationship target

    def close(self) -> None:
        self.zf.close()

    def info(self, name: str) -> zipfile.ZipInfo | None:
        return self.members.get(normalise(name))

    def read_small(self, name: str, limit: int = 32 * 2**20) -> bytes | None:
        """A small part (workbook.xml, rels) in full, or None when absent; refuses parts over ``limit``."""
        info = self.info(name)
        if info is None:
            return None
        if info.file_size > limit:
            raise Refused("FILE_TOO_LARGE", detail=f"the part {info.filename} is {info.file_size // 2**20} MB")
        data = _read_member(self.zf, info)
        _check_entities(data, info.filename)
        return data


    def canonical(self, name: str) -> str:
        """The standard spelling of a member name: '/' separators; known parts as Excel writes them,
        others as the relationships spell them (see `sheet_parts`)."""
        plain = name.replace("\\", "/").lstrip("/")
        key = plain.lower()
        return _STANDARD.get(key) or self.referenced.get(key) or plain

    @property
    def odd_names(self) -> bool:
        """Whether some member name has backslashes or a case other than the standard spelling."""
        return any(i.filename != self.canonical(i.filename) for i in self.members.values())

    def normalised_copy(self, dest) -> None:
        """Write the package to ``dest`` (a path or binary file outside the input folder) under standard names."""
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
            for info in self.members.values():
                with self.zf.open(info) as src, out.open(self.canonical(info.filename), "w") as dst:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)


_STANDARD = {n.lower(): n for n in (
    "[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/sharedStrings.xml",
    "xl/styles.xml", "xl/theme/theme1.xml", "docProps/core.xml", "docProps/app.xml", "xl/calcChain.xml")}


def normalise(name: str) -> str:
    """Member names as keys: forward slashes, no leading slash, case-folded."""
    return name.replace("\\", "/").lstrip("/").lower()


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with zf.open(info) as fh:
            return fh.read()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise Refused("FILE_CORRUPT", detail=f"the part {info.filename} is damaged ({exc})") from exc


_ENTITY_MARKS = (b"<!DOCTYPE", b"<!ENTITY")


def _check_entities(data: bytes, member: str) -> None:
    if any(m in data for m in _ENTITY_MARKS):
        raise Refused("FILE_HOSTILE", detail=f"the part {member} declares a DTD or entities (a known attack on XML readers)")


def sheet_parts(pkg: Package) -> tuple[list[SheetPart], bool]:
    """The worksheets in workbook order with their part names, and whether the package is Strict Open XML."""
    from defusedxml import ElementTree as DET
    from defusedxml.common import DefusedXmlException

    def parse(data: bytes, member: str):
        try:
            return DET.fromstring(data)
        except DefusedXmlException as exc:
            raise Refused("FILE_HOSTILE", detail=f"the part {member} declares a DTD or entities") from exc
        except Exception as exc:  # ParseError and friends
            raise Refused("FILE_CORRUPT", detail=f"the part {member} is not well-formed XML ({exc})") from exc

    def rels(part: str) -> dict[str, tuple[str, str]]:
        folder, base = posixpath.split(part)
        data = pkg.read_small(posixpath.join(folder, "_rels", base + ".rels"))
        out: dict[str, tuple[str, str]] = {}
        if data is None:
            return out
        for el in parse(data, base + ".rels").iter():
            if _local(el.tag) == "Relationship" and el.get("TargetMode") != "External":
                target = el.get("Target", "").replace("\\", "/")
                full = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
                pkg.referenced[normalise(full)] = full
                out[el.get("Id", "")] = (el.get("Type", ""), full)
        return out

    root_rels = rels("")
    wb_part = next((t for typ, t in root_rels.values() if typ.endswith("/officeDocument")), "xl/workbook.xml")
    data = pkg.read_small(wb_part)
    if data is None:
        raise Refused("FILE_CORRUPT", detail="the workbook part (xl/workbook.xml) is missing")
    strict = STRICT_NS in data[:4096]
    targets = rels(wb_part)
    out: list[SheetPart] = []
    for el in parse(data, wb_part).iter():
        if _local(el.tag) != "sheet":
            continue
        rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), "")
        typ, target = targets.get(rid, ("", ""))
        if target and not typ.endswith("/chartsheet"):
            out.append(SheetPart(el.get("name", ""), normalise(target), el.get("state", "visible") != "visible"))
    return out, strict


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def scan_package(pkg: Package, sheets: list[SheetPart], limits: dict) -> dict[str, SheetScan]:
    """Inflate every member once, streaming: CRC, total size, bombs, DTDs; scan the sheet parts.

    Raises `Refused` (FILE_TOO_LARGE, FILE_HOSTILE, FILE_CORRUPT); returns part -> SheetScan.
    """
    max_total = int(limits["max_inflated_mb"]) * 2**20
    declared = sum(i.file_size for i in pkg.members.values())
    if declared > max_total:
        raise Refused("FILE_TOO_LARGE", detail=f"its parts unpack to {declared // 2**20} MB; the limit is {limits['max_inflated_mb']} MB (limits.max_inflated_mb)")
    for info in pkg.members.values():
        if info.file_size >= RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise Refused("FILE_TOO_LARGE", detail=f"the part {info.filename} unpacks {info.file_size // max(info.compress_size, 1)} times its size (a zip bomb?)")
    by_part = {s.part: s for s in sheets}
    scans: dict[str, SheetScan] = {}
    total = 0
    for key, info in pkg.members.items():
        scanner = _SheetScanner() if key in by_part else None
        guard = _EntityGuard(info.filename)
        try:
            with pkg.zf.open(info) as fh:
                while chunk := fh.read(CHUNK):
                    total += len(chunk)
                    if total > max_total:
                        raise Refused("FILE_TOO_LARGE", detail=f"its parts unpack to more than {limits['max_inflated_mb']} MB (limits.max_inflated_mb)")
                    guard.feed(chunk)
                    if scanner:
                        scanner.feed(chunk)
        except Refused:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise Refused("FILE_CORRUPT", detail=f"the part {info.filename} is damaged ({exc})") from exc
        if scanner:
            scans[key] = scanner.finish()
    return scans


class _EntityGuard:
    """Streams one member looking for <!DOCTYPE / <!ENTITY, in UTF-8 or UTF-16."""

    def __init__(self, member: str):
        self.member = member
        self.tail = b""
        self.decoder = None
        self.text_tail = ""
        self.first = True

    def feed(self, chunk: bytes) -> None:
        if self.first:
            self.first = False
            if chunk[:2] in (b"\xff\xfe", b"\xfe\xff") or chunk[:2] in (b"<\x00", b"\x00<"):
                enc = "utf-16-be" if chunk[:2] in (b"\xfe\xff", b"\x00<") else "utf-16-le"
                self.decoder = codecs.getincrementaldecoder(enc)(errors="replace")
        if self.decoder is not None:
            text = self.text_tail + self.decoder.decode(chunk)
            if "<!DOCTYPE" in text or "<!ENTITY" in text:
                _check_entities(b"<!DOCTYPE", self.member)
            self.text_tail = text[-16:]
            return
        data = self.tail + chunk
        _check_entities(data, self.member)
        self.tail = data[-16:]


# --- sheet XML scanning ---------------------------------------------------------------------------

_ROW_R = re.compile(rb' r="([0-9]{1,7})"')
_COL_R = re.compile(rb' r="([A-Z]{1,3})[0-9]')
_CELL = re.compile(rb'<(?:\w+:)?c\s([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)', re.S)
_ATTR_R = re.compile(rb'\br="([A-Z]{1,3})([0-9]{1,7})"')
_ATTR_T = re.compile(rb'\bt="(\w+)"')
_F = re.compile(rb'<(?:\w+:)?f(?:\s[^>]*)?(?:/>|>(.*?)</(?:\w+:)?f>)', re.S)
_V = re.compile(rb'<(?:\w+:)?v(?:\s[^>]*)?(?:/>|>(.*?)</(?:\w+:)?v>)', re.S)
_ROW_HIDDEN = re.compile(rb'<(?:\w+:)?row\s([^>]*)>')
_HIDDEN = re.compile(rb'\bhidden="(?:1|true)"')


def col_number(letters: bytes | str) -> int:
    n = 0
    for ch in letters if isinstance(letters, str) else letters.decode("ascii"):
        n = n * 26 + ord(ch) - 64
    return n


class _SheetScanner:
    """Fed a sheet part's bytes in chunks; cuts them after a row end so no cell is split."""

    def __init__(self):
        self.buf = b""
        self.rmin = self.rmax = self.cmin = self.cmax = 0
        self.cols: set[bytes] = set()
        self.scan = SheetScan()

    def feed(self, chunk: bytes) -> None:
        self.buf += chunk
        cut = max(self.buf.rfind(b"</row>"), self.buf.rfind(b":row>"))
        if cut < 0:
            if len(self.buf) < 16 * CHUNK:
                return
            cut = self.buf.rfind(b">")
        cut = self.buf.find(b">", cut) + 1 if cut >= 0 else len(self.buf)
        piece, self.buf = self.buf[:cut], self.buf[cut:]
        self._piece(piece)

    def finish(self) -> SheetScan:
        self._piece(self.buf)
        self.buf = b""
        cols = sorted(col_number(c) for c in self.cols)
        s = self.scan
        s.rows = (self.rmin, self.rmax)
        s.cols = (cols[0], cols[-1]) if cols else (0, 0)
        return s

    def _piece(self, piece: bytes) -> None:
        rows = _ROW_R.findall(piece)
        if rows:
            nums = [int(r) for r in rows]
            lo, hi = min(nums), max(nums)
            self.rmin = lo if not self.rmin else min(self.rmin, lo)
            self.rmax = max(self.rmax, hi)
        self.cols.update(_COL_R.findall(piece))
        if b'hidden="' in piece:
            for m in _ROW_HIDDEN.finditer(piece):
                if _HIDDEN.search(m.group(1)):
                    r = re.search(rb'\br="([0-9]+)"', m.group(1))
                    if r:
                        self.scan.hidden_rows.add(int(r.group(1)))
        if b't="e"' in piece or b"<f" in piece or b":f>" in piece or b":f " in piece:
            self._cells(piece)

    def _cells(self, piece: bytes) -> None:
        for m in _CELL.finditer(piece):
            attrs, body = m.group(1), m.group(2) or b""
            ref = _ATTR_R.search(attrs)
            if ref is None:
                continue
            at = (int(ref.group(2)), col_number(ref.group(1)))
            v = _V.search(body)
            value = v.group(1) if v else None
            t = _ATTR_T.search(attrs)
            if t and t.group(1) == b"e" and value:
                self.scan.errors[at] = _text(value)
                continue
            f = _F.search(body)
            if f and not value:
                self.scan.formulas[at] = "=" + _text(f.group(1) or b"") if f.group(1) else "(shared formula)"


def _text(raw: bytes) -> str:
    return unescape(raw.decode("utf-8", "replace"), {"&quot;": '"', "&apos;": "'"})


_VALUED = re.compile(rb'<(?:\w+:)?c\s[^>]*?\br="([A-Z]{1,3})([0-9]{1,7})"[^>]*(?<!/)>(?!</)')


def precise_extent(pkg: Package, part: str) -> tuple[int, int, int, int, str]:
    """(min row, max row, min col, max col, far cell) of cells that hold something (styled blanks ignored)."""
    info = pkg.members[part]
    rmin = cmin = 10**9
    rmax = cmax = 0
    far = (0, 0)
    buf = b""
    with pkg.zf.open(info) as fh:
        while True:
            chunk = fh.read(CHUNK)
            buf += chunk
            cut = len(buf) if not chunk else max(buf.rfind(b"</row>"), buf.rfind(b":row>"), buf.rfind(b"</c>"))
            if cut < 0 and len(buf) < 16 * CHUNK:
                continue
            cut = len(buf) if cut < 0 else cut
            piece, buf = buf[:cut], buf[cut:]
            for col, row in _VALUED.findall(piece):
                r, c = int(row), col_number(col)
                rmin, rmax, cmin, cmax = min(rmin, r), max(rmax, r), min(cmin, c), max(cmax, c)
                if r * c > far[0] * far[1]:
                    far = (r, c)
            if not chunk:
                break
    if not rmax:
        return 0, 0, 0, 0, ""
    return rmin, rmax, cmin, cmax, cell_ref(*far)


# --- isolation: a small pool of long-lived worker processes ---------------------------------------

def run_isolated(fn, jobs: list[tuple[str, tuple]], *, seconds: float, memory_mb: int,
                 workers: int | None = None) -> dict[str, tuple[str, object]]:
    """Run ``fn(*args)`` for each ``(key, args)`` in worker processes; key -> (status, value).

    status is ``ok`` (value = the return value), ``timeout`` (the job passed ``seconds`` and its worker
    was killed), ``memory`` (MemoryError, or the native reader aborted on a failed allocation under the
    ``memory_mb`` address-space limit) or ``crash`` (value = what is known). A dead worker is replaced;
    the other jobs go on. ``fn`` must be a module-level function (the workers import it by name).
    """
    if not jobs:
        return {}
    root = Path(sys.modules[fn.__module__].__file__).resolve().parent
    for _ in range(fn.__module__.count(".")):
        root = root.parent
    with _Pool(f"{fn.__module__}:{fn.__qualname__}", memory_mb, workers or default_workers(len(jobs)), str(root)) as pool:
        return pool.run(jobs, seconds)


def default_workers(jobs: int) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(jobs, cores, 8))


class WorkerStartError(PipelineError):
    """The worker processes die before they are ready (a broken installation): stops every review."""


class _Worker:
    def __init__(self, target: str, memory_mb: int, root: str):
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ)
        paths = dict.fromkeys([str(Path(__file__).resolve().parent.parent), root])  # pipeline's and the target's
        env["RUST_BACKTRACE"] = "0"
        env["PYTHONPATH"] = os.pathsep.join([*paths, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from pipeline.safety import worker_main; worker_main()", target, str(memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, cwd=tempfile.gettempdir(), env=env)
        self.queue: list[str] = []     # jobs sent, in the order the worker runs them
        self.deadline = 0.0
        self.err_mark = 0
        self.ready = False

    def send(self, key: str, args: tuple, seconds: float) -> None:
        data = pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
        if not self.queue:
            self.start_head(seconds)
        self.queue.append(key)
        self.proc.stdin.write(len(data).to_bytes(8, "little") + data)
        self.proc.stdin.flush()

    def start_head(self, seconds: float) -> None:
        """The job at the head of the queue starts now: its deadline, and where its stderr begins."""
        self.deadline = time.monotonic() + seconds
        self.err_mark = os.fstat(self.stderr.fileno()).st_size

    def receive(self) -> tuple[str, object] | None:
        """The next message, or None when the worker died. Reads unbuffered, exactly one message, so
        the selector still sees whatever follows in the pipe."""
        head = self._read_exact(8)
        if head is None:
            return None
        data = self._read_exact(int.from_bytes(head, "little"))
        return None if data is None else pickle.loads(data)

    def _read_exact(self, size: int) -> bytes | None:
        fd = self.proc.stdout.fileno()
        parts, left = [], size
        while left:
            chunk = os.read(fd, min(left, 1 << 22))
            if not chunk:
                return None
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def death(self) -> tuple[str, object]:
        """Why the worker died: memory when the native reader could not allocate, else a crash."""
        code = self.proc.wait()
        fd = self.stderr.fileno()
        end = os.fstat(fd).st_size
        start = max(self.err_mark, end - 65536)
        tail = os.pread(fd, end - start, start).decode("utf-8", "replace")  # pread: the offset is shared with the child
        if "memory allocation" in tail or "MemoryError" in tail or "out of memory" in tail.lower():
            return "memory", tail.strip()[:300]
        lines = [ln for ln in tail.strip().splitlines() if ln.strip()]
        return "crash", f"exit code {code}" + (f": {lines[-1][-200:]}" if lines else "")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for fh in (self.proc.stdin, self.proc.stdout, self.stderr):
            try:
                fh.close()
            except OSError:
                pass


class _Pool:
    def __init__(self, target: str, memory_mb: int, size: int, root: str):
        self.target, self.memory_mb, self.size, self.root = target, memory_mb, size, root
        self.workers: list[_Worker] = []
        self.failed_starts = 0

    def __enter__(self) -> "_Pool":
        self.workers = [_Worker(self.target, self.memory_mb, self.root) for _ in range(self.size)]
        return self

    def __exit__(self, *exc: object) -> None:
        for w in self.workers:
            try:
                w.proc.stdin.close()
            except OSError:
                pass
        for w in self.workers:
            try:
                w.proc.wait(timeout=2)
            except Exception:
                pass
            w.kill()

    def _replace(self, w: _Worker) -> None:
        if not w.ready:
            self.failed_starts += 1
            if self.failed_starts >= 3:
                reason = w.death()[1]
                raise WorkerStartError(f"the reader process cannot start ({reason})")
        w.kill()
        self.workers[self.workers.index(w)] = _Worker(self.target, self.memory_mb, self.root)

    def run(self, jobs: list[tuple[str, tuple]], seconds: float, depth: int = 2) -> dict[str, tuple[str, object]]:
        """Each worker holds up to ``depth`` jobs so it never waits for the parent between small files;
        the deadline runs for the job at the head of its queue only."""
        args_of = dict(jobs)
        pending = [key for key, _ in reversed(jobs)]
        results: dict[str, tuple[str, object]] = {}

        def lost(w: _Worker, status: tuple[str, object] | None) -> None:
            """Replace a dead (or doomed) worker; the head job gets ``status``, the queued ones go back."""
            queue = w.queue
            if queue and status is not None:
                results[queue.pop(0)] = status
            pending.extend(reversed(queue))
            w.queue = []
            self._replace(w)

        while len(results) < len(jobs):
            for w in list(self.workers):
                while w.ready and len(w.queue) < depth and pending:
                    key = pending.pop()
                    try:
                        w.send(key, args_of[key], seconds)
                    except OSError:
                        pending.append(key)
                        lost(w, w.death())
                        break
            busy = [w for w in self.workers if w.queue]
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic()) if busy else None
            with selectors.DefaultSelector() as sel:
                for w in self.workers:
                    sel.register(w.proc.stdout, selectors.EVENT_READ, w)
                events = sel.select(timeout)
            for event, _ in events:
                w = event.data
                msg = w.receive()
                if msg is None:
                    lost(w, w.death())
                elif msg[0] == "ready":
                    w.ready = True
                else:
                    results[w.queue.pop(0)] = msg
                    w.start_head(seconds)
                    if msg[0] == "memory":  # the worker exits after a MemoryError
                        lost(w, None)
            now = time.monotonic()
            for w in list(self.workers):
                if w.queue and now >= w.deadline:
                    lost(w, ("timeout", seconds))
        return results


def worker_main() -> None:
    """Entry point of a worker process: argv = target ('module:function'), memory limit in MB."""
    target, memory_mb = sys.argv[1], int(sys.argv[2])
    module, name = target.split(":")
    fn = getattr(importlib.import_module(module), name)
    import python_calamine  # noqa: F401  (loaded once, before the limit)

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_mb * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the protocol
    inp = sys.stdin.buffer

    def send(msg: object) -> None:
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(8, "little") + data)
        out.flush()

    send(("ready", None))
    while True:
        head = inp.read(8)
        if len(head) < 8:
            return
        args = pickle.loads(inp.read(int.from_bytes(head, "little")))
        try:
            send(("ok", fn(*args)))
        except MemoryError:
            send(("memory", None))
            return
        except BaseException as exc:  # a Rust panic surfaces as a BaseException subclass
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            send(("crash", f"{type(exc).__name__}: {exc}"))
