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

from pipeline.analyse.wording import lower_first
from pipeline.render import layout as L
from pipeline.render.explain import health_word
from pipeline.render.identity import brief_keywords
from pipeline.render.layout import fmt_attainment, fmt_date, fmt_number, fmt_pct, is_missing, para

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.analyse.brief import Brief

INTERNAL = "INTERNAL: NEVER SENT TO THE PARTNER"
PARTY = {"us": "ours", "partner": "theirs", "joint": "joint"}
KIND_WORDS = {"goal": "Goal", "interest": "Interest", "priority": "Priority", "ask": "Ask", "offer": "Offer",
              "alternative": "Alternative", "limit": "Limit"}
WHAT_IF_ROWS = 12   # options listed at most (the most valuable)


def brief_pdf(b: Brief, currency: str = "", watermark: str = "") -> bytes:
    """The meeting brief as PDF bytes."""
    story: list = _head(b) + _before(b) + _standing(b, currency) + _their_side(b, currency) + _our_side(b) \
        + _options(b, currency) + _questions(b)
    page = L.Page(header_left=f"Meeting brief · {b.partner_name} · {b.quarter} · INTERNAL",
                  header_right=b.organisation or "internal", watermark=watermark or "INTERNAL")
    return L.build(story, page, title=f"Meeting brief: {b.partner_name}, {b.quarter} (internal)",
                   author=b.organisation, subject="internal meeting brief", as_of=b.as_of,
                   keywords=brief_keywords(b.partner_id, b.quarter))


def _heads(*names: str, left: tuple[int, ...] = (0,)) -> list:
    """A table's header row: the columns in `left` read left, the figures' columns right."""
    return [L.cell(h, "head" if i in left else "headr") for i, h in enumerate(names)]


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
    score = h.get("score")
    if h.get("state") == "paused":
        health = "Health: paused, so this quarter is not scored and its targets are not held against them"
    elif score is None or is_missing(score):
        health = f"Health: {health_word(h.get('status')).lower()}"
    else:
        health = f"Health score {int(float(score))} of 100 ({health_word(h.get('status')).lower()})"
        if prev is not None and not is_missing(prev) and int(prev) != int(float(score)):
            health += f", {'down' if int(prev) > int(float(score)) else 'up'} from {int(prev)} last quarter"
    facts = [health]
    if b.rating is not None:
        facts.append(f"they rate the partnership {b.rating:.1f} of 5")
    who = f"For {b.internal_owner}, before" if b.internal_owner else "Before"
    with_whom = f" with {b.partner_lead}" if b.partner_lead else ""
    return [para(f"MEETING BRIEF · {b.quarter} · {INTERNAL}", "subtitle"),
            para(b.partner_name, "title", limit=120),
            para(f"{who} the {b.quarter} review meeting{with_whom}. Prepared on {fmt_date(b.as_of)}"
                 + (f" by {b.organisation}" if b.organisation else "") + ".", "body"),
            para("; ".join(facts) + ".", "value"), Spacer(1, 4)]


def _section(title: str, body: list | str, quiet: list[str]) -> list:
    """A sub-heading kept on a page with the start of what it heads; a section with nothing to show (its
    body one sentence) adds that sentence to `quiet` instead, said once at the end of its part (`_quiet`)."""
    from reportlab.platypus import KeepTogether

    if isinstance(body, str):
        quiet.append(body)
        return []
    return [KeepTogether([L.heading(title, 2), *body[:2]]), *body[2:]]   # its intro and its table, where both fit


def _part(title: str) -> list:
    """A part's heading, on a new page unless its first section can start under it."""
    from reportlab.platypus import CondPageBreak

    return [CondPageBreak(40 * L.MM), L.heading(title)]


def _quiet(sentences: list[str]) -> list:
    return [para(" ".join(sentences), "note")] if sentences else []


def _bullets(items: list[str], style: str = "body") -> list:
    return [para(f"• {L.text(i)}", style, markup=True) for i in items]


def _before(b: Brief) -> list:
    out = [L.heading("Before the meeting: decide")]
    if not b.decisions:
        return out + [para("Nothing to decide beforehand: the Canvas holds our alternative and limits, and nothing "
                           "of ours is late.", "note")]
    return out + _bullets(b.decisions)


def _standing(b: Brief, currency: str) -> list:
    out: list = _part("Where both sides stand")
    quiet: list[str] = []
    late: list | str
    agree: list | str
    heads = ["Side", "Promised", "Kept on time", "Done late", "Open", "Overdue", "Moved", "Dropped", "On time"]
    rows: list[list] = [_heads(*heads)]
    for r in L.records(b.standing):
        rows.append([L.cell(PARTY.get(str(r["party"]), str(r["party"])).capitalize(), "cellb")]
                    + [L.cell("—" if is_missing(r[k]) else str(int(r[k])), "cellr")
                       for k in ("made", "done_on_time", "done_late", "open", "overdue", "slipped", "dropped")]
                    + [L.cell(fmt_pct(r["on_time_rate"]), "cellr")])
    out += _section("What each side promised and delivered", [L.table(rows, _w(0, 18, 20, 18, 14, 16, 16, 16, 16))]
                    if len(rows) > 1 else "No commitments are on record.", quiet)
    if not len(b.late):
        late = "Nothing is late on either side."
    else:
        rows = [_heads("Side", "Owner", "Commitment", "Due", "How late", left=(0, 1, 2, 3, 4))]
        for r in L.records(b.late):
            if r["why"] == "moved":
                how = (f"moved from {fmt_date(r['first_due_date'])} (+{int(r['slip_days'])} days)"
                       if not is_missing(r["first_due_date"]) else f"moved {int(r['slip_days'])} days")
            elif not int(r["days_late"]):
                how = "open on its due date, the quarter's last day"
            else:
                how = f"{int(r['days_late'])} days {r['why']}" + (
                    f"; first due {fmt_date(r['first_due_date'])}" if int(r["slip_days"]) else "")
            rows.append([L.cell(PARTY.get(str(r["party"]), "").capitalize(), "cellb"), L.cell(r["owner"], "cell", limit=60),
                         L.cell(f"{r['commitment_id']} {r['description'] or ''}".strip(), "cell", limit=200),
                         L.cell(fmt_date(r["due_date"]), "cell"), L.cell(how, "cell")])
        late = [para("Ours first: what we still owe weighs on everything we ask.", "small"),
                L.table(rows, _w(14, 30, 0, 22, 46))]
    out += _section("Late, overdue or moved, on each side", late, quiet)
    if not len(b.to_agree):
        agree = "No open disagreement on figures: both sides can work from the same numbers."
    else:
        rows = [_heads("KPI", "Our figure", "Their figure", "Gap", "Where each figure comes from", left=(0, 4))]
        for r in L.records(b.to_agree):
            unit = str(r.get("unit") or "count")
            rows.append([L.cell(r["kpi"], "cellb", limit=80), L.cell(fmt_number(r["internal"], unit, currency), "cellr"),
                         L.cell(fmt_number(r["partner"], unit, currency), "cellr"),
                         L.cell(fmt_pct(r["discrepancy"]), "cellr"),
                         [para(f"ours: {L.text(r['internal_cells'], 200)}", "cellsmall", markup=True),
                          para(f"theirs: {L.text(r['partner_cells'], 200)}", "cellsmall", markup=True)]])
        agree = [L.table(rows, _w(32, 22, 22, 14, 0))]
    out += _section("Figures to agree before discussing them", agree, quiet)
    return out + _quiet(quiet)


def _their_side(b: Brief, currency: str) -> list:
    out: list = _part("Their side: pressures and interests")
    quiet: list[str] = []
    miss: list | str
    pulse: list | str
    if not len(b.pressure):
        miss = "Every KPI with a target is on track."
    else:
        rows = [_heads("KPI", "Target", "Actual", "Attainment", "vs last quarter")]
        for r in L.records(b.pressure):
            unit = str(r["unit"] or "count")
            rows.append([L.cell(r["kpi"], "cellb", limit=80), L.cell(fmt_number(r["target"], unit, currency), "cellr"),
                         L.cell(fmt_number(r["actual"], unit, currency) if not is_missing(r["actual"])
                                else "not reported", "cellr"),
                         L.cell(fmt_attainment(r["attainment"], b.edges), "cellr"),
                         L.cell(L.fmt_change(r["change_qoq"]), "cellr")])
        miss = [L.table(rows, _w(0, 28, 28, 24, 26))]
    out += _section("The KPIs against plan, for reference (paused: not held against them)"
                    if b.health.get("state") == "paused" else "The KPIs they miss", miss, quiet)
    if not len(b.pulse):
        pulse = "They did not answer the pulse this quarter."
    else:
        rows = [_heads("Question", "Score", "Last", "Their comment", left=(0, 3))]
        for r in L.records(b.pulse):
            rows.append([L.cell(r["question"], "cell", limit=200),
                         L.cell("—" if is_missing(r["score"]) else f"{float(r['score']):.0f}", "cellr"),
                         L.cell("—" if is_missing(r["previous"]) else f"{float(r['previous']):.0f}", "cellr"),
                         L.cell(r["comment"], "cell", limit=400)])
        pulse = [L.table(rows, _w(0, 12, 12, 70))]
    out += _section("How they rated the partnership", pulse, quiet)
    out += _section("What we know of their side (Canvas)", _canvas(
        b.theirs, "Nothing is recorded on the Canvas for their side: what do they want from this partnership, and "
                  "what are they under pressure to show?"), quiet)
    return out + _quiet(quiet)


def _canvas(entries: pd.DataFrame, empty: str) -> list | str:
    if not len(entries):
        return empty
    rows = [_heads("Kind", "Entry", "Weight", left=(0, 1))]
    for r in L.records(entries):
        rows.append([L.cell(KIND_WORDS.get(str(r["kind"]), str(r["kind"])), "cellb"),
                     L.cell(r["text"], "cell", limit=400),
                     L.cell("—" if is_missing(r["weight"]) else f"{float(r['weight']):.0f} of 3", "cellr")])
    return [L.table(rows, _w(24, 0, 16))]


def _our_side(b: Brief) -> list:
    from reportlab.platypus import KeepTogether

    body = _canvas(b.ours, "Nothing is recorded on the Canvas for our side.")
    return [KeepTogether([L.heading("Our side: goals, alternative and limits"),
                          *([para(body, "note")] if isinstance(body, str) else body)])]


def _options(b: Brief, currency: str) -> list:
    out: list = _part("Options")
    quiet: list[str] = []
    body: list | str
    wi = b.what_if
    moves = wi[wi["gain"].fillna(0) != 0] if len(wi) else wi
    if not len(wi):
        body = ("The partnership is paused, so it is not scored." if b.health.get("state") == "paused"
                else "Nothing is open and every KPI is on track: no single change moves the score.")
    elif not len(moves):
        body = (f"No single change moves this quarter's score ({_score(wi['score'].iloc[0], wi['status'].iloc[0])}): "
                "nothing open was due in the quarter, and every KPI short of target is too close to matter.")
    else:
        rows = [_heads("Option", "Whose", "Score", "Change", left=(0, 1))]
        for r in L.records(moves.head(WHAT_IF_ROWS)):
            what = (f"Deliver {r['title']} on its due date, {fmt_date(r['due_date'])}" if r["kind"] == "commitment"
                    else f"Bring {lower_first(str(r['title']))} to its target")
            gain = "—" if is_missing(r["gain"]) else (f"+{int(r['gain'])}" if r["gain"] > 0 else str(int(r["gain"])))
            rows.append([L.cell(what, "cell", limit=200), L.cell(PARTY.get(str(r["party"]), ""), "cell"),
                         L.cell(_score(r["score_if"], r["status_if"]), "cellr"), L.cell(gain, "cellr")])
        rest = len(wi) - min(len(moves), WHAT_IF_ROWS)
        body = [para(f"This quarter's score ({_score(wi['score'].iloc[0], wi['status'].iloc[0])}) with one change "
                     "alone; the changes do not add up.", "small"), L.table(rows, _w(0, 16, 34, 16))]
        if rest:
            body.append(para(f"{rest} more open item{'s' if rest != 1 else ''} would not move this quarter's score "
                             "(due later, or already close enough).", "small"))
    out += _section("What would move the health score", body, quiet)
    if not len(b.resets):
        resets: list | str = ("Nothing to reset: the paused partnership is not held to its targets."
                              if b.health.get("state") == "paused" else
                              f"The {b.next_quarter} targets are within reach of the last two quarters' average.")
    else:
        rows = [_heads("KPI", "Target", "Last 2 quarters", "At that pace", "Propose")]
        for r in L.records(b.resets):
            unit = str(r["unit"] or "count")
            rows.append([L.cell(r["kpi"], "cellb", limit=80), L.cell(fmt_number(r["target"], unit, currency), "cellr"),
                         L.cell(fmt_number(r["run_rate"], unit, currency), "cellr"),
                         L.cell(fmt_attainment(r["attainment"], b.edges), "cellr"),
                         L.cell(f"{r['move']} to {fmt_number(r['proposed'], unit, currency)}", "cellr")])
        resets = [L.table(rows, _w(0, 26, 28, 22, 34))]
    out += _section(f"Targets for {b.next_quarter} the trend supports resetting", resets, quiet)
    if not len(b.trades):
        trades: list | str = "No trade to suggest: record on the Canvas what they ask for, and what we could offer."
    else:
        rows = [_heads("We give", "We ask in return", "Why", left=(0, 1, 2))]
        for r in L.records(b.trades):
            rows.append([L.cell(r["give"], "cell", limit=200), L.cell(r["get"] or "—", "cell", limit=200),
                         L.cell(r["why"], "cell", limit=200)])
        trades = [L.table(rows, _w(0, 60, 46))]
    out += _section("Trades the asymmetries suggest", trades, quiet)
    return out + _quiet(quiet)


def _questions(b: Brief) -> list:
    from reportlab.platypus import KeepTogether

    body = (_bullets(b.questions) if b.questions else
            [para("Nothing is flagged this quarter: ask what they want the partnership to achieve next year.", "note")])
    return [KeepTogether([L.heading("Questions to ask them"), *body])]
