"""The meeting brief PDF (internal): one partner's preparation for the review meeting, from an
`analyse.brief.Brief`. Every judgement is the analysis's; this only lays it out. Marked internal on every
page (running header and watermark), and it carries a brief identity in its metadata that the e-mail gate
refuses (`pipeline.render.identity.brief_keywords`).

Sections: before the meeting (the missing alternative first, the decisions), where both sides stand, their
side, our side, the options, the questions.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.render import layout as L
from pipeline.render.explain import health_word
from pipeline.render.identity import brief_keywords
from pipeline.render.layout import fmt_date, fmt_number, fmt_pct, is_missing, para

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.analyse.brief import Brief

INTERNAL = "INTERNAL: OUR PREPARATION, NEVER SENT TO THE PARTNER"
PARTY = {"us": "ours", "partner": "theirs", "joint": "joint"}
KIND_WORDS = {"goal": "Goal", "interest": "Interest", "priority": "Priority", "ask": "Ask", "offer": "Offer",
              "alternative": "Alternative", "limit": "Limit"}
WHAT_IF_ROWS = 12   # options listed at most (the most valuable)


def brief_pdf(b: Brief, currency: str = "", watermark: str = "") -> bytes:
    """The meeting brief as PDF bytes."""
    story: list = _head(b) + _before(b) + _standing(b) + _their_side(b, currency) + _our_side(b) \
        + _options(b, currency) + _questions(b)
    page = L.Page(header_left=f"Meeting brief · {b.partner_name} · {b.quarter} · INTERNAL",
                  header_right=b.organisation or "internal", watermark=watermark or "INTERNAL")
    return L.build(story, page, title=f"Meeting brief: {b.partner_name}, {b.quarter} (internal)",
                   author=b.organisation, subject="internal meeting brief", as_of=b.as_of,
                   keywords=brief_keywords(b.partner_id, b.quarter))


def _w(*mm: float) -> list[float]:
    """Column widths in mm, the one given as 0 taking what is left of the page."""
    widths = [x * L.MM for x in mm]
    widths[mm.index(0)] = L.content_width() - sum(widths)
    return widths


def _score(score: Any, status: Any) -> str:
    return health_word(status) if is_missing(score) else f"{int(float(score))} {health_word(status).lower()}"


def _head(b: Brief) -> list:
    from reportlab.platypus import Spacer

    h = b.health
    prev = h.get("previous_score")
    facts = [f"Health {_score(h.get('score'), h.get('status'))}"
             + ("" if prev is None or is_missing(prev) else f" (last quarter {int(prev)})")]
    if b.rating is not None:
        facts.append(f"their rating {b.rating:.1f} of 5")
    who = f"For {b.internal_owner}, before" if b.internal_owner else "Before"
    with_whom = f" with {b.partner_lead}" if b.partner_lead else ""
    return [para(f"MEETING BRIEF · {b.quarter} · {INTERNAL}", "subtitle"),
            para(b.partner_name, "title", limit=120),
            para(f"{who} the {b.quarter} review meeting{with_whom}. Prepared on {fmt_date(b.as_of)}"
                 + (f" by {b.organisation}" if b.organisation else "") + ". " + "; ".join(facts) + ".", "body"),
            Spacer(1, 4)]


def _bullets(items: list[str], style: str = "body") -> list:
    return [para(f"• {L.text(i)}", style, markup=True) for i in items]


def _before(b: Brief) -> list:
    out = [L.heading("Before the meeting: decide")]
    if not b.decisions:
        return out + [para("Nothing to decide beforehand: the Canvas holds our alternative and limits, and nothing of "
                           "ours is late.", "note")]
    return out + _bullets(b.decisions)


def _standing(b: Brief) -> list:
    out = [L.heading("Where both sides stand"), L.heading("What each side promised and delivered", 2)]
    heads = ["Side", "Promised", "Kept on time", "Done late", "Open", "Overdue", "Slipped", "Dropped", "On time"]
    rows: list[list] = [[L.cell(h, "head" if i == 0 else "headr") for i, h in enumerate(heads)]]
    for r in L.records(b.standing):
        rows.append([L.cell(PARTY.get(str(r["party"]), str(r["party"])).capitalize(), "cellb")]
                    + [L.cell("—" if is_missing(r[k]) else str(int(r[k])), "cellr")
                       for k in ("made", "done_on_time", "done_late", "open", "overdue", "slipped", "dropped")]
                    + [L.cell(fmt_pct(r["on_time_rate"]), "cellr")])
    out += [L.table(rows, _w(0, 18, 20, 18, 14, 16, 16, 16, 16))] if len(rows) > 1 else \
        [para("No commitments on record for this partner.", "note")]
    out.append(L.heading("Our late items: our credibility at the table", 2))
    if not len(b.our_late):
        out.append(para("None of ours or the joint commitments is late, overdue or slipped.", "note"))
    else:
        rows = [[L.cell(h, "head") for h in ("Owner", "Commitment", "Side", "Due", "Late by")]]
        for r in L.records(b.our_late):
            late = (f"{int(r['days_late'])} days ({r['why']})" if int(r["days_late"]) else
                    f"slipped {int(r['slip_days'])} days" if r["why"] == "slipped" else str(r["why"]))
            rows.append([L.cell(r["owner"], "cellb", limit=60),
                         L.cell(f"{r['commitment_id']} {r['description'] or ''}".strip(), "cell", limit=200),
                         L.cell(PARTY.get(str(r["party"]), ""), "cell"), L.cell(fmt_date(r["due_date"]), "cell"),
                         L.cell(late, "cell")])
        out.append(L.table(rows, _w(32, 0, 14, 22, 34)))
    out.append(L.heading("Figures to agree before discussing them", 2))
    if not len(b.to_agree):
        out.append(para("No open disagreement on figures: both sides can work from the same numbers.", "note"))
    else:
        rows = [[L.cell(h, "head") for h in ("KPI", "Our figure", "Their figure", "Our cells", "Their cells")]]
        for r in L.records(b.to_agree):
            unit = str(r.get("unit") or "count")
            rows.append([L.cell(r["kpi"], "cellb", limit=80), L.cell(fmt_number(r["internal"], unit), "cellr"),
                         L.cell(fmt_number(r["partner"], unit), "cellr"),
                         L.cell(r["internal_cells"], "cellsmall", limit=200),
                         L.cell(r["partner_cells"], "cellsmall", limit=200)])
        out.append(L.table(rows, _w(34, 22, 22, 0, 50)))
    return out


def _their_side(b: Brief, currency: str) -> list:
    out = [L.heading("Their side: pressures and interests"), L.heading("The KPIs they miss", 2)]
    if not len(b.pressure):
        out.append(para("Every KPI with a target is on track.", "note"))
    else:
        rows = [[L.cell(h, "head" if i == 0 else "headr") for i, h in
                 enumerate(("KPI", "Target", "Actual", "Attainment", "vs last quarter"))]]
        for r in L.records(b.pressure):
            unit = str(r["unit"] or "count")
            rows.append([L.cell(r["kpi"], "cellb", limit=80), L.cell(fmt_number(r["target"], unit, currency), "cellr"),
                         L.cell(fmt_number(r["actual"], unit, currency) if not is_missing(r["actual"])
                                else "not reported", "cellr"),
                         L.cell(fmt_pct(r["attainment"]), "cellr"), L.cell(L.fmt_change(r["change_qoq"]), "cellr")])
        out.append(L.table(rows, _w(0, 28, 28, 24, 26)))
    out.append(L.heading("How they rated the partnership", 2))
    if not len(b.pulse):
        out.append(para("They did not answer the pulse this quarter.", "note"))
    else:
        rows = [[L.cell(h, "head") for h in ("Question", "Score", "Last", "Their comment")]]
        for r in L.records(b.pulse):
            rows.append([L.cell(r["question"], "cell", limit=200),
                         L.cell("—" if is_missing(r["score"]) else f"{float(r['score']):.0f}", "cellr"),
                         L.cell("—" if is_missing(r["previous"]) else f"{float(r['previous']):.0f}", "cellr"),
                         L.cell(r["comment"], "cell", limit=400)])
        out.append(L.table(rows, _w(0, 12, 12, 70)))
    out.append(L.heading("What we know of their side (Canvas)", 2))
    out += _canvas(b.theirs, "Nothing recorded on the Canvas for their side: what do they want from this "
                             "partnership, and what are they under pressure to show?")
    return out


def _canvas(entries: pd.DataFrame, empty: str) -> list:
    if not len(entries):
        return [para(empty, "note")]
    rows = [[L.cell(h, "head") for h in ("Kind", "Entry", "Weight")]]
    for r in L.records(entries):
        rows.append([L.cell(KIND_WORDS.get(str(r["kind"]), str(r["kind"])), "cellb"),
                     L.cell(r["text"], "cell", limit=400),
                     L.cell("—" if is_missing(r["weight"]) else f"{float(r['weight']):.0f} of 3", "cellr")])
    return [L.table(rows, _w(24, 0, 16))]


def _our_side(b: Brief) -> list:
    return [L.heading("Our side: goals, alternative and limits")] + _canvas(
        b.ours, "Nothing recorded on the Canvas for our side.")


def _options(b: Brief, currency: str) -> list:
    out = [L.heading("Options"), L.heading("What would move the health score", 2)]
    wi = b.what_if
    if not len(wi):
        why = ("The partnership is paused, so it is not scored." if b.health.get("state") == "paused"
               else "Nothing is open and every KPI is on track: no single change moves the score.")
        out.append(para(why, "note"))
    else:
        now = _score(wi["score"].iloc[0], wi["status"].iloc[0])
        out.append(para(f"This quarter's score recomputed with one change at a time (now {now}); a commitment "
                        "counts as delivered on its due date, a KPI as reported exactly at its target.", "small"))
        rows = [[L.cell(h, "head" if i < 2 else "headr") for i, h in
                 enumerate(("If", "Whose", "Due", "Score", "Change"))]]
        for r in L.records(wi.head(WHAT_IF_ROWS)):
            what = (f"{r['title']} were delivered" if r["kind"] == "commitment" else f"{r['title']} reached its target")
            gain = "—" if is_missing(r["gain"]) else (f"+{int(r['gain'])}" if r["gain"] > 0 else str(int(r["gain"])))
            rows.append([L.cell(what, "cell", limit=200), L.cell(PARTY.get(str(r["party"]), ""), "cell"),
                         L.cell(fmt_date(r["due_date"]) if r["kind"] == "commitment" else "", "cellr"),
                         L.cell(_score(r["score_if"], r["status_if"]), "cellr"), L.cell(gain, "cellr")])
        out.append(L.table(rows, _w(0, 14, 22, 34, 14)))
        if len(wi) > WHAT_IF_ROWS:
            out.append(para(f"{len(wi) - WHAT_IF_ROWS} more options move the score less.", "small"))
    out.append(L.heading(f"Targets for {b.next_quarter} the trend supports resetting", 2))
    if not len(b.resets):
        out.append(para(f"The {b.next_quarter} targets are within reach of the last quarters' run rate.", "note"))
    else:
        rows = [[L.cell(h, "head" if i == 0 else "headr") for i, h in
                 enumerate(("KPI", "Target", "Run rate", "At that rate", "Propose"))]]
        for r in L.records(b.resets):
            unit = str(r["unit"] or "count")
            rows.append([L.cell(r["kpi"], "cellb", limit=80), L.cell(fmt_number(r["target"], unit, currency), "cellr"),
                         L.cell(fmt_number(r["run_rate"], unit, currency), "cellr"),
                         L.cell(fmt_pct(r["attainment"]), "cellr"),
                         L.cell(f"{r['move']} to {fmt_number(r['proposed'], unit, currency)}", "cellr")])
        out.append(L.table(rows, _w(0, 26, 26, 22, 34)))
    out.append(L.heading("Trades the asymmetries suggest", 2))
    if not len(b.trades):
        out.append(para("No trade to suggest: record their asks and ours on the Canvas.", "note"))
    else:
        rows = [[L.cell(h, "head") for h in ("We give", "We ask", "Why")]]
        for r in L.records(b.trades):
            rows.append([L.cell(r["give"], "cell", limit=200), L.cell(r["get"] or "—", "cell", limit=200),
                         L.cell(r["why"], "cellsmall", limit=200)])
        out.append(L.table(rows, _w(0, 62, 44)))
    return out


def _questions(b: Brief) -> list:
    out = [L.heading("Questions that probe their interests")]
    return out + (_bullets(b.questions) if b.questions else
                  [para("Nothing flagged this quarter: ask what would make next quarter better still.", "note")])
