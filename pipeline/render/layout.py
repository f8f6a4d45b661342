"""The sections' one toolbox (``from pipeline.render import layout as L``): the helpers that turn data into
flowables, and, re-exported so that a section needs nothing else, the house style (`pipeline.render.style`:
fonts, colours, paragraph styles), the page (`pipeline.render.pages`: `Page`, `build`) and the formatting
of values.

Text that people typed is escaped (``R&D <urgent>`` prints as typed) and capped so that no cell can
outgrow a page; a table is drawn in the house style, its one-line cells as plain strings.
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, NamedTuple
from xml.sax.saxutils import escape

import pandas as pd

from pipeline.core.frames import is_missing, records  # noqa: F401 - the sections use them through layout
from pipeline.render.formats import fmt_attainment, fmt_change, fmt_date, fmt_number, fmt_pct  # noqa: F401
from pipeline.render.pages import Page, bookmark, build, content_width  # noqa: F401 - the sections use them through layout
from pipeline.render.style import (  # noqa: F401 - the sections use the style through layout too
    ACCENT,
    FONT,
    FONT_BOLD,
    HEAD_BG,
    INK,
    MM,
    MUTED,
    RULE,
    SEVERITY_TINTS,
    STATUS_COLOURS,
    STATUS_TINTS,
    ZEBRA,
    color,
    register_fonts,
    styles,
)

_NA, _NAT = pd.NA, pd.NaT

CELL_LIMIT = 600
TRUNCATED = "… (truncated; full text in the workbook)"


# ------------------------------------------------------------------------------------------ text helpers
def text(value: object, limit: int = CELL_LIMIT) -> str:
    """Typed text made safe for a Paragraph: empty for missing, capped at `limit`, markup escaped."""
    return escape(_capped(value, limit)).replace("\n", "<br/>")


def _capped(value: object, limit: int) -> str:
    """`value` as text, empty for missing, cut at `limit` characters with a note."""
    if value is None or value is _NA or value is _NAT or (isinstance(value, float) and math.isnan(value)):
        return ""
    raw = str(value)
    if len(raw) > limit:
        raw = raw[:limit].rstrip() + " " + TRUNCATED
    return raw


def para(value: object, style: str = "body", *, limit: int = CELL_LIMIT, markup: bool = False):
    """A Paragraph of typed text (escaped), or of our own markup when ``markup=True``."""
    return _paragraph(str(value) if markup else text(value, limit), styles()[style])


def _paragraph(markup: str, style: Any):
    from pipeline.compat.reportlab_flow import paragraph

    return paragraph(markup, style)


class Cell(NamedTuple):
    """Typed text for a table cell, drawn as a plain string when it fits on one line (see `table`)."""

    text: str
    style: str


def cell(value: object, style: str = "cell", *, limit: int = CELL_LIMIT) -> Cell:
    """A table cell of typed text: no markup, no escaping needed. `table` draws it as a plain string in
    the style's font, size, colour and alignment when it fits its column on one line, and as a Paragraph
    (wrapped, escaped) when it does not. Either way the reader sees the same thing; the string is cheaper."""
    return Cell(_capped(value, limit), style)


def heading(title: str, level: int = 1, outline: bool = False):
    """A section heading (level 1) or a sub-heading (2); with `outline`, also an entry of the PDF's outline."""
    p = para(title, "h1" if level == 1 else "h2")
    return bookmark(p, level - 1) if outline else p


# ------------------------------------------------------------------------------------------------ tables
def table(rows: Sequence[Sequence[Any]], widths: Sequence[float], *, header_rows: int = 1,
          extra: Iterable[tuple] = (), zebra: bool = True, align_right: Sequence[int] = ()):
    """A table in the house style: header rows repeated on every page, light rules, zebra rows, DejaVu font.

    Cells are flowables, lists of flowables, or `cell(...)` text; a `cell` that fits its column on one
    line becomes a plain string styled through the TableStyle (laying out a Paragraph costs ten times
    more), any other becomes a Paragraph. The house font, colour, alignment and padding of every cell
    (`HOUSE_CELL`, and `HOUSE_HEAD` for header rows) start in the cells' styles rather than as commands
    applied cell by cell.
    """
    from reportlab.platypus import TableStyle

    from pipeline.compat.reportlab_flow import cell_styles, table_class

    extra = list(extra)
    later = {cmd[0] for cmd in extra} | ({"ALIGN"} if align_right else set())
    rows, cell_cmds = _plain_cells(rows, widths, later)
    cmds: list[tuple] = [("LINEBELOW", (0, 0), (-1, -1), 0.25, color(RULE))]
    if header_rows:
        cmds += [("BACKGROUND", (0, 0), (-1, header_rows - 1), color(HEAD_BG)),
                 ("LINEBELOW", (0, header_rows - 1), (-1, header_rows - 1), 0.8, color(ACCENT))]
    if zebra:
        cmds.append(("ROWBACKGROUNDS", (0, header_rows), (-1, -1), [None, color(ZEBRA)]))
    for col in align_right:
        cmds.append(("ALIGN", (col, 0), (col, -1), "RIGHT"))
    cmds.extend(extra)
    cmds.extend(cell_cmds)  # last, so a row-wide FONT in `extra` does not restyle a cell's own text
    data = [list(r) for r in rows]
    starts = cell_styles(len(data), max(map(len, data)), header_rows, HOUSE_CELL, HOUSE_HEAD) if data else None
    t = table_class()(data, colWidths=list(widths), repeatRows=header_rows, hAlign="LEFT", splitByRow=1,
                      cellStyles=starts)
    t.setStyle(TableStyle(cmds))
    t.spaceAfter = 6
    return t


# what every cell starts with (as the commands FONT, TEXTCOLOR, VALIGN and the paddings over the whole
# table, then FONT and VALIGN over the header rows, would set it; a FONT without leading gives 1.2 x size)
HOUSE_CELL = {"fontname": FONT, "fontsize": 7.8, "leading": 7.8 * 1.2, "color": INK, "valign": "TOP",
              "leftPadding": 3.5, "rightPadding": 3.5, "topPadding": 2.6, "bottomPadding": 3}
HOUSE_HEAD = {**HOUSE_CELL, "fontname": FONT_BOLD, "fontsize": 7.5, "leading": 7.5 * 1.2, "valign": "BOTTOM"}

_ALIGN = {0: "LEFT", 1: "CENTER", 2: "RIGHT"}
_PAD = 3.5  # the table's left and right cell padding


def _plain_cells(rows: Sequence[Sequence[Any]], widths: Sequence[float],
                 later: AbstractSet[str] = frozenset({"TEXTCOLOR", "ALIGN"})) -> tuple[list[list], list[tuple]]:
    """Rows with every `Cell` made a string (fits on one line) or a Paragraph, and the style commands
    that give each string its paragraph style's font, size, leading, colour and alignment: one command
    per rectangle of cells in the same style. Colour and alignment are left out where they are the house
    ones and no command in `later` (the ops of the table's other commands) could have changed them."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    st = styles()
    out: list[list] = []
    runs: list[list] = []  # [style, first row, last row, first col, last col]
    open_runs: dict[tuple, list] = {}  # (style, first col, last col) -> its latest run
    for r, row in enumerate(rows):
        new = list(row)
        line: list[list] = []
        for c, v in enumerate(new):
            if type(v) is not Cell:
                continue
            s, name = v
            style = st[name]
            if (not s or "\n" in s or "  " in s or s != s.strip() or style.spaceBefore or style.spaceAfter
                    or _width(s, style.fontName, style.fontSize, stringWidth) > widths[c] - 2 * _PAD - 0.5):
                new[c] = _paragraph(escape(s).replace("\n", "<br/>"), style)
                continue
            new[c] = s
            if line and line[-1][0] == name and line[-1][4] == c - 1:
                line[-1][4] = c
            else:
                line.append([name, r, r, c, c])
        for run in line:  # the same columns in the same style as the row above: one rectangle
            key = (run[0], run[3], run[4])
            above = open_runs.get(key)
            if above is not None and above[2] == r - 1:
                above[2] = r
            else:
                runs.append(run)
                open_runs[key] = run
        out.append(new)
    ink = color(INK)
    cmds: list[tuple] = []
    for name, r0, r1, c0, c1 in runs:
        style = st[name]
        cmds.append(("FONT", (c0, r0), (c1, r1), style.fontName, style.fontSize, style.leading))
        if "TEXTCOLOR" in later or style.textColor.rgba() != ink.rgba():
            cmds.append(("TEXTCOLOR", (c0, r0), (c1, r1), style.textColor))
        if "ALIGN" in later or "ALIGNMENT" in later or style.alignment != 0:
            cmds.append(("ALIGN", (c0, r0), (c1, r1), _ALIGN[style.alignment]))
    return out, cmds


_widths: dict[tuple[str, str, float], float] = {}


def _width(s: str, font: str, size: float, measure: Callable) -> float:
    """`stringWidth`, remembered: the same labels and numbers come back in every table."""
    key = (s, font, size)
    w = _widths.get(key)
    if w is None:
        if len(_widths) > 20000:
            _widths.clear()
        w = _widths[key] = measure(s, font, size)
    return w


def image(png: bytes, width: float, height: float):
    """A PNG at `width` x `height` points, its data embedded as is where the PDF can take it."""
    from pipeline.compat.reportlab_png import flowable

    placed = flowable(png, width, height)
    if placed is not None:
        return placed
    from reportlab.platypus import Image

    return Image(io.BytesIO(png), width=width, height=height)


# ------------------------------------------------------------------------------------------------- tiles
TILE_PAD = 5.0     # a tile's inner margin, left and right
TILE_TOP = 4.0     # and above and below its content
TILE_GAP = 2.0     # the white between tiles
TILE_SPARK = 9 * MM  # a tile's sparkline, as high as this, at the foot of its row
# (font, size, leading) of a tile's name, figure, detail line and change line
TILE_FONTS = {"name": (FONT_BOLD, 7.8, 9.8), "value": (FONT_BOLD, 13.0, 16.0), "detail": (FONT, 6.8, 8.4),
              "change": (FONT, 7.8, 9.8)}
TILE_LINES = {"name": 3, "detail": 2}   # lines at most; past them the text ends with an ellipsis


def tile_grid(tiles: Sequence[Any], per_row: int):
    """A grid of KPI tiles, `per_row` across the frame, drawn straight on the canvas (one flowable, not a
    table of paragraphs: a page of twelve tiles in a fifth of the time). Each tile (`render.front.Tile`)
    gives its name, figure, detail line, change (text, colour, bold), status (text, colour) and sparkline
    marks; names and detail lines wrap within the tile, the sparklines line up along each row's foot. The
    grid splits between rows at a page end."""
    return _tile_grid_class()(list(tiles), per_row)


def wrap_text(s: str, font: str, size: float, width: float, most: int) -> list[str]:
    """`s` in lines no wider than `width` (words kept whole where they fit, a word too long broken), `most`
    lines at most, the last ending in an ellipsis when text was left out."""
    from reportlab.lib.utils import simpleSplit
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    for line in simpleSplit(s, font, size, width) if s else []:
        while stringWidth(line, font, size) > width and len(line) > 1:
            k = len(line) - 1
            while k > 1 and stringWidth(line[:k], font, size) > width:
                k -= 1
            lines.append(line[:k])
            line = line[k:]
        lines.append(line)
    if len(lines) > most:
        last = lines[most - 1]
        while last and stringWidth(last.rstrip() + "…", font, size) > width:
            last = last[:-1]
        lines = lines[:most - 1] + [last.rstrip() + "…"]
    return lines


_tile_class: Any = None


def _tile_grid_class():
    global _tile_class
    if _tile_class is not None:
        return _tile_class
    from reportlab.pdfbase.pdfmetrics import getAscentDescent, stringWidth
    from reportlab.platypus import Flowable

    spark_styles = {"target": (MUTED, 0.7, [2, 1.5]), "actual": (ACCENT, 1.2, [])}

    class TileGrid(Flowable):
        def __init__(self, tiles: list[Any], per_row: int) -> None:
            super().__init__()
            self.tiles, self.per_row = tiles, per_row
            self._at: tuple[float, list] | None = None   # (width, the rows laid out at it)

        def _rows(self, width: float) -> list[tuple[float, list[dict[str, Any]]]]:
            """(height, each tile's lines) per row, for the grid `width` wide."""
            if self._at is not None and self._at[0] == width:
                return self._at[1]
            inner = width / self.per_row - 2 * TILE_PAD
            rows = []
            for i in range(0, len(self.tiles), self.per_row):
                laid: list[dict[str, Any]] = []
                for t in self.tiles[i:i + self.per_row]:
                    vfont, vsize, _ = TILE_FONTS["value"]
                    size = vsize
                    while size > 7 and stringWidth(t.value, vfont, size) > inner:
                        size -= 0.5
                    name = wrap_text(t.name, *TILE_FONTS["name"][:2], inner, TILE_LINES["name"])
                    detail = wrap_text(t.detail, *TILE_FONTS["detail"][:2], inner, TILE_LINES["detail"]) or [""]
                    laid.append({"name": name, "value": (wrap_text(t.value, vfont, size, inner, 1) or [""])[0],
                                 "value_size": size, "detail": detail,
                                 "height": len(name) * TILE_FONTS["name"][2] + TILE_FONTS["value"][2]
                                 + len(detail) * TILE_FONTS["detail"][2] + TILE_FONTS["change"][2]})
                text = max(x["height"] for x in laid)
                rows.append((2 * TILE_TOP + text + TILE_SPARK, laid))
            self._at = (width, rows)
            return rows

        def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
            self.width = avail_width
            self.height = sum(h for h, _ in self._rows(avail_width))
            return self.width, self.height

        def split(self, avail_width: float, avail_height: float) -> list:
            used, fit = 0.0, 0
            for h, _ in self._rows(avail_width):
                if used + h > avail_height:
                    break
                used, fit = used + h, fit + 1
            if fit == 0:
                return []
            k = fit * self.per_row
            return [TileGrid(self.tiles[:k], self.per_row), TileGrid(self.tiles[k:], self.per_row)]

        def draw(self) -> None:
            canv = self.canv
            tw = self.width / self.per_row
            top = self.height
            zebra = color(ZEBRA)
            for r, (h, laid) in enumerate(self._rows(self.width)):
                canv.setFillColor(zebra)
                for col in range(self.per_row):  # every place of the row tinted, empty ones too
                    canv.rect(col * tw, top - h + TILE_GAP / 2, tw - (TILE_GAP if col < self.per_row - 1 else 0),
                              h - (TILE_GAP / 2 if top < self.height else 0) - TILE_GAP / 2, stroke=0, fill=1)
                for col, lay in enumerate(laid):
                    self._tile(self.tiles[r * self.per_row + col], lay, col * tw + TILE_PAD, top - TILE_TOP,
                               top - h + TILE_TOP)
                top -= h

        def _tile(self, t: Any, lay: dict[str, Any], x: float, y: float, foot: float) -> None:
            canv = self.canv

            def line(size: float, leading: float, *pieces: tuple[str, str, str]) -> None:
                """One line of (text, font, colour) pieces side by side, `leading` below the last."""
                nonlocal y
                base = y - getAscentDescent(pieces[0][1], size)[0] - (leading - size * 1.2) / 2
                cx = x
                for s, font, colour in pieces:
                    canv.setFont(font, size)
                    canv.setFillColor(color(colour))
                    canv.drawString(cx, base, s)
                    cx += stringWidth(s, font, size)
                y -= leading

            nfont, nsize, nlead = TILE_FONTS["name"]
            for s in lay["name"]:
                line(nsize, nlead, (s, nfont, INK))
            vfont, _size, vlead = TILE_FONTS["value"]
            line(lay["value_size"], vlead, (lay["value"], vfont, INK))
            dfont, dsize, dlead = TILE_FONTS["detail"]
            for s in lay["detail"]:
                line(dsize, dlead, (s, dfont, MUTED))
            font, size, leading = TILE_FONTS["change"]
            change, change_colour, bold = t.change
            status, status_colour = t.status
            line(size, leading, (change, FONT_BOLD if bold else font, change_colour), (" · ", font, INK),
                 (status, FONT_BOLD, status_colour))
            canv.saveState()
            canv.translate(x, foot)
            for kind, pts in t.spark:
                if kind == "last":
                    canv.setFillColor(color(ACCENT))
                    canv.circle(pts[0], pts[1], 1.8, stroke=0, fill=1)
                    continue
                ink, width, dash = spark_styles[kind]
                canv.setStrokeColor(color(ink))
                canv.setLineWidth(width)
                canv.setDash(dash)
                path = canv.beginPath()
                path.moveTo(pts[0], pts[1])
                for i in range(2, len(pts), 2):
                    path.lineTo(pts[i], pts[i + 1])
                canv.drawPath(path, stroke=1, fill=0)
            canv.restoreState()

    _tile_class = TileGrid
    return TileGrid
