"""Trend charts: real PNGs from matplotlib, checked by their pixels."""
from __future__ import annotations

import io
import math
import subprocess
import sys

import pytest
from PIL import Image

from pipeline.compat import mpl_text as chart_text

from pipeline.chart import charts
from pipeline.chart.charts import partner_charts, trend_chart
from render_fixtures import partner_view

QUARTERS = [f"{2024 + i // 4}-Q{i % 4 + 1}" for i in range(8)]


def _rgb(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png)).convert("RGB")


def _has_colour_in_column(img: Image.Image, x: int, colour: str, tol: int = 60) -> bool:
    target = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    w, h = img.size
    for dx in range(-2, 3):
        for y in range(int(h * 0.2), int(h * 0.8)):
            px = img.getpixel((x + dx, y))
            if sum(abs(a - b) for a, b in zip(px, target)) < tol:
                return True
    return False


def _column(img: Image.Image, i: int, n: int = 8) -> int:
    """The pixel column of quarter i (the axes span fixed fractions of the figure)."""
    ax = charts._chart()["ax"]
    x0, _, width, _ = ax.get_position().bounds
    return int((x0 + width * (i + 0.5) / n) * img.size[0])


def test_png_size_and_dpi():
    img = _rgb(trend_chart(QUARTERS, [1.0] * 8, [1.2] * 8, title="Deals", unit="count", current=QUARTERS[-1]))
    w, h = img.size
    assert abs(w - charts.WIDTH_IN * charts.DPI) <= 1 and abs(h - charts.HEIGHT_IN * charts.DPI) <= 1
    assert Image.open(io.BytesIO(png := trend_chart(QUARTERS, [1.0] * 8, [1.2] * 8, title="Deals", unit="count",
                                                      current=QUARTERS[-1]))).info["dpi"][0] == pytest.approx(charts.DPI, abs=0.5)
    assert len(png) < 30_000


def test_missing_quarter_is_a_gap_not_a_zero():
    actual = [10.0, 12.0, 11.0, math.nan, 13.0, 14.0, 12.0, 15.0]
    img = _rgb(trend_chart(QUARTERS, actual, [math.nan] * 8, title="Deals", unit="count", current=QUARTERS[-1]))
    assert not _has_colour_in_column(img, _column(img, 3), charts.ACTUAL_COLOUR)
    for i in (0, 2, 4, 7):
        assert _has_colour_in_column(img, _column(img, i), charts.ACTUAL_COLOUR), i


def test_target_and_partner_lines_drawn_in_their_own_style():
    png = trend_chart(QUARTERS, [math.nan] * 8, [5.0] * 8, title="Only target", unit="count", current=QUARTERS[-1],
                      partner_values=[4.0] * 8)
    img = _rgb(png)
    assert _has_colour_in_column(img, _column(img, 5), charts.TARGET_COLOUR)
    assert _has_colour_in_column(img, _column(img, 5), charts.PARTNER_COLOUR)
    assert not _has_colour_in_column(img, _column(img, 5), charts.ACTUAL_COLOUR)


def test_reused_figure_does_not_leak_between_charts():
    a = dict(quarters=QUARTERS, actual=[1, 2, 3, 4, 5, 6, 7, 8], target=[4] * 8, title="A", unit="count",
             current=QUARTERS[-1])
    first = trend_chart(**a)
    other = trend_chart(QUARTERS[1:] + ["2026-Q1"], [0.1] * 8, [0.2] * 8, title="Other", unit="percent",
                        current="2026-Q1", partner_values=[0.15] * 8)
    assert other != first
    assert trend_chart(**a) == first


def test_partner_charts_one_per_kpi():
    view = partner_view()
    out = partner_charts(view)
    assert set(out) == set(view.kpis["kpi_id"])
    assert all(len(png) < 60_000 for png in out.values())


@pytest.mark.parametrize("module", ["pipeline.chart.charts"])
def test_never_pyplot(module):
    code = (f"import sys, {module} as m; m.trend_chart(['2026-Q1'], [1.0], [2.0], title='t', unit='count', "
            "current='2026-Q1'); print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_y_axis_gridlines_and_labels_follow_each_charts_values():
    """The y axis is drawn per chart: gridlines across the plot and labels in the left margin, moved with
    the values (not left over from the previous chart)."""
    def grid_rows(img: Image.Image) -> list[int]:
        x = _column(img, 1) + 6  # between markers, inside the plot
        return [y for y in range(img.size[1]) if abs(img.getpixel((x, y))[0] - 0xDD) <= 6
                and max(img.getpixel((x, y))) - min(img.getpixel((x, y))) <= 4]

    # off the gridlines (the axis takes in zero since issue 15, so 1.0 and 2.0 would sit on two of them)
    small = _rgb(trend_chart(QUARTERS, [1.1, 2.3] * 4, [1.7] * 8, title="Small", unit="count",
                             current=QUARTERS[-1]))
    big = _rgb(trend_chart(QUARTERS, [10.0, 95.0] * 4, [50.0] * 8, title="Big", unit="count",
                           current=QUARTERS[-1]))
    assert len(grid_rows(small)) >= 3 and len(grid_rows(big)) >= 3
    assert grid_rows(small) != grid_rows(big)
    x0 = int(charts._chart()["ax"].get_position().x0 * big.size[0])
    dark = [(x, y) for x in range(2, x0 - 4) for y in range(int(big.size[1] * 0.25), int(big.size[1] * 0.75))
            if sum(big.getpixel((x, y))) < 300]
    assert dark, "no tick labels in the left margin"


def test_a_partial_quarter_is_a_gap_in_the_line():
    """Two of three months of a summed KPI must not be drawn as a fall: the chart leaves the quarter out."""
    from pipeline.chart.charts import chart_series

    view = partner_view()
    kid = view.kpis["kpi_id"].iloc[0]
    before = chart_series(view)[kid]["actual"]
    assert not math.isnan(before[-1])
    kq = view.kpi_quarterly.copy()
    kq["partial"] = (kq["kpi_id"] == kid) & (kq["quarter"] == view.quarter.label)
    view.kpi_quarterly = kq
    series = chart_series(view)[kid]
    after = series["actual"]
    assert math.isnan(after[-1]) and after[:-1] == before[:-1]
    assert series["partial"] == [view.quarter.label]


def _chart_args(**overrides):
    args = dict(quarters=QUARTERS, actual=[1200.0, 2500.0, 1800.0, math.nan, 3100.0, 2900.0, 4000.0, 5200.0],
                target=[3000.0] * 8, title="Registered deal value", unit="currency", current=QUARTERS[-1],
                partner_values=[1000.0, 2000.0] * 4)
    return {**args, **overrides}


def test_png_is_a_palette_png_the_pdf_embeds_as_is():
    """8-bit palette, not interlaced, no transparency: what pipeline.compat.reportlab_png embeds without decoding;
    the background exactly white and each line's colour exactly kept where the line is solid."""
    import struct

    from pipeline.compat import reportlab_png as pngimage

    png = trend_chart(**_chart_args())
    _w, _h, depth, colour_type, _c, _f, interlace = struct.unpack(">IIBBBBB", png[16:29])
    assert (depth, colour_type, interlace) == (8, 3, 0) and b"tRNS" not in png
    assert pngimage.parse(png) is not None
    img = _rgb(png)
    assert img.getpixel((img.size[0] - 3, 3)) == (255, 255, 255)
    colours = {rgb for _n, rgb in img.getcolors(256)}
    for colour in (charts.ACTUAL_COLOUR, charts.TARGET_COLOUR, charts.PARTNER_COLOUR, charts.CURRENT_SHADE):
        assert tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5)) in colours, colour


def test_strings_are_rasterised_once_and_stamped_after():
    renderer = charts._chart()["fig"].canvas.get_renderer()
    if not hasattr(renderer, "_rasterise"):
        pytest.skip("text cache not available on this matplotlib")
    first = trend_chart(**_chart_args(title="Rasterised once"))
    assert any(key[0] == "Rasterised once" for key in chart_text._text_bitmaps)
    kept = len(chart_text._text_bitmaps)
    assert trend_chart(**_chart_args(title="Rasterised once")) == first
    assert len(chart_text._text_bitmaps) == kept


@pytest.mark.parametrize("why", ["FAST_TEXT off", "another matplotlib"])
def test_plain_text_fallback_draws_the_same_chart(monkeypatch, request, why):
    """Without the text cache the chart is drawn by matplotlib's own renderer: the same picture, the
    lines pixel for pixel, the text within a pixel of where the cache stamps it."""
    import matplotlib
    from matplotlib.backends.backend_agg import RendererAgg

    def dark_box(img: Image.Image, rows: tuple[int, int]) -> tuple[int, int, int, int]:
        return img.crop((0, rows[0], img.size[0], rows[1])).convert("L").point(lambda v: 255 * (v < 128)).getbbox()

    fast = _rgb(trend_chart(**_chart_args()))
    monkeypatch.setattr(charts, "_figure", {})  # a new figure, its canvas chosen afresh
    if why == "FAST_TEXT off":
        monkeypatch.setattr(chart_text, "FAST_TEXT", False)
    else:  # a matplotlib our mirror of its text internals was not made for
        from pipeline.compat import versions

        def forget() -> None:
            versions.supported.cache_clear()
            chart_text._private_api.cache_clear()

        monkeypatch.setattr(versions, "SUPPORTED", {**versions.SUPPORTED, "matplotlib": ((3, 99),)})
        forget()
        request.addfinalizer(forget)
    plain = _rgb(trend_chart(**_chart_args()))
    assert type(charts._chart()["fig"].canvas.get_renderer()) is RendererAgg
    assert plain.size == fast.size
    x0, y0, w, h = charts._chart()["ax"].get_position().bounds
    W, H = plain.size
    inside = (int(x0 * W) + 2, int((1 - y0 - h) * H) + 2, int((x0 + w) * W) - 2, int((1 - y0) * H) - 2)
    assert plain.crop(inside).tobytes() == fast.crop(inside).tobytes()
    for rows in ((0, int(H * 0.15)), (int((1 - y0) * H) + 8, int(H * 0.93))):  # the title; the x labels
        assert all(abs(a - b) <= 1 for a, b in zip(dark_box(plain, rows), dark_box(fast, rows))), (rows, dark_box(plain, rows), dark_box(fast, rows))


def test_cached_text_at_a_whole_pixel_is_matplotlibs_own():
    """Stamped from the cache at a whole-pixel origin, a string has matplotlib's own pixels (overlapping
    glyph edges may differ by rounding)."""
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.transforms import IdentityTransform

    def draw(fast: bool) -> np.ndarray:
        chart_text.FAST_TEXT = fast
        try:
            fig = Figure(figsize=(3, 0.6), dpi=charts.DPI)
            chart_text.canvas(fig)
        finally:
            chart_text.FAST_TEXT = True
        fig.text(12, 30, "Partner-reported AV Wa fi 10% …", transform=IdentityTransform(), va="baseline",
                 fontsize=9, color=charts.PARTNER_COLOUR)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).astype(int)

    fast, plain = draw(True), draw(False)
    assert (plain[..., 0] < 250).sum() > 200  # text was drawn
    assert np.abs(fast - plain).max() <= 2


@pytest.mark.parametrize("title", ["Spend $ per \\lead $", "Revenue in $ and $$", "Cost $\\frac{a}{b}$"])
def test_dollar_signs_in_a_kpi_name_are_text_not_mathtext(title):
    """A KPI name is what the user typed: two dollar signs must not switch to mathtext (which can raise)."""
    q = ["2026-Q1", "2026-Q2"]
    png = trend_chart(q, [1.0, 2.0], [1.5, 1.5], title=title, unit="currency", current="2026-Q2")
    assert Image.open(io.BytesIO(png)).size[0] > 100
    text = charts._chart()["title"]
    assert text.get_text() == title and not text._parse_math
