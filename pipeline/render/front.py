"""The partner review's first page, which tells the story: who and when, the health with its trend, the verdict,
a tile per KPI with its sparkline, what went well, what needs attention, and what we ask of each other next
quarter. Everything here was decided by the analysis (`PartnerView.story`, the KPI statuses and changes'
tones); this module only lays it out."""
from __future__ import annotations

from typing import Any, NamedTuple

from pipeline.analyse.summary import pause_sentence
from pipeline.render import layout as L
from pipeline.render.context import KPI_STATUS, Ctx, true
from pipeline.render.explain import health_word
from pipeline.render.layout import TILE_PAD, _capped, fmt_attainment, fmt_change, fmt_date, is_missing, para, text

TONE_COLOURS = {"better": L.STATUS_COLOURS["green"], "worse": L.STATUS_COLOURS["red"], "flat": L.MUTED, "": L.MUTED}
TILES_PER_ROW = 3
ASK_LABELS = {"partner": "From you", "us": "From us", "joint": "Together"}


TONE_CELLS = {"better": "cellr_better", "worse": "cellrb_worse"}   # any other tone: "cellr_flat"


def tone_cell(value: object, points: bool, tone: str) -> L.Cell:
    """A change as a table cell: its arrow and size, green when better and red (and bold) when worse, by the
    KPI's direction; the arrow's shape tells up from down in grayscale, the weight tells worse from better."""
    s = fmt_change(value, points)
    return L.cell(s, "cellr" if s == "—" else TONE_CELLS.get(tone, "cellr_flat"))


def first_page(c: Ctx) -> list:
    from reportlab.platypus import Spacer

    out = [para(f"QUARTERLY PARTNER REVIEW · {c.q}" + (" · PARTNERSHIP PAUSED" if c.paused else ""), "subtitle"),
           L.bookmark(para(c.partner, "title", limit=200), 0), Spacer(1, 4), _header(c), Spacer(1, 6)]
    s = c.view.story
    if s.verdict:
        out.append(para(s.verdict, "verdict"))
    if c.paused:
        out.append(para(pause_sentence(c.partner), "small"))
    elif c.view.why:
        out.append(para(c.view.why, "small"))
    out += _tiles(c)
    out.append(_two_columns(c))
    out += _asks(c)
    return out


def _prepared_by(us: str, owner: str) -> str:
    """Us and our internal owner, as far as they are known (our name is never invented)."""
    if us and owner:
        return f"{us} ({owner})"
    return us or owner or "—"


def _header(c: Ctx):
    v, w = c.view, L.content_width()
    facts = [
        ("Prepared for", f"{c.lead}, {c.partner}" if c.lead != c.partner else c.partner),
        ("Prepared by", _prepared_by(c.us, str(v.partner.get("internal_owner") or ""))),
        ("Quarter", c.q + (f" · tier {v.partner.get('tier')}" if v.partner.get("tier") else "")),
        ("Date", fmt_date(v.as_of)),
    ] + [("Status", "Partnership paused: targets not held this quarter")] * c.paused
    rows = [[L.cell(k, "label"), L.cell(val, "value")] for k, val in facts]
    facts_t = L.table(rows, [26 * L.MM, w - 84 * L.MM], header_rows=0, zebra=False,
                      extra=[("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])
    return L.table([[facts_t, _health_box(c)]], [w - 56 * L.MM, 56 * L.MM], header_rows=0, zebra=False,
                   extra=[("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")), ("ALIGN", (1, 0), (1, 0), "RIGHT"),
                          ("LEFTPADDING", (0, 0), (-1, -1), 0), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])


def _health_box(c: Ctx):
    h = c.view.health
    score: Any = h.get("score")
    status = str(h.get("status") or "")
    colour = L.STATUS_COLOURS.get(status, L.MUTED)
    if is_missing(score):  # paused or not scored: the state, never a number
        head = [para(f'<font color="{colour}">{text(health_word(status))}</font>', "tile", markup=True),
                para('<font color="#5f6b7a">no score this quarter</font>', "cellc", markup=True)]
    else:
        head = [para(f'<font color="{colour}">{int(score)}</font><font size="11" color="#5f6b7a"> / 100</font>',
                     "big", markup=True),
                para(f'<font color="{colour}">{health_word(status)}</font>', "bigsub", markup=True)]
    trend = c.view.story.health_trend  # drawn with its scores; "What changed" says the move in words, once
    lines = []
    confidence = str(h.get("confidence") or "")
    if confidence:
        lines.append(confidence)
    cells = [[para("HEALTH", "bigsub")]] + [[x] for x in head]
    if len(trend) > 1:
        cells.append([_health_spark(trend)])
    cells += [[L.cell(s, "cellc")] for s in lines]
    return L.table(cells, [52 * L.MM], header_rows=0, zebra=False,
                   extra=[("BOX", (0, 0), (-1, -1), 1.6, L.color(colour)), ("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")),
                          ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                          ("BACKGROUND", (0, 0), (-1, -1), L.color(L.STATUS_TINTS.get(status, "#eeeeee")))])


def _health_spark(trend: list[tuple[str, float]]):
    """The health score over the quarters the history holds, on its full 0-100 scale (nothing exaggerated)."""
    from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, String

    w, h = 44 * L.MM, 16 * L.MM
    bottom, top = 9.0, h - 9.0           # the 0-100 band; quarter labels below it, scores above each point
    d = Drawing(w, h)
    n = len(trend)
    xs = [12 + i * (w - 24) / max(1, n - 1) for i in range(n)]
    ys = [bottom + (top - bottom) * max(0.0, min(100.0, s)) / 100 for _q, s in trend]
    d.add(Line(6, bottom, w - 6, bottom, strokeColor=L.color(L.RULE), strokeWidth=0.4))
    d.add(PolyLine(list(sum(zip(xs, ys), ())), strokeColor=L.color(L.INK), strokeWidth=1))
    for x, y, (q, s) in zip(xs, ys, trend):
        d.add(Circle(x, y, 1.6, fillColor=L.color(L.INK), strokeColor=None))
        d.add(String(x, y + 3, f"{s:.0f}", fontSize=6, textAnchor="middle", fillColor=L.color(L.INK)))
        d.add(String(x, 1.5, q, fontSize=5.5, textAnchor="middle", fillColor=L.color(L.MUTED)))
    return d


def sparkline(values: list[float | None], targets: list[float | None], width: float, height: float,
              lower: bool) -> list[tuple[str, list[float]]]:
    """A KPI's actuals over the trend window (a gap where a quarter has none), its target dashed, the last
    point marked, as what to draw in a `width` x `height` box: ("target", xy...) and ("actual", xy...) runs and
    a ("last", [x, y]) point. The scale spans at least 40% of the largest value (from zero when that reaches
    it), so a small move stays small."""
    known = [x for x in values + targets if x is not None]
    if not known:
        return []
    lo, hi = min(known), max(known)
    floor = max(abs(hi), abs(lo)) * 0.4  # the scale spans at least 40% of the largest value: a small move stays small
    if hi - lo < floor:
        lo = hi - floor if lo >= 0 and hi - floor >= 0 else min(lo, 0.0)
    span = (hi - lo) or 1.0
    lo, hi = lo - span * 0.08, hi + span * 0.08
    n = len(values)
    step = (width - 4) / max(1, n - 1)

    def y(v: float) -> float:
        return 2 + (height - 4) * (v - lo) / (hi - lo)

    def runs(series: list[float | None]) -> list[list[float]]:
        out: list[list[float]] = [[]]
        for i, v in enumerate(series):
            if v is None:
                out.append([])
            else:
                out[-1] += [2 + i * step, y(v)]
        return [r for r in out if len(r) >= 4]

    marks: list[tuple[str, list[float]]] = [("target", r) for r in runs(targets)] + [("actual", r) for r in runs(values)]
    last = next(((i, v) for i, v in reversed(list(enumerate(values))) if v is not None), None)
    if last is not None:
        marks.append(("last", [2 + last[0] * step, y(last[1])]))
    return marks


def _series(c: Ctx) -> dict[str, tuple[list[float | None], list[float | None]]]:
    """Each KPI's (actuals, targets) over the trend window, read from the partner's rows in one pass."""
    kq = c.view.kpi_quarterly
    at = {label: i for i, label in enumerate(q.label for q in c.view.quarters)}
    out: dict[str, tuple[list[float | None], list[float | None]]] = {}
    for kid, quarter, actual, target in zip(kq["kpi_id"].astype(str), kq["quarter"].astype(str),
                                            kq["actual"].tolist(), kq["target"].tolist()):
        i = at.get(quarter)
        if i is None:
            continue
        values, targets = out.setdefault(kid, ([None] * len(at), [None] * len(at)))
        values[i] = None if is_missing(actual) else float(actual)
        targets[i] = None if is_missing(target) else float(target)
    return out


class Tile(NamedTuple):
    """One KPI's tile, as the analysis decided it and `_tiles` worded it."""

    name: str
    value: str
    detail: str                       # target and attainment ('' when the KPI has no target)
    change: tuple[str, str, bool]     # (the change as text, its colour, bold)
    status: tuple[str, str]           # (the status, its colour)
    spark: list[tuple[str, list[float]]]


def _tiles(c: Ctx) -> list:
    """One tile per KPI: its name, this quarter's figure, the target and attainment, the change on last quarter
    coloured by whether it is better, the status, and a sparkline over the trend window."""
    cur = {r["kpi_id"]: r for r in c.current}
    if not c.kpi:
        return []
    tw = L.content_width() / TILES_PER_ROW
    tiles = []
    series = _series(c)
    none: list[float | None] = [None] * len(c.view.quarters)
    for kid, k in c.kpi.items():
        r = cur.get(kid, {})
        label, tone = KPI_STATUS.get(str(r.get("status") or "missing"), (str(r.get("status")), "none"))
        colour = L.MUTED if c.paused else L.STATUS_COLOURS.get(tone, L.MUTED)
        lower = k.get("direction") == "lower"
        target = "" if is_missing(r.get("target")) else f"target {c.value(kid, r.get('target'))}"
        att = ("" if is_missing(r.get("attainment")) else f" · {fmt_attainment(r['attainment'], c.view.thresholds.edges)}") + \
            (" · lower is better" if lower else "")
        change = fmt_change(r.get("qoq_shown"), true(r.get("change_in_points")))
        change_tone = str(r.get("qoq_tone") or "")
        values, targets = series.get(str(kid), (none, none))
        tiles.append(Tile(
            name=_capped(k.get("kpi_name") or kid, 80), value=_capped(c.value(kid, r.get("actual")), 60),
            detail=target + att if target else "",
            change=(change, L.INK if change == "—" else TONE_COLOURS.get(change_tone, L.MUTED),
                    change != "—" and change_tone == "worse"),
            status=("for reference" if c.paused else label, colour),
            spark=sparkline(values, targets, tw - 2 * TILE_PAD, L.TILE_SPARK, lower)))
    n = len(c.view.quarters)
    return [L.tile_grid(tiles, TILES_PER_ROW),
            para(f"Each tile: this quarter's figure, its target and attainment, the change on last quarter (green "
                 f"better, red worse) and the status; the line is the last {n} quarters, the target dashed.", "small")]


def _bullets(title: str, lines: list[str], empty: str) -> list:
    return [L.heading(title, 2)] + ([para("• " + text(s, 400), "cell", markup=True) for s in lines]
                                    or [para(empty, "note")])


def _two_columns(c: Ctx):
    s, w = c.view.story, L.content_width()
    went_well = _bullets("What went well", s.wins, "Nothing beat the plan this quarter; the tiles above show "
                         "where each KPI stands." if not c.paused else "Nothing to report while the partnership is paused.")
    attention = _bullets("What needs attention", s.attention, "Nothing is flagged this quarter.")
    return L.table([[went_well, attention]], [w / 2, w / 2], header_rows=0, zebra=False,
                   extra=[("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")), ("LEFTPADDING", (0, 0), (0, -1), 0)])


def _asks(c: Ctx) -> list:
    asks = c.view.story.asks
    out = [L.heading(f"What we ask of each other in {c.view.next_quarter.quarter or 'the next quarter'}", 2)]
    if not asks:
        return out + [para("Nothing is due from either side next quarter; we propose to review the plan together.",
                           "cell")]
    rows = [[L.cell(ASK_LABELS.get(who, who), "cellb"), para(text(s, 500), "cell", markup=True)] for who, s in asks]
    w = L.content_width()
    return out + [L.table(rows, [24 * L.MM, w - 24 * L.MM], header_rows=0)]
