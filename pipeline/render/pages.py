"""The document around the content: A4 pages (portrait or landscape) with the running header, the
watermark and "Page x of y", and `build`, which lays a story out on them and gives the PDF's bytes
(deterministic: dated by the review, not by the clock). The sections reach it through
`pipeline.render.layout`.
"""
from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.render.style import FONT, FONT_BOLD, FOOTER_GAP, HEADER_GAP, MARGIN, MM, MUTED, RULE, color, register_fonts


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


OUTLINE = "outline_level"  # a flowable with this attribute set (0, 1) is a bookmark of the PDF's outline


def bookmark(flowable: Any, level: int = 0) -> Any:
    """Mark `flowable` (a heading) as an entry of the PDF's outline, at `level`; its text is the entry's title."""
    setattr(flowable, OUTLINE, level)
    return flowable


def _outlined_doc_class():
    from reportlab.platypus import BaseDocTemplate

    class OutlinedDoc(BaseDocTemplate):
        """Adds a bookmark for every heading marked by `bookmark`, where it lands."""

        def afterFlowable(self, flowable: Any) -> None:
            level = getattr(flowable, OUTLINE, None)
            if level is None:
                return
            self._marks = getattr(self, "_marks", 0) + 1
            key = f"s{self._marks}"
            title = flowable.getPlainText() if hasattr(flowable, "getPlainText") else str(flowable)
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(title, key, level=level, closed=False)

    return OutlinedDoc


def build(story: list, page: Page, *, title: str, author: str, as_of: dt.date, subject: str = "",
          keywords: str = "", lang: str = "en") -> bytes:
    """Lay out `story` on house pages and return the PDF bytes, its headings marked by `bookmark` in the
    PDF's outline and its language `lang`.

    Deterministic: the PDF's creation date is `as_of` and its document id is derived from its content
    (reportlab's invariant mode), so the same story on the same date gives the same bytes on any day."""
    register_fonts()
    from reportlab.platypus import Frame, PageTemplate

    size = page_size(page.landscape)
    buf = io.BytesIO()
    doc = _outlined_doc_class()(buf, pagesize=size, leftMargin=MARGIN, rightMargin=MARGIN,
                                topMargin=MARGIN, bottomMargin=MARGIN, title=title, author=author,
                                subject=subject, keywords=keywords, creator="partner-review", initialFontName=FONT,
                                initialFontSize=9, initialLeading=12, invariant=True, lang=lang)
    frame = Frame(MARGIN, FOOTER_GAP + 3 * MM, size[0] - 2 * MARGIN,
                  size[1] - HEADER_GAP - FOOTER_GAP - 6 * MM, id="body", leftPadding=0, rightPadding=0,
                  topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=_decorate(page))])
    doc.build(story, canvasmaker=_numbered_canvas_class(as_of))
    return buf.getvalue()
