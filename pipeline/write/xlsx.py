"""A small, fast .xlsx writer for frames (reconciled.xlsx): the OOXML parts written directly.

One sheet per frame, a bold header row frozen above the data. Each column is turned into cell XML in one
pass over its distinct values (``pd.factorize``), so a column of 100k cells costs 100k f-strings, not 100k
trips through a general-purpose writer. Cell types follow the frame, never the text:

- numbers are numbers, written with ``repr`` so every float reads back bit for bit (``3.0`` as ``3``);
- NaN, None, NaT and "" are blank cells; +-inf is the text ``inf`` / ``-inf``;
- bools are booleans; datetimes are Excel dates formatted ``yyyy-mm-dd hh:mm:ss``, dates ``yyyy-mm-dd``;
- strings are ALWAYS text in the shared-string table: ``=HYPERLINK(...)``, ``+1`` or ``0012`` stay text.

Characters XML cannot hold are escaped the way Excel (and XlsxWriter) do: a control character becomes
``_xHHHH_`` and a literal ``_xHHHH_`` in the text becomes ``_x005F_xHHHH_``. Strings are cut at Excel's
32,767 UTF-16 units.
"""
from __future__ import annotations

import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from pipeline.read.raw import column_letter

CHUNK_ROWS = 5_000           # rows turned into XML at a time: bounds memory, costs no speed
COMPRESSLEVEL = 1            # deflate: 200 partners take 0.9 s CPU and 4.8 MB at 1, 1.5 s and 3.8 MB at 6
MAX_STRING = 32_767          # Excel's limit, in UTF-16 units

# cell style indexes in styles.xml below
_BOLD, _DATETIME, _DATE = 1, 2, 3
_STRING, _BOOL, _PLAIN = ' t="s"', ' t="b"', ""
_DATETIME_ATTR, _DATE_ATTR = f' s="{_DATETIME}"', f' s="{_DATE}"'

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_INVALID_TITLE = re.compile(r"[\[\]:*?/\\]")
_ESCAPED = re.compile(r"_(?=x[0-9a-fA-F]{4}_)")  # an underscore starting _xHHHH_ (overlapping ones too)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_CONTROL_BUT_NUL = re.compile(r"[\x01-\x08\x0b-\x1f\ufffe\uffff]")
_XML_SPECIAL = re.compile(r"[&<>]")
_EPOCH = np.datetime64("1899-12-31T00:00:00", "us")


def is_blank(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA: a value an output file leaves empty."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def frames_xlsx_bytes(sheets: dict[str, pd.DataFrame], *, compresslevel: int = COMPRESSLEVEL) -> bytes:
    """The workbook as bytes: one sheet per frame, titled with the key cut to Excel's 31 characters."""
    titles = sheet_titles(sheets)
    strings = _SharedStrings()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as z:
        # every part through open(name, "w"): each gets the same fixed 1980 date, so the same frames
        # give the same bytes
        for name, xml in _package_parts(titles):
            _put(z, name, [xml])
        for n, frame in enumerate(sheets.values(), 1):
            _put(z, f"xl/worksheets/sheet{n}.xml", _sheet_xml(frame, strings, selected=n == 1))
        _put(z, "xl/sharedStrings.xml", strings.xml())
    return buf.getvalue()


def _put(z: zipfile.ZipFile, name: str, pieces: Iterable[str]) -> None:
    with z.open(name, "w") as fh:
        for piece in pieces:
            fh.write(piece.encode("utf-8"))


def sheet_titles(sheets: dict[str, Any]) -> list[str]:
    """Sheet names as Excel takes them: the key cut to 31 characters. Raises ValueError on a name Excel
    refuses (``[]:*?/\\``, a leading or trailing apostrophe, a duplicate ignoring case) or a blank one."""
    titles, seen = [], set()
    for key in sheets:
        title = str(key)[:31]
        if not title or _INVALID_TITLE.search(title) or title[0] == "'" or title[-1] == "'":
            raise ValueError(f"not a valid Excel sheet name: {title!r}")
        if title.lower() in seen:
            raise ValueError(f"sheet name {title!r} is used twice (Excel ignores case)")
        seen.add(title.lower())
        titles.append(title)
    return titles


def escape_text(text: str) -> str:
    """A string as the body of a ``<t>`` element: cut to Excel's limit, Excel's ``_xHHHH_`` escapes for
    characters XML cannot hold, and &, <, > as entities."""
    if len(text) > MAX_STRING // 2 and len(text.encode("utf-16-le", "surrogatepass")) // 2 > MAX_STRING:
        text = _utf16_cut(text, MAX_STRING)
    return _escape(text, _CONTROL)


def _escape(text: str, control: re.Pattern) -> str:
    if "_x" in text:
        text = _ESCAPED.sub("_x005F_", text)
    text = control.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)
    if _XML_SPECIAL.search(text):
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def _utf16_cut(text: str, limit: int) -> str:
    length = 0
    for i, ch in enumerate(text):
        length += 2 if ord(ch) > 0xFFFF else 1
        if length > limit:
            return text[:i]
    return text


class _SharedStrings:
    """The workbook's shared-string table: each distinct string stored once, cells refer to it by index."""

    def __init__(self) -> None:
        self.index: dict[str, str] = {}   # text -> its index, already as the cell's <v> text
        self.count = 0                    # cells referring to the table

    def refs(self, texts: list[str]) -> list[str]:
        index = self.index
        out = []
        for text in texts:
            ref = index.get(text)
            if ref is None:
                ref = index[text] = str(len(index))
            out.append(ref)
        return out

    def xml(self, block: int = 50_000) -> Iterator[str]:
        """The sharedStrings part, `block` strings at a time. Every ``<t>`` keeps its spaces
        (xml:space="preserve"). A block is escaped in one pass over its join: NUL cannot survive
        `escape_text`, so it can stand between the strings."""
        texts = list(self.index)
        yield f'{XML_HEAD}<sst xmlns="{NS_MAIN}" count="{self.count}" uniqueCount="{len(texts)}">'
        si = '<si><t xml:space="preserve">'
        for start in range(0, len(texts), block):
            part = texts[start:start + block]
            joined = "\x00".join(part)
            if joined.count("\x00") == len(part) - 1 and max(map(len, part)) <= MAX_STRING // 2:
                body = _escape(joined, _CONTROL_BUT_NUL)
            else:                               # a NUL or a very long string among them: one at a time
                body = "\x00".join(map(escape_text, part))
            yield si + body.replace("\x00", "</t></si>" + si) + "</t></si>"
        yield "</sst>"


def _sheet_xml(frame: pd.DataFrame, strings: _SharedStrings, *, selected: bool) -> Iterator[str]:
    """The worksheet part, in pieces of at most CHUNK_ROWS rows."""
    nrows, ncols = frame.shape
    letters = [column_letter(j + 1) for j in range(ncols)]
    last = f"{letters[-1]}{nrows + 1}" if ncols else "A1"
    tab = ' tabSelected="1"' if selected else ""
    yield (f'{XML_HEAD}<worksheet xmlns="{NS_MAIN}" xmlns:r="{NS_REL}"><dimension ref="A1:{last}"/>'
           f'<sheetViews><sheetView{tab} workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
           'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/></sheetView></sheetViews>'
           '<sheetFormatPr defaultRowHeight="15"/><sheetData>')
    header = [str(name) for name in frame.columns]
    refs = strings.refs([h for h in header if h])
    strings.count += len(refs)
    it = iter(refs)
    yield '<row r="1">' + "".join(
        f'<c r="{L}1" s="{_BOLD}" t="s"><v>{next(it)}</v></c>' if h else f'<c r="{L}1" s="{_BOLD}"/>'
        for L, h in zip(letters, header)) + "</row>"
    columns = [_column(frame.iloc[:, j], strings) for j in range(ncols)]
    for start in range(0, nrows, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, nrows)
        rows = [str(r) for r in range(start + 2, stop + 2)]
        cells = [_cells(L, rows, col, start, stop) for L, col in zip(letters, columns)]
        yield "".join([f'<row r="{r}">{body}</row>' for r, *row in zip(rows, *cells) if (body := "".join(row))])
    yield ('</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" '
           'footer="0.3"/></worksheet>')


def _cells(letter: str, rows: list[str], column: tuple, start: int, stop: int) -> list[str]:
    """One column's cell XML for rows start..stop ("" for a blank cell)."""
    codes, values, attrs = column
    vals = values[codes[start:stop]].tolist()
    pre = f'<c r="{letter}'
    if isinstance(attrs, str):
        mid = f'"{attrs}><v>'
        return [f"{pre}{r}{mid}{v}</v></c>" if v is not None else "" for r, v in zip(rows, vals)]
    kinds = attrs[codes[start:stop]].tolist()
    return [f'{pre}{r}"{a}><v>{v}</v></c>' if v is not None else "" for r, v, a in zip(rows, vals, kinds)]


def _column(col: pd.Series, strings: _SharedStrings) -> tuple[np.ndarray, np.ndarray, Any]:
    """A column as (codes, values, attrs): cell i holds ``values[codes[i]]`` (None: blank) with the cell
    attributes ``attrs`` (one for the column, or ``attrs[codes[i]]``). The last entry of `values` is None,
    so the code -1 that factorize gives a missing value is a blank cell."""
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        codes, uniques = pd.factorize(col)
        return codes, _with_blank(["1" if u else "0" for u in uniques.tolist()]), _BOOL
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        codes, uniques = pd.factorize(col)
        texts, attrs = [], []
        for u in uniques.tolist():
            if isinstance(u, float) and math.isinf(u):
                texts.append(strings.refs([str(u)])[0])
                attrs.append(_STRING)
            else:
                texts.append(_number(u))
                attrs.append(_PLAIN)
        strings.count += _string_cells(codes, attrs)
        if _STRING not in attrs:
            return codes, _with_blank(texts), _PLAIN
        return codes, _with_blank(texts), _with_blank(attrs)
    if isinstance(dtype, pd.DatetimeTZDtype):
        col = col.dt.tz_localize(None)          # wall time, as XlsxWriter's remove_timezone wrote it
        dtype = col.dtype
    if pd.api.types.is_datetime64_dtype(dtype):
        codes, uniques = pd.factorize(col)
        return codes, _with_blank(_excel_serials(uniques.to_numpy())), _DATETIME_ATTR
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        codes, uniques = pd.factorize(col)
        texts = uniques.tolist()
        if "" in texts:                         # "" is a blank cell
            codes = codes.copy()
            codes[codes == texts.index("")] = -1
        strings.count += int((codes >= 0).sum())
        return codes, _with_blank(strings.refs(texts)), _STRING
    return _object_column(col, strings)


def _with_blank(values: list) -> np.ndarray:
    out = np.empty(len(values) + 1, dtype=object)
    out[:-1] = values
    out[-1] = None
    return out


def _string_cells(codes: np.ndarray, attrs: list[str]) -> int:
    text_codes = [i for i, a in enumerate(attrs) if a == _STRING]
    return int(np.isin(codes, text_codes).sum()) if text_codes else 0


def _number(value: Any) -> str:
    """repr: the shortest text that reads back as the same float; ``3.0`` is written ``3``."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _excel_serials(values: np.ndarray, *, dates: bool = False) -> list[str]:
    """datetime64 values as Excel 1900-system serial numbers (XlsxWriter's arithmetic, to the microsecond)."""
    us = (values.astype("datetime64[us]") - _EPOCH).astype(np.int64)
    days, rem = np.divmod(us, 86_400_000_000)
    seconds, micro = np.divmod(rem, 1_000_000)
    serial = days + (seconds.astype(np.float64) + micro / 1e6) / 86_400
    if not dates:
        serial = np.where(days == 1, serial - 1, serial)    # a datetime on 1900-01-01 is a time of day
    serial = np.where(serial > 59, serial + 1, serial)     # Excel's phantom 1900-02-29
    return [_number(v) for v in serial.tolist()]


def _object_column(col: pd.Series, strings: _SharedStrings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mixed column, value by value: lists joined with "; ", numpy scalars unwrapped, anything else that
    is not a number, bool or date written as its text."""
    texts, attrs = [], []
    for value in col.tolist():
        v = _cell_value(value)
        if v is None or v == "":
            text, attr = None, _PLAIN
        elif isinstance(v, str):
            text, attr = v, _STRING
        elif isinstance(v, bool):
            text, attr = ("1" if v else "0"), _BOOL
        elif isinstance(v, (int, float)):
            text, attr = _number(v), _PLAIN
        elif isinstance(v, dt.datetime):
            naive = np.datetime64(v.replace(tzinfo=None), "us")
            text, attr = _excel_serials(np.array([naive]))[0], _DATETIME_ATTR
        elif isinstance(v, dt.date):
            text, attr = _excel_serials(np.array([np.datetime64(v, "us")]), dates=True)[0], _DATE_ATTR
        else:
            text, attr = str(v), _STRING
        if attr == _STRING:
            assert text is not None  # only the str branches set _STRING
            text = strings.refs([text])[0]
            strings.count += 1
        texts.append(text)
        attrs.append(attr)
    return np.arange(len(texts)), _with_blank(texts), _with_blank(attrs)


def _cell_value(value: Any) -> Any:
    """A frame value as a cell stores it (lists joined, NaN/NaT blank, numpy scalars unwrapped, inf as text)."""
    if isinstance(value, (list, tuple, set)):
        return "; ".join(str(v) for v in value)
    if is_blank(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    return value


def _package_parts(titles: list[str]) -> list[tuple[str, str]]:
    """Every part but the sheets and the shared strings: content types, relationships, workbook, styles."""
    n = len(titles)
    sheet_ct = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{sheet_ct}"/>'
                        for i in range(1, n + 1))
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    content_types = (
        f'{XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{ct}.styles+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{ct}.sharedStrings+xml"/>'
        f"{overrides}</Types>")
    root_rels = (f'{XML_HEAD}<Relationships xmlns="{NS_PKG_REL}"><Relationship Id="rId1" '
                 f'Type="{NS_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    sheets = "".join(f'<sheet name="{attr(t)}" sheetId="{i}" r:id="rId{i}"/>' for i, t in enumerate(titles, 1))
    workbook = (f'{XML_HEAD}<workbook xmlns="{NS_MAIN}" xmlns:r="{NS_REL}"><bookViews><workbookView/></bookViews>'
                f"<sheets>{sheets}</sheets></workbook>")
    rels = "".join(f'<Relationship Id="rId{i}" Type="{NS_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                   for i in range(1, n + 1))
    workbook_rels = (f'{XML_HEAD}<Relationships xmlns="{NS_PKG_REL}">{rels}'
                     f'<Relationship Id="rId{n + 1}" Type="{NS_REL}/styles" Target="styles.xml"/>'
                     f'<Relationship Id="rId{n + 2}" Type="{NS_REL}/sharedStrings" Target="sharedStrings.xml"/>'
                     "</Relationships>")
    font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
    styles = (
        f'{XML_HEAD}<styleSheet xmlns="{NS_MAIN}"><numFmts count="2">'
        '<numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/><numFmt numFmtId="165" formatCode="yyyy-mm-dd"/>'
        f'</numFmts><fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
    return [("[Content_Types].xml", content_types), ("_rels/.rels", root_rels), ("xl/workbook.xml", workbook),
            ("xl/_rels/workbook.xml.rels", workbook_rels), ("xl/styles.xml", styles)]


def attr(text: str) -> str:
    """A string as an XML attribute value (a line break kept as a character reference, not folded to a space)."""
    return escape_text(text).replace('"', "&quot;").replace("\n", "&#10;")
