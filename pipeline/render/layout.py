"""The look of every PDF, defined once: page size, margins, fonts, colours, paragraph and table styles,
the running header, "Page x of y", the watermark, and the helpers that turn data into flowables.

Every font is DejaVu Sans (shipped with matplotlib), registered and embedded; nothing falls back to
reportlab's standard Helvetica (not the canvas default, not a table default). Text that people typed is
escaped (``R&D <urgent>`` prints as typed) and capped so that no cell can outgrow a page.
"""
from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, NamedTuple
from xml.sax.saxutils import escape

import pandas as pd

from pipeline.core.frames import is_missing, records  # noqa: F401 - the sections use them through layout
from pipeline.render.formats import fmt_change, fmt_date, fmt_number, fmt_pct  # noqa: F401

_NA, _NAT = pd.NA, pd.NaT

FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
FONT_ITALIC = "DejaVuSans-Oblique"
FONT_BOLD_ITALIC = "DejaVuSans-BoldOblique"

MM = 72 / 25.4
MARGIN = 16 * MM
HEADER_GAP = 9 * MM          # room above the frame for the running header
FOOTER_GAP = 9 * MM

# colours as hex (reportlab Color objects are made lazily, see `color`)
INK = "#1f2933"
MUTED = "#5f6b7a"
RULE = "#c9d1db"
ACCENT = "#1d4e89"
HEAD_BG = "#e8eef5"
ZEBRA = "#f6f8fa"
STATUS_COLOURS = {"green": "#2e7d32", "amber": "#b07800", "red": "#c62828"}
STATUS_TINTS = {"green": "#dcefdc", "amber": "#fbefc7", "red": "#f7d6d6", "none": "#eeeeee"}
SEVERITY_TINTS = {"high": STATUS_TINTS["red"], "medium": STATUS_TINTS["amber"], "low": "#e3ebf5"}
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}

CELL_LIMIT = 600
TRUNCATED = "… (truncated; full text in the workbook)"


# ---------------------------------------------------------------------------------------------- fonts
_registered = False


def register_fonts() -> None:
    """Register DejaVu Sans (regular, bold, oblique, bold oblique) from matplotlib's data, once per process."""
    global _registered
    if _registered:
        return
    from pathlib import Path

    import matplotlib
    from reportlab import rl_config
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name, file in ((FONT, "DejaVuSans.ttf"), (FONT_BOLD, "DejaVuSans-Bold.ttf"),
                       (FONT_ITALIC, "DejaVuSans-Oblique.ttf"), (FONT_BOLD_ITALIC, "DejaVuSans-BoldOblique.ttf")):
        pdfmetrics.registerFont(TTFont(name, str(ttf / file)))
    addMapping(FONT, 0, 0, FONT)
    addMapping(FONT, 1, 0, FONT_BOLD)
    addMapping(FONT, 0, 1, FONT_ITALIC)
    addMapping(FONT, 1, 1, FONT_BOLD_ITALIC)
    rl_config.useA85 = 0  # binary streams: smaller files, and no slow pure-Python ASCII85 pass over the charts
    from reportlab.graphics import shapes

    shapes.STATE_DEFAULTS["fontName"] = FONT  # vector drawings (the track-record chart) start in DejaVu too
    _registered = True


def color(hex_code: str):
    from reportlab.lib.colors import HexColor

    return HexColor(hex_code)


# --------------------------------------------------------------------------------------------- styles
_styles: dict[str, Any] = {}


def styles() -> dict[str, Any]:
    """The paragraph styles, by name: title, subtitle, h1, h2, body, small, cell, cellb, cellrb, head, note, big."""
    if _styles:
        return _styles
    register_fonts()
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("body", fontName=FONT, bulletFontName=FONT, fontSize=9, leading=12.2,
                          textColor=color(INK), spaceAfter=4, splitLongWords=1)

    def s(name: str, **kw: Any) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base, **kw)

    _styles.update({
        "body": base,
        "title": s("title", fontName=FONT_BOLD, fontSize=21, leading=26, textColor=color(ACCENT), spaceAfter=2),
        "subtitle": s("subtitle", fontSize=11.5, leading=15, textColor=color(MUTED), spaceAfter=8),
        "h1": s("h1", fontName=FONT_BOLD, fontSize=13.5, leading=17, textColor=color(ACCENT), spaceBefore=10,
                spaceAfter=6, keepWithNext=1),
        "h2": s("h2", fontName=FONT_BOLD, fontSize=10.5, leading=13.5, spaceBefore=7, spaceAfter=4, keepWithNext=1),
        "small": s("small", fontSize=7.5, leading=9.8, textColor=color(MUTED)),
        "cell": s("cell", fontSize=7.8, leading=9.8, spaceAfter=0),
        "cellr": s("cellr", fontSize=7.8, leading=9.8, spaceAfter=0, alignment=TA_RIGHT),
        "cellc": s("cellc", fontSize=7.8, leading=9.8, spaceAfter=0, alignment=TA_CENTER),
        "cellb": s("cellb", fontName=FONT_BOLD, fontSize=7.8, leading=9.8, spaceAfter=0),
        "cellrb": s("cellrb", fontName=FONT_BOLD, fontSize=7.8, leading=9.8, spaceAfter=0, alignment=TA_RIGHT),
        "cellsmall": s("cellsmall", fontSize=6.8, leading=8.4, spaceAfter=0, textColor=color(MUTED)),
        "head": s("head", fontName=FONT_BOLD, fontSize=7.5, leading=9.4, spaceAfter=0),
        "headr": s("headr", fontName=FONT_BOLD, fontSize=7.5, leading=9.4, spaceAfter=0, alignment=TA_RIGHT),
        "headc": s("headc", fontName=FONT_BOLD, fontSize=7.2, leading=9, spaceAfter=0, alignment=TA_CENTER),
        "headcs": s("headcs", fontName=FONT_BOLD, fontSize=6.1, leading=7.6, spaceAfter=0, alignment=TA_CENTER),
        "note": s("note", fontName=FONT_ITALIC, fontSize=8, leading=10.5, textColor=color(MUTED)),
        "big": s("big", fontName=FONT_BOLD, fontSize=30, leading=34, alignment=TA_CENTER, spaceAfter=0),
        "bigsub": s("bigsub", fontName=FONT_BOLD, fontSize=10, leading=13, alignment=TA_CENTER, spaceAfter=0),
        "tile": s("tile", fontName=FONT_BOLD, fontSize=17, leading=21, alignment=TA_CENTER, spaceAfter=0),
        "tilelabel": s("tilelabel", fontSize=7.5, leading=9.5, alignment=TA_CENTER, textColor=color(MUTED), spaceAfter=0),
        "label": s("label", fontSize=7.5, leading=9.5, textColor=color(MUTED), spaceAfter=0),
        "value": s("value", fontName=FONT_BOLD, fontSize=9.5, leading=12, spaceAfter=0),
    })
    return _styles


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


def heading(title: str, level: int = 1):
    return para(title, "h1" if level == 1 else "h2")


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


# ------------------------------------------------------------------------------------------ the document
@dataclass
class Page:
    """What goes around the content on every page."""

    header_left: str
    header_right: str
    watermark: str = ""
    landscape: bool = False


def page_size(landscape: bool = False) -> tuple[float, float]:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.pagesizes import landscape as _landscape

    return _landscape(A4) if landscape else A4


def content_width(landscape: bool = False) -> float:
    return page_size(landscape)[0] - 2 * MARGIN


def _numbered_canvas_class(as_of: dt.date):
    from reportlab.pdfgen.canvas import Canvas

    stamp = f"D:{as_of:%Y%m%d}000000+00'00'"

    class NumberedCanvas(Canvas):
        """Defers each page so that the footer can say "Page x of y"; dated `as_of`, not by the clock."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved: list[dict] = []
            self.setDateFormatter(lambda *_ymdhms: stamp)

        def showPage(self) -> None:
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                w, _h = self._pagesize
                self.setFont(FONT, 7.5)
                self.setFillColor(color(MUTED))
                self.drawRightString(w - MARGIN, FOOTER_GAP - 3 * MM, f"Page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    return NumberedCanvas


def _decorate(page: Page) -> Callable:
    def on_page(canv: Any, doc: Any) -> None:
        w, h = canv._pagesize
        canv.saveState()
        if page.watermark:
            canv.setFont(FONT_BOLD, 60 if len(page.watermark) < 16 else 40)
            canv.setFillColor(color("#000000"), alpha=0.09)
            canv.translate(w / 2, h / 2)
            canv.rotate(35)
            canv.drawCentredString(0, -20, page.watermark[:40])
            canv.rotate(-35)
            canv.translate(-w / 2, -h / 2)
            canv.setFillAlpha(1)
        canv.setFont(FONT, 7.5)
        canv.setFillColor(color(MUTED))
        y = h - HEADER_GAP + 2 * MM
        canv.drawString(MARGIN, y, _fit(canv, page.header_left, w * 0.62))
        canv.drawRightString(w - MARGIN, y, _fit(canv, page.header_right, w * 0.3))
        canv.setStrokeColor(color(RULE))
        canv.setLineWidth(0.5)
        canv.line(MARGIN, y - 2 * MM, w - MARGIN, y - 2 * MM)
        canv.line(MARGIN, FOOTER_GAP, w - MARGIN, FOOTER_GAP)
        canv.restoreState()

    return on_page


def _fit(canv: Any, s: str, width: float) -> str:
    """Shorten `s` with an ellipsis until it fits `width` points in the header font."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    s = s.replace("\n", " ")
    if stringWidth(s, FONT, 7.5) <= width:
        return s
    while s and stringWidth(s + "…", FONT, 7.5) > width:
        s = s[:-1]
    return s + "…"


def build(story: list, page: Page, *, title: str, author: str, as_of: dt.date, subject: str = "",
          keywords: str = "") -> bytes:
    """Lay out `story` on house pages and return the PDF bytes.

    Deterministic: the PDF's creation date is `as_of` and its document id is derived from its content
    (reportlab's invariant mode), so the same story on the same date gives the same bytes on any day."""
    register_fonts()
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate

    size = page_size(page.landscape)
    buf = io.BytesIO()
    doc = BaseDocTemplate(buf, pagesize=size, leftMargin=MARGIN, rightMargin=MARGIN,
                          topMargin=MARGIN, bottomMargin=MARGIN, title=title, author=author,
                          subject=subject, keywords=keywords, creator="partner-review", initialFontName=FONT,
                          initialFontSize=9, initialLeading=12, invariant=True)
    frame = Frame(MARGIN, FOOTER_GAP + 3 * MM, size[0] - 2 * MARGIN,
                  size[1] - HEADER_GAP - FOOTER_GAP - 6 * MM, id="body", leftPadding=0, rightPadding=0,
                  topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=_decorate(page))])
    doc.build(story, canvasmaker=_numbered_canvas_class(as_of))
    return buf.getvalue()
