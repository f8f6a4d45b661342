"""The house style of every PDF, defined once: fonts, measures, colours and paragraph styles.

Every font is DejaVu Sans (shipped with matplotlib), registered and embedded; nothing falls back to
reportlab's standard Helvetica (not the canvas default, not a table default). The sections reach all of
this through `pipeline.render.layout`.
"""
from __future__ import annotations

from typing import Any

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

    from pipeline.compat.reportlab_fonts import install

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = [TTFont(name, str(ttf / file)) for name, file in (
        (FONT, "DejaVuSans.ttf"), (FONT_BOLD, "DejaVuSans-Bold.ttf"), (FONT_ITALIC, "DejaVuSans-Oblique.ttf"),
        (FONT_BOLD_ITALIC, "DejaVuSans-BoldOblique.ttf"))]
    for font in fonts:
        pdfmetrics.registerFont(font)
    install(fonts)   # each subset made and deflated once per process (pipeline.compat.reportlab_fonts)
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
        "verdict": s("verdict", fontName=FONT_BOLD, fontSize=11.5, leading=15, spaceBefore=2, spaceAfter=3),
        "tilevalue": s("tilevalue", fontName=FONT_BOLD, fontSize=13, leading=16, spaceAfter=0),
        "small": s("small", fontSize=7.5, leading=9.8, textColor=color(MUTED)),
        "cell": s("cell", fontSize=7.8, leading=9.8, spaceAfter=0),
        "cellr": s("cellr", fontSize=7.8, leading=9.8, spaceAfter=0, alignment=TA_RIGHT),
        "cellc": s("cellc", fontSize=7.8, leading=9.8, spaceAfter=0, alignment=TA_CENTER),
        "cellb": s("cellb", fontName=FONT_BOLD, fontSize=7.8, leading=9.8, spaceAfter=0),
        "cellrb": s("cellrb", fontName=FONT_BOLD, fontSize=7.8, leading=9.8, spaceAfter=0, alignment=TA_RIGHT),
        # a change toned by the KPI's direction: green when better, red and bold when worse, muted when flat
        "cellr_better": s("cellr_better", fontSize=7.8, leading=9.8, spaceAfter=0, alignment=TA_RIGHT,
                          textColor=color(STATUS_COLOURS["green"])),
        "cellrb_worse": s("cellrb_worse", fontName=FONT_BOLD, fontSize=7.8, leading=9.8, spaceAfter=0,
                          alignment=TA_RIGHT, textColor=color(STATUS_COLOURS["red"])),
        "cellr_flat": s("cellr_flat", fontSize=7.8, leading=9.8, spaceAfter=0, alignment=TA_RIGHT,
                        textColor=color(MUTED)),
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
