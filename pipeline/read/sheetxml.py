"""Scan a sheet part's XML, streamed, with byte regexes for what python-calamine does not report: formula
cells without a stored value, error cells, hidden rows, and the real extent of the populated cells.

`pipeline.read.safety` feeds it every sheet part while it inflates the package; nothing here parses XML
into a tree, and memory stays bounded by a few chunks whatever the part's size.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import IO
from xml.sax.saxutils import unescape

from pipeline.read.raw import cell_ref

CHUNK = 1 << 20  # bytes inflated at a time, here and in `pipeline.read.safety`


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


class SheetScanner:
    """Fed a sheet part's bytes in chunks; cuts them after a row end so no cell is split."""

    def __init__(self) -> None:
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


def valued_extent(fh: IO[bytes]) -> tuple[int, int, int, int, str]:
    """(min row, max row, min col, max col, far cell) of the cells of a sheet part, streamed from ``fh``, that
    hold something (styled blanks ignored)."""
    rmin = cmin = 10**9
    rmax = cmax = 0
    far = (0, 0)
    buf = b""
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
