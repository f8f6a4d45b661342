"""Trend charts: one PNG per KPI, eight quarters of actual against target.

Drawn with matplotlib's object API (never pyplot). One figure per process is kept and its artists'
data updated for each chart, which is several times faster than building a figure per chart: what every
chart shares is drawn once and blitted, and the y axis (gridlines, tick marks, labels) is a small pool
of artists moved into place rather than matplotlib's Tick objects, which cost more than the lines
themselves (the pixels are the same). The backgrounds of the last few x axes are kept, so charts
alternating between them (with and without the partner's line) are not redrawn from scratch.

Text would be the other big cost, the same titles and tick labels ("0", "5k") laid out and rasterised
for every chart: the figure's renderer (`pipeline.compat.mpl_text`) keeps each string's glyphs rasterised, per process,
and stamps them at the text's position rounded to a whole pixel (at most half a pixel from where
matplotlib puts it). That uses private matplotlib 3.11 API; on another version, or with FAST_TEXT off,
text is drawn the plain way. The PNG's palette is fixed (`_palette`): the chart's colours and their
antialiasing ramps, closer to the drawn pixels than an adaptive one and about ten times cheaper.

Printed in black and white the lines still read: the actual is solid with round markers, the target dashed
with square markers, the partner's own figure dotted with triangles. A missing quarter is a gap in the
line, never a zero. The current quarter is shaded and its label bold.
"""
from __future__ import annotations

import functools
import io
import math
from typing import TYPE_CHECKING, Any, Literal, cast

from pipeline.compat import mpl_text as chart_text

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import PartnerView

WIDTH_IN = 2.4    # three across the page at print size: six KPIs are two rows, on one page
HEIGHT_IN = 1.8
TITLE_CHARS = 36  # what the title's line holds at this width
DPI = 130
FONT_FAMILY = "DejaVu Sans"

ACTUAL_COLOUR = "#1d4e89"
TARGET_COLOUR = "#6b6b6b"
PARTNER_COLOUR = "#b5651d"
CURRENT_SHADE = "#e9eef5"
TITLE_COLOUR = "#1f2933"
GRID_COLOUR = "#dddddd"
SPINE_COLOUR = "#888888"  # all other text and marks are greys: on the palette's white-to-black ramp

_figure: dict[str, Any] = {}
MAX_YTICKS = 8
TICK_LEN_PT = 2.5
TICK_PAD_PT = 2.0
BACKGROUNDS_KEPT = 4


def _chart() -> dict[str, Any]:
    """The process's figure and its artists, made on first use."""
    if _figure:
        return _figure
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    chart_text.canvas(fig)
    # fixed margins instead of tight_layout: room for the title and legend above, labels below
    ax = fig.add_axes((0.17, 0.25, 0.79, 0.5))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(SPINE_COLOUR)
        ax.spines[side].set_linewidth(0.6)
    ax.tick_params(labelsize=6.3, length=TICK_LEN_PT, width=0.5, colors="#333333", pad=TICK_PAD_PT)
    ax.tick_params(axis="y", left=False, labelleft=False)  # the y axis is drawn by _draw_y_axis
    ax.set_axisbelow(True)
    shade = ax.axvspan(-0.5, 0.5, color=CURRENT_SHADE, zorder=0, linewidth=0)
    target, = ax.plot([], [], linestyle=(0, (4, 2.2)), linewidth=1.3, color=TARGET_COLOUR, marker="s",
                      markersize=3.4, markerfacecolor="white", markeredgewidth=0.9, label="Target", zorder=3)
    partner, = ax.plot([], [], linestyle=(0, (1, 1.6)), linewidth=1.3, color=PARTNER_COLOUR, marker="^",
                       markersize=4, markerfacecolor=PARTNER_COLOUR, markeredgewidth=0, label="Your figure",
                       zorder=4)
    actual, = ax.plot([], [], linestyle="-", linewidth=1.8, color=ACTUAL_COLOUR, marker="o", markersize=3.8,
                      markeredgewidth=0, label="Actual", zorder=5)
    # parse_math off: a KPI named "Spend $ per $" is text, never mathtext (which could also fail to parse)
    title = fig.text(0.03, 0.925, "", fontsize=8, fontweight="bold", family=FONT_FAMILY, color=TITLE_COLOUR,
                     va="center", ha="left", parse_math=False)
    note = fig.text(0.03, 0.012, "", fontsize=5.6, family=FONT_FAMILY, color="#666666", va="bottom", ha="left",
                    parse_math=False)
    # "lower is better", where the KPI's direction says so: on the legend's line, at the right
    direction = fig.text(0.97, 0.82, "", fontsize=5.8, family=FONT_FAMILY, color=TITLE_COLOUR, va="center",
                         ha="right", fontweight="bold", parse_math=False)
    y_axis = _y_axis_artists(fig, ax)
    _figure.update(fig=fig, ax=ax, shade=shade, actual=actual, target=target, partner=partner, title=title,
                   note=note, direction=direction, legend=None, locator=MaxNLocator(nbins=4, min_n_ticks=3),
                   **y_axis, backgrounds={},
                   dynamic=(target, partner, actual, title, note, direction))
    return _figure


def _y_axis_artists(fig: Any, ax: Any) -> dict[str, Any]:
    """Gridlines, tick marks and a pool of tick labels in axes-x / data-y coordinates, as matplotlib's
    own y axis would draw them (same colours, widths, font size and padding)."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.markers import TICKLEFT
    from matplotlib.transforms import ScaledTranslation

    blend = ax.get_yaxis_transform()
    grid = LineCollection([], colors=GRID_COLOUR, linewidths=0.5, transform=blend, zorder=0.5)
    ax.add_collection(grid, autolim=False)
    ticks = Line2D([], [], linestyle="", marker=cast("Literal[0]", TICKLEFT), markersize=TICK_LEN_PT, markeredgewidth=0.5,
                   color="#333333", transform=blend, clip_on=False, zorder=2.01)
    ax.add_line(ticks)
    shift = ScaledTranslation(-(TICK_LEN_PT + TICK_PAD_PT) / 72, 0, fig.dpi_scale_trans)
    labels = [ax.text(0, 0, "", transform=blend + shift, ha="right", va="center_baseline", fontsize=6.3,
                      color="#333333", clip_on=False, family=FONT_FAMILY) for _ in range(MAX_YTICKS)]
    return {"grid": grid, "ticks": ticks, "ylabels": labels}


def _draw_y_axis(c: dict[str, Any], renderer: Any, formatter: Any) -> None:
    """Place and draw the y gridlines, tick marks and labels for the axes' current y limits."""
    lo, hi = c["ax"].get_ylim()
    eps = (hi - lo) * 1e-10
    values = [v for v in c["locator"].tick_values(lo, hi) if lo - eps <= v <= hi + eps][:MAX_YTICKS]
    c["grid"].set_segments([[(0, v), (1, v)] for v in values])
    c["ticks"].set_data([0] * len(values), values)
    c["grid"].draw(renderer)
    c["ticks"].draw(renderer)
    for i, label in enumerate(c["ylabels"]):
        if i < len(values):
            label.set_position((0, values[i]))
            label.set_text(formatter(values[i], i))
            label.set_visible(True)
            label.draw(renderer)
        else:
            label.set_visible(False)


def _nan(values: list[float] | None, n: int) -> list[float]:
    out = [_float(v) for v in list(values)[:n]] if values is not None else []
    return out + [math.nan] * (n - len(out))


def _tick_formatter(unit: str):
    def fmt(v: float, _pos: object) -> str:
        if unit == "percent":
            return f"{v * 100:.0f}%"
        if unit in ("ratio", "score"):
            return f"{v:g}"
        if unit == "days":
            return f"{v:g} d"
        for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= scale:
                return f"{v / scale:g}{suffix}"
        return f"{v:g}"

    return fmt


def _short_label(quarter: str) -> str:
    """``2026-Q2`` -> ``Q2\\n2026`` so eight labels fit under a half-width chart."""
    year, _, q = quarter.partition("-")
    return f"{q}\n{year}" if q else quarter


def trend_chart(quarters: list[str], actual: list[float], target: list[float], *, title: str, unit: str,
                current: str, partner_values: list[float] | None = None, partial: list[str] | None = None,
                lower: bool = False) -> bytes:
    """One KPI's trend as PNG bytes: actual (solid) against target (dashed), optionally the partner's figure.

    `partial` names the quarters left out because only some of their months were reported (NaN in `actual`);
    the caption says so instead of "no actual reported". With `lower` (the KPI's direction), the title says
    "lower is better"."""
    c = _chart()
    fig, ax = c["fig"], c["ax"]
    n = len(quarters)
    xs = list(range(n))
    a, t = _nan(actual, n), _nan(target, n)
    p = _nan(partner_values, n)
    show_partner = any(not math.isnan(v) for v in p)

    # what every chart of a run shares (x axis, current-quarter band, legend) is drawn once and blitted
    key = (tuple(quarters), current, show_partner)
    if c.get("key") != key:
        _set_background(c, key)
        c["key"] = key
    fig.canvas.restore_region(c["backgrounds"][key])

    c["actual"].set_data(xs, a)
    c["target"].set_data(xs, t)
    c["partner"].set_data(xs, p)
    values = [v for v in a + t + (p if show_partner else []) if not math.isnan(v)]
    ax.set_ylim(*_y_limits(values))
    c["title"].set_text(title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1] + "…")
    c["direction"].set_text("lower is better" if lower else "")
    part = set(partial or ())
    missing = [quarters[i] for i in range(n) if math.isnan(a[i]) and quarters[i] not in part]
    shown_partial = [q for q in quarters if q in part]
    notes = ([f"No figure: {_quarters(missing)}"] if missing else []) + \
        ([f"Partial, not plotted: {_quarters(shown_partial)}"] if shown_partial else [])
    c["note"].set_text("; ".join(notes))

    renderer = fig.canvas.get_renderer()
    _draw_y_axis(c, renderer, _tick_formatter(unit))
    for artist in c["dynamic"]:
        if artist is not c["partner"] or show_partner:
            artist.draw(renderer)
    return _png(fig)


def _set_background(c: dict[str, Any], key: tuple[tuple[str, ...], str, bool]) -> None:
    """Set up the x axis, band and legend for `key`; draw and keep its background unless already kept."""
    fig, ax = c["fig"], c["ax"]
    quarters, current, show_partner = list(key[0]), key[1], key[2]
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
                             bbox_to_anchor=(0.02, 0.82), ncol=3, fontsize=5.8, frameon=False,
                             handlelength=2.0, columnspacing=0.8, borderaxespad=0, handletextpad=0.5)
    kept = c["backgrounds"]
    if key in kept:
        return
    hidden = list(c["dynamic"]) + [c["grid"], c["ticks"]] + c["ylabels"]
    for artist in hidden:
        artist.set_visible(False)
    ax.set_ylim(0.0, 1.0)  # the background the same whichever chart came before it in this process
    fig.canvas.draw()
    kept[key] = fig.canvas.copy_from_bbox(fig.bbox)
    for artist in hidden:
        artist.set_visible(True)
    while len(kept) > BACKGROUNDS_KEPT:
        del kept[next(iter(kept))]  # the oldest


def _quarters(labels: list[str]) -> str:
    """Quarters named in a chart's note, short enough for its width: two by name, more as a count and a span."""
    return ", ".join(labels) if len(labels) <= 2 else f"{len(labels)} quarters, {labels[0]} to {labels[-1]}"


def _y_limits(values: list[float]) -> tuple[float, float]:
    """An axis that does not exaggerate: it always takes in zero (NPS 50 to 55 is a small rise, drawn small),
    with room above the highest value (and below the lowest, when values go below zero)."""
    if not values:
        return 0.0, 1.0
    lo, hi = min(min(values), 0.0), max(max(values), 0.0)
    span = (hi - lo) or 1.0
    return (lo - span * 0.08 if lo < 0 else 0.0), (hi + span * 0.14 if hi > 0 else 0.0)


def _png(fig: Any) -> bytes:
    """The canvas as a compact palette PNG: each pixel the nearest colour of `_palette` (no dithering)."""
    from PIL import Image

    size = fig.canvas.get_width_height(physical=True)
    rgb = Image.frombuffer("RGBA", size, fig.canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    img = rgb.quantize(palette=_palette(), dither=Image.Dither.NONE)
    buf = io.BytesIO()
    img.save(buf, format="png", compress_level=3, dpi=(DPI, DPI))  # 6: a sixth smaller, twice the time
    return buf.getvalue()


@functools.cache
def _palette() -> Any:
    """A palette image of the chart's colours: white, the shade, the grid and spine greys, a grey ramp (all
    text, ticks and the target over white), and ramps from white and from the shade to each line colour,
    which is what antialiasing blends them into: under 50 colours."""
    from PIL import Image

    def rgb(colour: str) -> tuple[int, ...]:
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))

    def ramp(start: str, end: str, steps: int) -> list[tuple[int, ...]]:
        a, b = rgb(start), rgb(end)
        return [tuple(round(x + (y - x) * i / steps) for x, y in zip(a, b)) for i in range(1, steps + 1)]

    white = "#ffffff"
    colours = [rgb(c) for c in (white, CURRENT_SHADE, GRID_COLOUR, SPINE_COLOUR)]
    colours += ramp(white, "#000000", 12) + ramp(CURRENT_SHADE, "#000000", 6)
    colours += ramp(CURRENT_SHADE, TARGET_COLOUR, 3) + ramp(white, TITLE_COLOUR, 4)
    for line in (ACTUAL_COLOUR, PARTNER_COLOUR):
        colours += ramp(white, line, 6) + ramp(CURRENT_SHADE, line, 4)
    palette = Image.new("P", (1, 1))
    palette.putpalette([v for c in dict.fromkeys(colours) for v in c])
    return palette


def _move_span(span: Any, x0: float, x1: float) -> None:
    """Move the current-quarter band (a Rectangle in matplotlib >= 3.9, a Polygon before)."""
    if hasattr(span, "set_bounds") and hasattr(span, "get_y"):
        span.set_x(x0)
        span.set_width(x1 - x0)
    else:  # pragma: no cover - older matplotlib
        xy = span.get_xy()
        xy[:, 0] = [x0, x0, x1, x1, x0][: len(xy)]
        span.set_xy(xy)


def chart_series(view: PartnerView) -> dict[str, dict[str, Any]]:
    """kpi_id -> what its trend chart plots over the view's window: title, unit, actual, target and the
    partner's own figure (where it is not already the actual). Missing and partial quarters are NaN."""
    labels = [q.label for q in view.quarters]
    kq = view.kpi_quarterly
    # (kpi, quarter) -> row, the last row winning as drop_duplicates(keep="last") would: one pass, not a
    # filter per KPI
    cols = [c for c in ("kpi_id", "quarter", "actual", "target", "partner", "actual_source", "partial") if c in kq]
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in zip(*(kq[c].tolist() for c in cols)):
        row = dict(zip(cols, rec))
        rows[(row["kpi_id"], row["quarter"])] = row
    has_partner = "partner" in kq and "actual_source" in kq
    out: dict[str, dict[str, Any]] = {}
    for kpi in view.kpis.to_dict("records"):
        kid = kpi["kpi_id"]
        window = [rows.get((kid, q), {}) for q in labels]
        # a partial quarter (some months of a summed KPI) is a gap, like a missing one: never a fall to plot
        partial = [q for q, r in zip(labels, window) if r.get("partial") is True]
        actual = [math.nan if r.get("partial") is True else _float(r.get("actual")) for r in window]
        target = [_float(r.get("target")) for r in window]
        partner = None
        if has_partner:
            own = [_float(r.get("partner")) if _source(r) != "partner" else math.nan for r in window]
            partner = own if any(not math.isnan(v) for v in own) else None
        out[kid] = {"title": str(kpi.get("kpi_name") or kid), "unit": str(kpi.get("unit") or "count"),
                    "actual": actual, "target": target, "partner": partner, "partial": partial,
                    "lower": kpi.get("direction") == "lower"}
    return out


def partner_charts(view: PartnerView) -> dict[str, bytes]:
    """kpi_id -> PNG for every KPI of the view, over the view's trend window."""
    labels = [q.label for q in view.quarters]
    return {kid: trend_chart(labels, s["actual"], s["target"], title=s["title"], unit=s["unit"],
                             current=view.quarter.label, partner_values=s["partner"], partial=s["partial"],
                             lower=s["lower"])
            for kid, s in chart_series(view).items()}


def _float(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def _source(row: dict[str, Any]) -> str:
    src = row.get("actual_source")
    return src if isinstance(src, str) else ""
