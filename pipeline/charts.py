"""Trend charts: one PNG per KPI, eight quarters of actual against target.

Drawn with matplotlib's object API (never pyplot). One figure per process is kept and its artists'
data updated for each chart, which is several times faster than building a figure per chart. Printed
in black and white the lines still read: the actual is solid with round markers, the target dashed with
square markers, the partner's own figure dotted with triangles. A missing quarter is a gap in the
line, never a zero. The current quarter is shaded and its label bold.
"""
from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.frames import PartnerView

WIDTH_IN = 3.45
HEIGHT_IN = 2.15
DPI = 130
FONT_FAMILY = "DejaVu Sans"

ACTUAL_COLOUR = "#1d4e89"
TARGET_COLOUR = "#6b6b6b"
PARTNER_COLOUR = "#b5651d"
CURRENT_SHADE = "#e9eef5"

_figure: dict[str, Any] = {}


def _chart() -> dict[str, Any]:
    """The process's figure and its artists, made on first use."""
    if _figure:
        return _figure
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    # fixed margins instead of tight_layout: room for the title and legend above, labels below
    ax = fig.add_axes((0.15, 0.235, 0.82, 0.52))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#888888")
        ax.spines[side].set_linewidth(0.6)
    ax.tick_params(labelsize=6.3, length=2.5, width=0.5, colors="#333333", pad=2)
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    shade = ax.axvspan(-0.5, 0.5, color=CURRENT_SHADE, zorder=0, linewidth=0)
    target, = ax.plot([], [], linestyle=(0, (4, 2.2)), linewidth=1.3, color=TARGET_COLOUR, marker="s",
                      markersize=3.4, markerfacecolor="white", markeredgewidth=0.9, label="Target", zorder=3)
    partner, = ax.plot([], [], linestyle=(0, (1, 1.6)), linewidth=1.3, color=PARTNER_COLOUR, marker="^",
                       markersize=4, markerfacecolor=PARTNER_COLOUR, markeredgewidth=0, label="Partner-reported",
                       zorder=4)
    actual, = ax.plot([], [], linestyle="-", linewidth=1.8, color=ACTUAL_COLOUR, marker="o", markersize=3.8,
                      markeredgewidth=0, label="Actual", zorder=5)
    title = fig.text(0.03, 0.93, "", fontsize=8, fontweight="bold", family=FONT_FAMILY, color="#1f2933",
                     va="center", ha="left")
    note = fig.text(0.03, 0.012, "", fontsize=5.6, family=FONT_FAMILY, color="#666666", va="bottom", ha="left")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=3))
    _figure.update(fig=fig, ax=ax, shade=shade, actual=actual, target=target, partner=partner, title=title,
                   note=note, legend=None, dynamic=(ax.yaxis, target, partner, actual, title, note))
    return _figure


def _nan(values: list[float] | None, n: int) -> list[float]:
    if values is None:
        return [math.nan] * n
    out = []
    for v in list(values)[:n]:
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = math.nan
        out.append(f)
    return out + [math.nan] * (n - len(out))


def _tick_formatter(unit: str):
    from matplotlib.ticker import FuncFormatter

    def fmt(v: float, _pos: object) -> str:
        if unit == "percent":
            return f"{v * 100:.0f}%"
        if unit in ("ratio", "score"):
            return f"{v:g}"
        if unit == "days":
            return f"{v:g} d"
        a = abs(v)
        if a >= 1e9:
            return f"{v / 1e9:g}B"
        if a >= 1e6:
            return f"{v / 1e6:g}M"
        if a >= 1e3:
            return f"{v / 1e3:g}k"
        return f"{v:g}"

    return FuncFormatter(fmt)


def _short_label(quarter: str) -> str:
    """``2026-Q2`` -> ``Q2\\n2026`` so eight labels fit under a half-width chart."""
    year, _, q = quarter.partition("-")
    return f"{q}\n{year}" if q else quarter


def trend_chart(quarters: list[str], actual: list[float], target: list[float], *, title: str, unit: str,
                current: str, partner_values: list[float] | None = None) -> bytes:
    """One KPI's trend as PNG bytes: actual (solid) against target (dashed), optionally the partner's figure."""
    c = _chart()
    fig, ax = c["fig"], c["ax"]
    n = len(quarters)
    xs = list(range(n))
    a, t = _nan(actual, n), _nan(target, n)
    p = _nan(partner_values, n) if partner_values is not None else [math.nan] * n
    show_partner = any(not math.isnan(v) for v in p)

    # what every chart of a run shares (x axis, current-quarter band, legend) is drawn once and blitted
    key = (tuple(quarters), current, show_partner)
    if c.get("key") != key:
        _draw_background(c, quarters, current, show_partner)
        c["key"] = key
    else:
        fig.canvas.restore_region(c["background"])

    c["actual"].set_data(xs, a)
    c["target"].set_data(xs, t)
    c["partner"].set_data(xs, p)
    values = [v for v in a + t + (p if show_partner else []) if not math.isnan(v)]
    ax.set_ylim(*_y_limits(values))
    ax.yaxis.set_major_formatter(_tick_formatter(unit))
    c["title"].set_text(title if len(title) <= 58 else title[:57] + "…")
    missing = [quarters[i] for i in range(n) if math.isnan(a[i])]
    c["note"].set_text(("No actual reported: " + ", ".join(missing)) if missing else "")

    renderer = fig.canvas.get_renderer()
    for artist in c["dynamic"]:
        if artist is not c["partner"] or show_partner:
            artist.draw(renderer)
    return _png(fig)


def _draw_background(c: dict[str, Any], quarters: list[str], current: str, show_partner: bool) -> None:
    fig, ax = c["fig"], c["ax"]
    n = len(quarters)
    ax.set_xticks(list(range(n)))
    ax.set_xticklabels([_short_label(q) for q in quarters])
    cur = quarters.index(current) if current in quarters else None
    for i, lbl in enumerate(ax.get_xticklabels()):
        lbl.set_fontweight("bold" if i == cur else "normal")
    c["shade"].set_visible(cur is not None)
    if cur is not None:
        _move_span(c["shade"], cur - 0.5, cur + 0.5)
    ax.set_xlim(-0.5, max(n - 0.5, 0.5))
    handles = [c["actual"], c["target"]] + ([c["partner"]] if show_partner else [])
    if c["legend"] is not None:
        c["legend"].remove()
    c["legend"] = fig.legend(handles=handles, labels=[h.get_label() for h in handles], loc="center left",
                             bbox_to_anchor=(0.02, 0.82), ncol=3, fontsize=6, frameon=False,
                             handlelength=2.6, columnspacing=1.2, borderaxespad=0, handletextpad=0.5)
    for artist in c["dynamic"]:
        artist.set_visible(False)
    fig.canvas.draw()
    c["background"] = fig.canvas.copy_from_bbox(fig.bbox)
    for artist in c["dynamic"]:
        artist.set_visible(True)


def _y_limits(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if 0 <= lo <= hi * 0.5:
        lo = 0.0  # near zero anyway: start the axis at zero
    span = (hi - lo) or abs(hi) or 1.0
    return (lo - span * 0.08 if lo != 0 else 0.0), hi + span * 0.14


def _png(fig: Any) -> bytes:
    """The canvas as a compact palette PNG (64 colours are plenty for lines on white)."""
    import numpy as np
    from PIL import Image

    rgba = np.asarray(fig.canvas.buffer_rgba())
    img = Image.fromarray(rgba[..., :3]).quantize(colors=64, method=Image.Quantize.FASTOCTREE)
    palette = img.getpalette() or []
    img.putpalette([255 if min(palette[i - i % 3:i - i % 3 + 3]) >= 250 else v for i, v in enumerate(palette)])
    buf = io.BytesIO()
    img.save(buf, format="png", compress_level=6, dpi=(DPI, DPI))
    return buf.getvalue()


def _move_span(span: Any, x0: float, x1: float) -> None:
    """Move the current-quarter band (a Rectangle in matplotlib >= 3.9, a Polygon before)."""
    if hasattr(span, "set_bounds") and hasattr(span, "get_y"):
        span.set_x(x0)
        span.set_width(x1 - x0)
    else:  # pragma: no cover - older matplotlib
        xy = span.get_xy()
        xy[:, 0] = [x0, x0, x1, x1, x0][: len(xy)]
        span.set_xy(xy)


def partner_charts(view: "PartnerView") -> dict[str, bytes]:
    """kpi_id -> PNG for every KPI of the view, over the view's trend window."""
    labels = [q.label for q in view.quarters]
    current = view.quarter.label
    kq = view.kpi_quarterly
    out: dict[str, bytes] = {}
    for kpi in view.kpis.to_dict("records"):
        kid = kpi["kpi_id"]
        rows = kq[kq["kpi_id"] == kid].drop_duplicates("quarter", keep="last").set_index("quarter")
        rows = rows.reindex(labels)
        actual = [float(v) for v in rows["actual"]]
        target = [float(v) for v in rows["target"]]
        partner = None
        if "partner" in rows and "actual_source" in rows:
            # the partner's own figure as a third line only where it is not already the actual
            own = [float(v) if src != "partner" else math.nan
                   for v, src in zip(rows["partner"], rows["actual_source"].fillna(""))]
            partner = own if any(not math.isnan(v) for v in own) else None
        title = str(kpi.get("kpi_name") or kid)
        out[kid] = trend_chart(labels, actual, target, title=title, unit=str(kpi.get("unit") or "count"),
                               current=current, partner_values=partner)
    return out
