"""Builders that write each kind of bad (or merely unusual) input file at test time.

Every builder takes a folder, writes one file there and returns its path. `HOSTILE` lists them with
the file-level problem code each must produce (None: the file must be read). Nothing is downloaded.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import struct
import time
import zipfile
from pathlib import Path
from typing import Callable

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# --- helpers ----------------------------------------------------------------------------------------

def basic_xlsx(path: Path, **extra) -> Path:
    """A small openpyxl workbook: sheet 'Partners' with a title row, a header and two rows."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Partners"
    ws.append(["Partner registry"])
    ws.append([])
    ws.append(["partner_id", "partner_name", "since", "score"])
    ws.append(["P1", "Acme", dt.date(2025, 4, 1), 12.5])
    ws.append(["P2", "Globex", dt.date(2026, 1, 31), 7])
    for cell, value in extra.items():
        ws[cell] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def rewrite_zip(src: Path, dst: Path, *, name: Callable[[str], str] = lambda n: n,
                data: Callable[[str, bytes], bytes] = lambda n, d: d, method: int = zipfile.ZIP_DEFLATED) -> Path:
    """Copy a zip member by member, renaming and/or transforming the contents."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", method) as zout:
        for info in zin.infolist():
            zout.writestr(name(info.filename), data(info.filename, zin.read(info)))
    return dst


def _from_basic(folder: Path, filename: str, **kw) -> Path:
    src = basic_xlsx(folder / ("_src_" + filename + ".tmpdir") / "src.xlsx")
    out = rewrite_zip(src, folder / filename, **kw)
    src.unlink()
    src.parent.rmdir()
    return out


def ole_file(streams: dict[str, bytes]) -> bytes:
    """A minimal but well-formed Compound File (CFB v3) holding the given streams."""
    free, end, fatsect = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    sector = 512
    datas = [(n, d.ljust(4096, b"\0")) for n, d in streams.items()]  # >= cutoff: regular sectors
    fat = [fatsect, end]  # sector 0 = FAT, 1 = directory
    starts = []
    for _, d in datas:
        n = len(d) // sector + (1 if len(d) % sector else 0)
        first = len(fat)
        starts.append(first)
        fat.extend(range(first + 1, first + n))
        fat.append(end)
    assert len(fat) <= 128 and len(datas) <= 3
    header = bytearray(512)
    header[0:8] = OLE_MAGIC
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 40, 0, 1, 1, 0, 4096, end, 0, end, 0)
    struct.pack_into("<I", header, 76, 0)
    for i in range(1, 109):
        struct.pack_into("<I", header, 76 + 4 * i, free)
    fat_sector = b"".join(struct.pack("<I", x) for x in fat + [free] * (128 - len(fat)))

    def entry(name: str, kind: int, start: int, size: int, child: int = free, right: int = free) -> bytes:
        raw = (name + "\0").encode("utf-16-le")
        e = bytearray(128)
        e[0:len(raw)] = raw
        struct.pack_into("<HBBIII", e, 64, len(raw), kind, 1, free, right, child)
        struct.pack_into("<IQ", e, 116, start, size)
        return bytes(e)

    entries = [entry("Root Entry", 5, end, 0, child=1 if datas else free)]
    for i, ((name, d), start) in enumerate(zip(datas, starts)):
        entries.append(entry(name, 2, start, len(d), right=i + 2 if i + 1 < len(datas) else free))
    directory = b"".join(entries).ljust(sector, b"\0")
    return bytes(header) + fat_sector + directory + b"".join(d for _, d in datas)


MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def raw_xlsx(path: Path, sheets: dict[str, str], shared: list[str] | None = None, prolog: dict[str, str] | None = None) -> Path:
    """An xlsx written part by part: ``sheets`` maps sheet name -> the XML inside <sheetData>;
    ``shared`` are the shared strings; ``prolog`` puts text before the root element of a part."""
    prolog = prolog or {}
    decl = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    ct = ('<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
          + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                    for i in range(1, len(sheets) + 1))
          + ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>' if shared is not None else "")
          + "</Types>")
    root_rels = ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                 f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    wb = (f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets>'
          + "".join(f'<sheet name="{n}" sheetId="{i}" r:id="rId{i}"/>' for i, n in enumerate(sheets, 1)) + "</sheets></workbook>")
    wb_rels = ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
               + "".join(f'<Relationship Id="rId{i}" Type="{REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(sheets) + 1))
               + (f'<Relationship Id="rId{len(sheets) + 1}" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>' if shared is not None else "")
               + "</Relationships>")
    parts = {"[Content_Types].xml": ct, "_rels/.rels": root_rels, "xl/workbook.xml": wb, "xl/_rels/workbook.xml.rels": wb_rels}
    for i, body in enumerate(sheets.values(), 1):
        parts[f"xl/worksheets/sheet{i}.xml"] = f'<worksheet xmlns="{MAIN_NS}"><sheetData>{body}</sheetData></worksheet>'
    if shared is not None:
        parts["xl/sharedStrings.xml"] = (f'<sst xmlns="{MAIN_NS}" count="{len(shared)}" uniqueCount="{len(shared)}">'
                                         + "".join(f"<si><t>{t}</t></si>" for t in shared) + "</sst>")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, xml in parts.items():
            z.writestr(name, decl + prolog.get(name, "") + xml)
    return path


SHARED_SHEET = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
                '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c></row>')


# --- the builders -------------------------------------------------------------------------------------

def entity_in_shared_strings(folder: Path) -> Path:
    """A billion-laughs style entity declaration in sharedStrings.xml (small, but never expanded)."""
    dtd = '<!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    return raw_xlsx(folder / "entity_shared_strings.xlsx", {"Partners": SHARED_SHEET},
                    ["partner_id", "partner_name", "P1", "&b;"], prolog={"xl/sharedStrings.xml": dtd})


def entity_in_content_types(folder: Path) -> Path:
    dtd = '<!DOCTYPE Types [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    return raw_xlsx(folder / "entity_content_types.xlsx", {"Partners": SHARED_SHEET},
                    ["partner_id", "partner_name", "P1", "Acme"], prolog={"[Content_Types].xml": dtd})


def entity_utf16(folder: Path) -> Path:
    """The DTD hidden in a UTF-16 encoded part, where a byte search for '<!DOCTYPE' finds nothing."""
    path = raw_xlsx(folder / "_utf16_src.xlsx", {"Partners": SHARED_SHEET}, ["partner_id", "partner_name", "P1", "Acme"],
                    prolog={"xl/sharedStrings.xml": '<!DOCTYPE sst [<!ENTITY a "x">]>'})

    def data(n: str, d: bytes) -> bytes:
        return d.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16") if n == "xl/sharedStrings.xml" else d
    out = rewrite_zip(path, folder / "entity_utf16.xlsx", data=data)
    path.unlink()
    return out


def shared_strings_ok(folder: Path) -> Path:
    """The same hand-written workbook without the DTD: must read (proves the three above fail for the DTD)."""
    return raw_xlsx(folder / "shared_strings.xlsx", {"Partners": SHARED_SHEET}, ["partner_id", "partner_name", "P1", "Acme &amp; Co"])


def inflating_sheet(folder: Path, megabytes: int = 3) -> Path:
    """A sheet whose XML unpacks to ``megabytes`` MB (refused under a 1 MB limits.max_inflated_mb)."""
    rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{"x" * 80}</t></is></c></row>' for r in range(1, 20000))
    sheet = (f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>')
    sheet = sheet.encode() * 1
    while len(sheet) < megabytes * 2**20:
        sheet = sheet.replace(b"</sheetData>", rows.encode() + b"</sheetData>", 1)  # same refs, bigger part
    return _from_basic(folder, "inflating.xlsx", data=lambda n, d: sheet if n == "xl/worksheets/sheet1.xml" else d)


def zip_bomb(folder: Path) -> Path:
    """A part that unpacks 1000 times its compressed size."""
    path = _from_basic(folder, "bomb.xlsx")
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/media/padding.bin", b"\0" * (24 * 2**20))
    return path


def far_cell(folder: Path) -> Path:
    """Sheet 'Stray' has data near A1 and one cell at XFD1048576; sheet 'Partners' is fine."""
    import openpyxl

    path = basic_xlsx(folder / "far_cell.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb.create_sheet("Stray")
    ws["A1"] = "kpi_id"
    ws["A2"] = "K1"
    ws["XFD1048576"] = "oops"
    wb.save(path)
    return path


def absurd_dimension(folder: Path) -> Path:
    """A <dimension ref="A1:XFD1048576"> with only a few real cells: must read normally."""
    def data(n: str, d: bytes) -> bytes:
        return re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', d) if "worksheets/" in n else d
    return _from_basic(folder, "absurd_dimension.xlsx", data=data)


def encrypted_xlsx(folder: Path) -> Path:
    path = folder / "encrypted.xlsx"
    path.write_bytes(ole_file({"EncryptionInfo": b"\x04\x00\x04\x00" + b"\x40" * 200, "EncryptedPackage": os.urandom(3000)}))
    return path


def ole_named_xlsx(folder: Path) -> Path:
    """An OLE container with no workbook stream, named .xlsx (e.g. rights-protected): encrypted."""
    path = folder / "ole_named.xlsx"
    path.write_bytes(ole_file({"\x06DataSpaces": b"x" * 100}))
    return path


def biff8_stream(sheets: dict[str, list[list]]) -> bytes:
    """The BIFF8 'Workbook' stream of a real Excel 97-2003 workbook, written by xlwt (dates as dates)."""
    import xlwt

    wb = xlwt.Workbook()
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for name, rows in sheets.items():
        ws = wb.add_sheet(name)
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if isinstance(v, dt.date):
                    ws.write(r, c, v, date_style)
                elif v is not None:
                    ws.write(r, c, v)
    return wb.get_biff_data()


def xls_with_zip(folder: Path, sheets: dict[str, list[list]] | None = None, name: str = "legacy.xls") -> Path:
    """A real BIFF8 .xls whose OLE container also holds a small zip stream, as Excel embeds one in
    many .xls files: `zipfile.is_zipfile` says yes, the first bytes say OLE."""
    import io

    sheets = sheets or {"Partners": [["Partner registry"], [], ["partner_id", "partner_name", "since", "score"],
                                     ["P1", "Acme", dt.date(2025, 4, 1), 12.5], ["P2", "Globex", dt.date(2026, 1, 31), 7]]}
    embedded = io.BytesIO()
    with zipfile.ZipFile(embedded, "w") as z:
        z.writestr("theme/theme/theme1.xml", "<a:theme xmlns:a='urn:x'/>")
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ole_file({"Workbook": biff8_stream(sheets), "MsoDataStore": embedded.getvalue()}))
    return path


def biff2_xls(folder: Path) -> Path:
    """An Excel 2.x worksheet stream (no OLE container): BOF, one NUMBER-like record, EOF."""
    bof = struct.pack("<HHHH", 0x0009, 4, 0x0002, 0x0010)
    label = struct.pack("<HH", 0x0004, 8 + 5) + struct.pack("<HH3sB", 0, 0, b"\0\0\0", 5) + b"hello"
    eof = struct.pack("<HH", 0x000A, 0)
    path = folder / "biff2.xls"
    path.write_bytes(bof + label + eof)
    return path


def backslash_names(folder: Path) -> Path:
    return _from_basic(folder, "backslash.xlsx", name=lambda n: n.replace("/", "\\"))


def uppercase_names(folder: Path) -> Path:
    return _from_basic(folder, "uppercase.xlsx", name=lambda n: n.upper() if n.startswith("xl/") else n)


def bad_crc(folder: Path) -> Path:
    """A stored (uncompressed) member with one byte changed after writing: the CRC no longer matches."""
    path = _from_basic(folder, "bad_crc.xlsx", method=zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"<sheetData>")
    raw[at + 1] = ord("S")
    path.write_bytes(bytes(raw))
    return path


def truncated(folder: Path) -> Path:
    src = basic_xlsx(folder / "_trunc_src.xlsx")
    data = src.read_bytes()
    src.unlink()
    path = folder / "truncated.xlsx"
    path.write_bytes(data[: len(data) // 2])
    return path


def zero_bytes(folder: Path) -> Path:
    path = folder / "zero.xlsx"
    path.write_bytes(b"")
    return path


def empty_zip(folder: Path) -> Path:
    path = folder / "empty_zip.xlsx"
    with zipfile.ZipFile(path, "w"):
        pass
    return path


def not_a_zip(folder: Path) -> Path:
    path = folder / "not_a_zip.xlsx"
    path.write_text("partner_id,partner_name\nP1,Acme\n")
    return path


STRICT = {
    b"http://schemas.openxmlformats.org/spreadsheetml/2006/main": b"http://purl.oclc.org/ooxml/spreadsheetml/main",
    b"http://schemas.openxmlformats.org/officeDocument/2006/relationships": b"http://purl.oclc.org/ooxml/officeDocument/relationships",
}


def strict_xml(folder: Path) -> Path:
    """An openpyxl workbook converted to Strict Open XML namespaces."""
    def data(n: str, d: bytes) -> bytes:
        for old, new in STRICT.items():
            d = d.replace(old, new)
        if n == "xl/workbook.xml":
            d = d.replace(b"<workbook ", b'<workbook conformance="strict" ', 1)
        return d
    return _from_basic(folder, "strict.xlsx", data=data)


def unknown_style(folder: Path) -> Path:
    """styles.xml with an element and a number format openpyxl does not know; the date still reads."""
    def data(n: str, d: bytes) -> bytes:
        if n == "xl/styles.xml":
            d = d.replace(b"</styleSheet>", b'<extLst><ext uri="{urn:x-unknown}"><x99:fancy xmlns:x99="urn:x-unknown" glow="9"/></ext></extLst></styleSheet>')
            d = re.sub(rb'formatCode="[^"]*yy[^"]*"', b'formatCode="[$-409]d-mmm-yyyy;@"', d)
        return d
    return _from_basic(folder, "unknown_style.xlsx", data=data)


def formula_without_value(folder: Path) -> Path:
    return basic_xlsx(folder / "formula.xlsx", E4="=D4*2", E5="=SUM(D4:D5)")


def error_values(folder: Path) -> Path:
    return basic_xlsx(folder / "errors.xlsx", D5="#DIV/0!", E4="#N/A")


ODS_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 office:version="1.2"><office:body><office:spreadsheet>
<table:table table:name="Actuals">
<table:table-row>
 <table:table-cell office:value-type="string"><text:p>partner_id</text:p></table:table-cell>
 <table:table-cell office:value-type="string"><text:p>value</text:p></table:table-cell>
 <table:table-cell office:value-type="string"><text:p>date</text:p></table:table-cell>
</table:table-row>
<table:table-row>
 <table:table-cell office:value-type="string"><text:p>P1</text:p></table:table-cell>
 <table:table-cell office:value-type="float" office:value="1234.5"><text:p>1234.5</text:p></table:table-cell>
 <table:table-cell office:value-type="date" office:date-value="2026-03-31"><text:p>31/03/2026</text:p></table:table-cell>
</table:table-row>
</table:table></office:spreadsheet></office:body></office:document-content>
"""
ODS_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>
"""


def hand_ods(folder: Path) -> Path:
    """An OpenDocument spreadsheet written by hand (no whitespace between cells: like LibreOffice writes)."""
    path = folder / "hand.ods"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr("META-INF/manifest.xml", ODS_MANIFEST, zipfile.ZIP_DEFLATED)
        z.writestr("content.xml", re.sub(r">\s+<", "><", ODS_CONTENT), zipfile.ZIP_DEFLATED)
    return path


def xlsx_named_xls(folder: Path) -> Path:
    src = basic_xlsx(folder / "_xls_src.xlsx")
    return src.rename(folder / "really_xlsx.xls")


def html_named_xls(folder: Path) -> Path:
    path = folder / "web_export.xls"
    path.write_text("<html><body><table><tr><td>partner_id</td></tr></table></body></html>")
    return path


def lock_file(folder: Path) -> Path:
    path = folder / "~$Partners.xlsx"
    path.write_bytes(b"\x05alice" + b"\0" * 100)
    return path


def hidden_file(folder: Path) -> Path:
    return basic_xlsx(folder / ".hidden.xlsx")


def big_sheet(folder: Path, rows: int = 300_000, name: str = "big.xlsx") -> Path:
    """A plain sheet of ``rows`` rows written as raw XML (fast to build, slow enough to read)."""
    body = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>P{r}</t></is></c><c r="B{r}"><v>{r}.5</v></c></row>'
                   for r in range(1, rows + 1))
    sheet = f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{body}</sheetData></worksheet>'
    return _from_basic(folder, name, data=lambda n, d: sheet.encode() if n == "xl/worksheets/sheet1.xml" else d)


# name -> (builder, the file-level problem code it must give, or None when it must be read)
HOSTILE: dict[str, tuple[Callable[[Path], Path], str | None]] = {
    "entity_shared_strings": (entity_in_shared_strings, "FILE_HOSTILE"),
    "entity_content_types": (entity_in_content_types, "FILE_HOSTILE"),
    "entity_utf16": (entity_utf16, "FILE_HOSTILE"),
    "shared_strings": (shared_strings_ok, None),
    "zip_bomb": (zip_bomb, "FILE_TOO_LARGE"),
    "far_cell": (far_cell, "FILE_TOO_LARGE"),
    "absurd_dimension": (absurd_dimension, None),
    "encrypted": (encrypted_xlsx, "FILE_ENCRYPTED"),
    "ole_named_xlsx": (ole_named_xlsx, "FILE_ENCRYPTED"),
    "biff2": (biff2_xls, "FILE_OLD_FORMAT"),
    "xls_with_zip": (xls_with_zip, None),
    "backslash": (backslash_names, None),
    "uppercase": (uppercase_names, None),
    "bad_crc": (bad_crc, "FILE_CORRUPT"),
    "truncated": (truncated, "FILE_CORRUPT"),
    "zero_bytes": (zero_bytes, "FILE_EMPTY"),
    "empty_zip": (empty_zip, "FILE_CORRUPT"),
    "not_a_zip": (not_a_zip, "FILE_CORRUPT"),
    "strict": (strict_xml, None),
    "unknown_style": (unknown_style, None),
    "formula": (formula_without_value, None),
    "errors": (error_values, None),
    "ods": (hand_ods, None),
    "xlsx_named_xls": (xlsx_named_xls, None),
    "html_named_xls": (html_named_xls, "FILE_OLD_FORMAT"),
    "lock": (lock_file, "FILE_LOCK"),
    "hidden": (hidden_file, "FILE_HIDDEN"),
}


def build_all(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {name: builder(folder) for name, (builder, _) in HOSTILE.items()}


def behave(mode: str) -> str:
    """A job for the isolation tests: misbehaves in the way named."""
    if mode == "sleep":
        time.sleep(30)
    elif mode == "abort":
        os.abort()
    elif mode == "exit":
        os._exit(3)
    elif mode == "alloc":
        return str(len(bytearray(64 * 2**30)))
    elif mode == "raise":
        raise ValueError("boom")
    elif mode == "print":
        print("noise on stdout must not break the protocol")
    return f"done {mode}"


if __name__ == "__main__":  # pragma: no cover - handy for looking at the files by hand
    import sys

    for n, p in build_all(Path(sys.argv[1])).items():
        print(n, p)
