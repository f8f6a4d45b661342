"""Text for the trend charts, rasterised once per process and stamped wherever it is drawn again.

The same KPI titles and tick labels ("0", "5k", "10k") come back in every chart; laying them out and
rasterising their glyphs was half of a chart's cost. `canvas` gives a figure an Agg canvas whose renderer
keeps each plain, unrotated string's glyphs as one alpha bitmap (per process, at most TEXT_BITMAPS_KEPT
strings) and stamps it at the text's origin rounded to a whole pixel, at most half a pixel from where
matplotlib would put it; each glyph is rendered as matplotlib's own glyph drawing renders it there. It
also answers the font height figures matplotlib's text layout asks for from a per-font table.

This mirrors private matplotlib 3.11 API, so it is used only on matplotlib 3.11 with every private
function it needs present; otherwise, or with FAST_TEXT off, the figure gets matplotlib's plain canvas
and the same charts are drawn the plain way (tests/test_charts.py compares the two).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

FAST_TEXT = True  # False: matplotlib's own text drawing (read when the figure is made)
TEXT_BITMAPS_KEPT = 4096
_text_bitmaps: dict[tuple[Any, ...], Any] = {}  # (string, font, ...) -> (alpha, column, row) or None
_font_metrics: dict[tuple[Any, ...], tuple[Any, Any, Any]] = {}


def active() -> bool:
    """FAST_TEXT on a matplotlib whose text internals this mirrors (`pipeline.compat`), all of them there."""
    return FAST_TEXT and _private_api()


@lru_cache(maxsize=1)
def _private_api() -> bool:
    from matplotlib import ft2font
    from matplotlib.backends import backend_agg as agg

    from pipeline.compat.versions import supported

    return (supported("matplotlib") and hasattr(agg, "get_hinting_flag")
            and hasattr(agg, "_fontManager") and hasattr(agg.RendererAgg, "_prepare_font")
            and hasattr(agg._RendererAgg, "draw_text_image") and hasattr(ft2font, "RenderMode")
            and all(hasattr(ft2font.FT2Font, n) for n in ("_layout", "_set_transform", "_render_glyph")))


def canvas(fig: Any) -> Any:
    """Attach an Agg canvas to `fig` whose renderer draws plain, unrotated strings from `_text_bitmaps`;
    matplotlib's own canvas when FAST_TEXT is off or on a matplotlib other than the one whose private
    text API this mirrors (3.11)."""
    import matplotlib as mpl
    import numpy as np
    from matplotlib import ft2font
    from matplotlib.backends import backend_agg as agg

    if not active():
        return agg.FigureCanvasAgg(fig)
    unit = np.array([[0x10000, 0], [0, 0x10000]])  # FreeType's 16.16 identity: no rotation, no slant

    class TextCacheRenderer(agg.RendererAgg):
        def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
            if ismath or angle:
                return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
            features = mtext.get_fontfeatures() if mtext is not None else None
            language = mtext.get_language() if mtext is not None else None
            key = (s, _font_key(prop), gc.get_antialiased(), self.dpi, agg.get_hinting_flag(),
                   mpl.rcParams["text.hinting_factor"], repr(features), repr(language))
            if key not in _text_bitmaps:
                if len(_text_bitmaps) >= TEXT_BITMAPS_KEPT:
                    _text_bitmaps.clear()
                _text_bitmaps[key] = self._rasterise(s, prop, key[2], key[4], features, language)
            if _text_bitmaps[key] is not None:
                alpha, left, bottom = _text_bitmaps[key]
                # the origin snapped to whole pixels; draw_text_image takes the bitmap's bottom row (y down)
                row = int(self.height) - math.floor(self.height - y + 0.5) + bottom
                self._renderer.draw_text_image(alpha, math.floor(x + 0.5) + left, row, 0, gc)

        def _rasterise(self, s, prop, antialiased, flags, features, language):
            """The string's glyphs as one alpha bitmap, its left column and bottom row relative to the
            origin (y down), each glyph rendered as matplotlib's `_draw_text_glyphs_and_boxes` would at a
            whole-pixel origin."""
            font = self._prepare_font(prop)
            items = font._layout(s, flags=flags, features=features, language=language)
            size = prop.get_size_in_points()
            mode = ft2font.RenderMode.NORMAL if antialiased else ft2font.RenderMode.MONO
            glyphs = []
            for item in items:
                item.ft_object.set_size(size, self.dpi)
                item.ft_object._set_transform(unit, [round(0x40 * item.x), round(0x40 * item.y)])
                bitmap = item.ft_object._render_glyph(item.glyph_index, flags, mode)
                buf = np.array(bitmap.buffer, dtype=np.uint8)
                if buf.size:
                    glyphs.append((bitmap.left, -bitmap.top, buf if antialiased else buf * 0xff))
            if not glyphs:
                return None
            left, top = min(g[0] for g in glyphs), min(g[1] for g in glyphs)
            right = max(g[0] + g[2].shape[1] for g in glyphs)
            bottom = max(g[1] + g[2].shape[0] for g in glyphs)
            alpha = np.zeros((bottom - top, right - left), dtype=np.uint8)
            for col, row, buf in glyphs:
                region = alpha[row - top:row - top + buf.shape[0], col - left:col - left + buf.shape[1]]
                under = region.astype(np.uint16)  # overlapping edges: as one glyph blended over the other
                region[...] = under + buf - (under * buf + 127) // 255
            return alpha, left, bottom

        def _get_font_height_metrics(self, prop):
            """The hook Text._get_layout asks before reading the font's tables, for every text drawn:
            the figures it would read (same code), kept per font. (None, None, None): it reads them."""
            key = (_font_key(prop), self.dpi)
            if key not in _font_metrics:
                font = agg.get_font(agg._fontManager._find_fonts_by_props(prop))
                _font_metrics[key] = None, None, None
                for name, ascent, descent, gap in (("OS/2", "sTypoAscender", "sTypoDescender", "sTypoLineGap"),
                                                   ("hhea", "ascent", "descent", "lineGap")):
                    if (table := font.get_sfnt_table(name)) is not None:
                        scale = 1 / font.get_sfnt_table("head")["unitsPerEm"] * prop.get_size_in_points() * self.dpi / 72
                        _font_metrics[key] = table[ascent] * scale, -table[descent] * scale, table[gap] * scale
                        break
            return _font_metrics[key]

    class Canvas(agg.FigureCanvasAgg):
        def get_renderer(self):
            renderer = super().get_renderer()
            if not isinstance(renderer, TextCacheRenderer):
                self.renderer = renderer = TextCacheRenderer(renderer.width, renderer.height, renderer.dpi)
            return renderer

    return Canvas(fig)


def _font_key(prop: Any) -> tuple[Any, ...]:
    return (tuple(prop.get_family()), prop.get_style(), prop.get_variant(), prop.get_weight(),
            prop.get_stretch(), prop.get_size_in_points(), prop.get_file(), prop.get_math_fontfamily())
