"""Look at an untrusted file before any parser does: sniff its format, harden its zip, scan its XML.

Everything here reads the file read-only and in a streaming way with bounded memory: the magic
bytes decide the format (never the extension), zip members are inflated chunk by chunk (CRC checked,
total size capped, DTDs and entity declarations refused), and sheet XML is scanned with byte regexes
for what python-calamine does not report (`pipeline.read.sheetxml`): formula cells without a stored
value, error cells, hidden rows, and the real extent of the populated cells.

Running the parsers themselves, isolated and under limits, is `pipeline.core.sandbox`'s job.
"""
from __future__ import annotations

import codecs
import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.read.sheetxml import CHUNK, SheetScan, SheetScanner, valued_extent

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
# BIFF BOF records of files older than the OLE container: record type, then the version they mean
BIFF_BOFS = {b"\x09\x00": "Excel 2.x", b"\x09\x02": "Excel 3.0", b"\x09\x04": "Excel 4.0", b"\x09\x08": "Excel 5.0/95"}
MAX_RATIO = 500            # a part this much larger than its compressed size (and >= RATIO_FLOOR) is a bomb
RATIO_FLOOR = 10 * 2**20
STRICT_NS = b"http://purl.oclc.org/ooxml/"


class Refused(Exception):
    """The file must not be parsed. ``code`` is a FILE_* catalog code, ``context`` its template values."""

    def __init__(self, code: str, **context: Any):  # Any: `problems.make`'s keyword arguments, passed on as they are
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


# --- zip packages ---------------------------------------------------------------------------------

@dataclass
class SheetPart:
    name: str           # the sheet's name as Excel shows it
    part: str           # normalised member name ('/' separators, as stored case-folded key)
    hidden: bool = False


class Package:
    """A zip package opened read-only, with member names looked up like Excel does (any case, '\\' or '/')."""

    def __init__(self, path: Path):
        try:
            self.zf = zipfile.ZipFile(path)
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise Refused("FILE_CORRUPT", detail=f"it is not a complete zip archive ({exc}); "
                                                 "it may have been cut off while copying") from exc
        if not infos:
            raise Refused("FILE_CORRUPT", detail="the zip archive is empty")
        self.members = {normalise(i.filename): i for i in infos}
        self.referenced: dict[str, str] = {}   # normalised -> spelled as a relationship target
        self.date1904 = False                  # the workbook's date system, learnt by `sheet_parts`

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
    """The worksheets in workbook order with their part names, and whether the package is Strict Open XML.
    Also learns the workbook's date system (``pkg.date1904``, from ``<workbookPr date1904="1"/>``)."""
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
        if _local(el.tag) == "workbookPr":
            pkg.date1904 = el.get("date1904", "").strip().lower() in ("1", "true")
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
        raise Refused("FILE_TOO_LARGE", detail=f"its parts unpack to {declared // 2**20} MB; "
                                               f"the limit is {limits['max_inflated_mb']} MB (limits.max_inflated_mb)")
    for info in pkg.members.values():
        if info.file_size >= RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise Refused("FILE_TOO_LARGE", detail=f"the part {info.filename} unpacks "
                                                   f"{info.file_size // max(info.compress_size, 1)} times its size (a zip bomb?)")
    by_part = {s.part: s for s in sheets}
    scans: dict[str, SheetScan] = {}
    total = 0
    for key, info in pkg.members.items():
        scanner = SheetScanner() if key in by_part else None
        guard = _EntityGuard(info.filename)
        try:
            with pkg.zf.open(info) as fh:
                while chunk := fh.read(CHUNK):
                    total += len(chunk)
                    if total > max_total:
                        raise Refused("FILE_TOO_LARGE", detail=f"its parts unpack to more than {limits['max_inflated_mb']} MB "
                                                               "(limits.max_inflated_mb)")
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
        self.decoder: codecs.IncrementalDecoder | None = None
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


def precise_extent(pkg: Package, part: str) -> tuple[int, int, int, int, str]:
    """(min row, max row, min col, max col, far cell) of the cells of the sheet ``part`` that hold something
    (styled blanks ignored), the part streamed (`sheetxml.valued_extent`)."""
    with pkg.zf.open(pkg.members[part]) as fh:
        return valued_extent(fh)
