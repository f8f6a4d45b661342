"""The portfolio's first page: the programme at a glance, for the alliance director to present.

The money KPIs in total against their targets (one tile each), the partners by band and tier (a table and a
small bar chart), what changed since last quarter, and the decisions to take. Everything shown is decided
in `pipeline.analyse.programme` (`Analysis.programme`); this module only formats it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.render import layout as L
from pipeline.render.context import HEALTH_WORDS, KPI_STATUS
from pipeline.render.explain import HEALTH_STATES
from pipeline.render.layout import fmt_attainment, fmt_change, fmt_number, is_missing, para, text

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import Analysis

FRONT_TITLES = ("The programme at a glance", "Partners by band and tier", "What changed since last quarter",
                "Decisions to take")
MONEY_TILES = 4  # money KPIs shown as tiles on page 1; more go on in a second row
BAND_ORDER = ("green", "amber", "red", "paused", "not_scored")
BAND_TINT = {"green": L.STATUS_COLOURS["green"], "amber": L.STATUS_COLOURS["amber"], "red": L.STATUS_COLOURS["red"],
             "paused": "#9aa5b1", "not_scored": "#cbd2d9"}


def band_word(status: str) -> str:
    return HEALTH_WORDS.get(status) or HEALTH_STATES.get(status) or status


def front_page(a: Analysis) -> list:
    """Page 1: the title, the headline and money tiles, partners by band and tier beside what changed, the
    decisions."""
    from reportlab.platypus import Spacer

    rec = a.reconciled
    org = rec.config.organisation
    q = a.quarter.label
    p = a.programme
    n = len(a.health)
    story: list = [para(f"PORTFOLIO REVIEW · {q} · INTERNAL, NOT FOR PARTNERS", "subtitle"),
                   para(f"The programme at a glance, {q}", "title"),
                   para(f"{n} partner{'s' if n != 1 else ''} reviewed. Prepared by {org} on {a.as_of:%d %b %Y}." if org
                        else f"{n} partners reviewed. Prepared on {a.as_of:%d %b %Y}.", "body")]
    story += [_headline(a), Spacer(1, 6)]
    story += _money(a)
    w = L.content_width(landscape=True)
    half = (w - 8 * L.MM) / 2
    left = [L.heading("Partners by band and tier", 2)] + _bands(a, half)
    right = [L.heading(f"What changed since {p.headline.get('previous') or 'last quarter'}", 2)]
    right += [para("• " + text(s, 500), "cell", markup=True) for s in p.changes]
    story.append(L.table([[left, right]], [half + 8 * L.MM, half], header_rows=0, zebra=False,
                         extra=[("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")),
                                ("LEFTPADDING", (0, 0), (0, -1), 0), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(L.heading("Decisions to take", 2))
    if not len(p.decisions):
        story.append(para("None this quarter: no partner is red two quarters running, none of our commitments is "
                          "overdue, no figure is disputed and every data request came back.", "cell"))
    for i, sentence in enumerate(p.decisions["sentence"].tolist(), start=1):
        story.append(para(f"<b>{i}.</b> " + text(sentence, 700), "body", markup=True))
    return [_one_page(story)]


def _one_page(story: list):
    """Page 1 stays one page whatever the portfolio's size: shrunk to the page's frame if it would overflow."""
    from reportlab.platypus import KeepInFrame

    from pipeline.render.pages import page_size
    from pipeline.render.style import FOOTER_GAP, HEADER_GAP

    height = page_size(True)[1] - HEADER_GAP - FOOTER_GAP - 6 * L.MM - 1  # the frame of `pages.build`, less a point
    return KeepInFrame(L.content_width(landscape=True), height, story, mode="shrink")


def _tiles(tiles: list[list], columns: int):
    w = L.content_width(landscape=True)
    cols = min(len(tiles), columns)
    rows: list[list] = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    rows = [r + [[]] * (cols - len(r)) for r in rows]
    return L.table(rows, [w / cols] * cols, header_rows=0, zebra=False,
                   extra=[("BACKGROUND", (0, 0), (-1, -1), L.color(L.ZEBRA)),
                          ("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")),
                          ("LINEAFTER", (0, 0), (-2, -1), 0.5, L.color(L.RULE)), ("TOPPADDING", (0, 0), (-1, -1), 4),
                          ("BOTTOMPADDING", (0, 0), (-1, -1), 5)])


def _headline(a: Analysis):
    """The partners, the average health and its change, and what is owed, as five numbers."""
    h = a.programme.headline
    bands = " · ".join(f"{h.get(s, 0)} {band_word(s).lower()}" for s in BAND_ORDER if h.get(s, 0))
    avg, change = h.get("average_score"), float(h.get("average_change", float("nan")))
    moved = "no earlier quarter" if is_missing(change) else \
        f"{'▲' if change > 0 else '▼' if change < 0 else '='} {abs(change):.0f} on {h.get('previous', '')}"

    def tile(number: str, label: str, sub: str = "") -> list:
        return [para(number, "tile"), para(label, "tilelabel")] + ([para(sub, "tilelabel")] if sub else [])

    return _tiles([tile(str(h.get("partners", 0)), "partners reviewed", bands),
                   tile("—" if is_missing(avg) else f"{avg:.0f}", "average health score", moved),
                   tile(str(h.get("late", 0)), "of our commitments late or slipped", f"{h.get('overdue', 0)} overdue"),
                   tile(str(h.get("disputed", 0)), "figures disputed with partners"),
                   tile(str(h.get("not_returned", 0)), "data requests not returned")], 5)


def _money(a: Analysis) -> list:
    """One tile per money KPI: the total, against the total target, and its change on last quarter and a year ago."""
    m = a.programme.money
    currency = a.reconciled.config.currency
    if not len(m):
        return [para("No KPI in the currency unit has a figure or a target this quarter.", "note")]
    tiles = []
    for r in m.to_dict("records"):
        status = str(r["status"])
        colour = L.STATUS_COLOURS.get(KPI_STATUS.get(status, ("", "none"))[1], L.INK)
        att = "" if is_missing(r["attainment"]) else \
            f' · <font color="{colour}"><b>{fmt_attainment(r["attainment"], a.thresholds.edges)}</b></font>'
        changes = (f"{fmt_change(r['change_qoq'])} on {r['previous_quarter']} · "
                   f"{fmt_change(r['change_yoy'])} on {r['year_ago_quarter']}")
        tiles.append([para(text(r["kpi_name"], 80), "tilelabel", markup=True),
                      para(fmt_number(r["actual"], "currency", currency), "tile"),
                      para(f"of target {text(fmt_number(r['target'], 'currency', currency))}{att}", "tilelabel",
                           markup=True),
                      para(changes, "tilelabel"),
                      para(f"{r['reported']} of {r['targeted']} partners with a target reported", "tilelabel")])
    return [_tiles(tiles, MONEY_TILES),
            para(f"Totals over every partner in {currency or 'the reporting currency'} (figures in other currencies "
                 "converted at the FX rates given); a partner with a target and no figure counts as nothing.",
                 "small")]


def _bands(a: Analysis, width: float) -> list:
    b = a.programme.bands
    states = [s for s in BAND_ORDER if s in ("green", "amber", "red") or int(b[s].sum())]
    heads = ["Tier"] + [band_word(s) for s in states] + ["All"]
    rows = [[L.cell(h, "head" if i == 0 else "headr") for i, h in enumerate(heads)]]
    for i, r in enumerate(b.to_dict("records"), start=1):
        style = "cellb" if i == len(b) else "cell"  # the last row: all partners
        rows.append([L.cell(r["tier"], style, limit=40)] + [L.cell(str(r[s]) if r[s] else "·", "cellr") for s in states]
                    + [L.cell(str(r["total"]), "cellr")])
    first = 26 * L.MM
    cw = min((width - first) / (len(states) + 1), 18 * L.MM)
    last = len(rows) - 1
    t = L.table(rows, [first] + [cw] * (len(states) + 1),
                extra=[("LINEABOVE", (0, last), (-1, last), 0.6, L.color(L.ACCENT)),
                       ("FONT", (0, last), (-1, last), L.FONT_BOLD, 7.8)])
    return [t, _band_chart(b.iloc[:-1], states, first + cw * (len(states) + 1))]


def _band_chart(b, states: list[str], width: float):
    """One horizontal bar per tier, split by band (the counts printed on the bar), drawn as vectors."""
    from reportlab.graphics.shapes import Drawing, Rect, String
    from reportlab.pdfbase.pdfmetrics import stringWidth

    L.register_fonts()
    records = b.to_dict("records")
    bar_h, gap, label_w, legend_h = 9.0, 3.0, 26 * L.MM, 13.0
    height = legend_h + len(records) * (bar_h + gap) + 2
    d = Drawing(width, height)
    top = max([int(r["total"]) for r in records] + [1])
    scale = (width - label_w - 4) / top
    for i, r in enumerate(records):
        y = height - legend_h - (i + 1) * (bar_h + gap) + gap
        d.add(String(label_w - 3, y + 2, str(r["tier"])[:14], fontName=L.FONT, fontSize=6.8,
                     fillColor=L.color(L.INK), textAnchor="end"))
        x = label_w
        for s in states:
            n = int(r[s])
            if not n:
                continue
            d.add(Rect(x, y, n * scale, bar_h, fillColor=L.color(BAND_TINT[s]), strokeColor=L.color("#ffffff"),
                       strokeWidth=0.5))
            if n * scale >= 8:
                d.add(String(x + n * scale / 2, y + 2.2, str(n), fontName=L.FONT_BOLD, fontSize=6.2,
                             fillColor=L.color("#ffffff"), textAnchor="middle"))
            x += n * scale
    x = label_w
    for s in states:  # the legend on top
        d.add(Rect(x, height - 8, 6, 6, fillColor=L.color(BAND_TINT[s]), strokeColor=None))
        word = band_word(s)
        d.add(String(x + 8, height - 7.5, word, fontName=L.FONT, fontSize=6.2, fillColor=L.color(L.MUTED)))
        x += 16 + stringWidth(word, L.FONT, 6.2)
    return d
