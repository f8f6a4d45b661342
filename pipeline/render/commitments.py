"""The partner review's commitments section (the track record, from `pipeline.render.explain`, and each party's
commitments with their state) and its "Next quarter" section (next quarter's targets, the commitments coming
due with owners and dates, the proposed date of the next review)."""
from __future__ import annotations

from typing import Any

from pipeline.analyse.wording import plural
from pipeline.render import layout as L
from pipeline.render.context import Ctx, count, true
from pipeline.render.explain import track_record
from pipeline.render.layout import fmt_date, is_missing, para, text

KEEP_ROWS = 12  # a commitments table this short moves whole to the next page rather than split from its heading
_STATE_ORDER = {"Overdue": 0, "Slipped": 1, "Blocked": 2, "Open": 3, "Dropped": 4, "Done": 5, "Cancelled": 6}


def _state(r: dict) -> tuple[str, str, str]:
    """(state word, detail, tint) of one commitment row."""
    slip = int(r.get("slip_days") or 0)
    slipped = f"slipped {slip} days" if slip > 0 else ""
    if true(r.get("is_dropped")):
        return "Dropped", "open last quarter, gone from the log", "none"
    if r.get("status") == "done":
        when = fmt_date(r.get("completed_date"))
        late = r.get("on_time")
        detail = f"{when}" + ("" if is_missing(late) else " · on time" if late else " · late")
        return "Done", detail, "green"
    if r.get("status") == "cancelled":
        return "Cancelled", "", "none"
    pct: Any = r.get("percent_complete")  # a fraction, or missing
    pct_s = "" if is_missing(pct) else f"{float(pct) * 100:.0f}% complete"
    if true(r.get("is_overdue")):
        late = int(r.get("days_overdue") or 0)
        late_s = f"{late} days" if late else "due on the quarter's last day"
        return "Overdue", "; ".join(x for x in (late_s, slipped, pct_s) if x), "red"
    if slipped:
        return "Slipped", "; ".join(x for x in (slipped, pct_s) if x), "amber"
    if r.get("status") == "blocked":
        return "Blocked", pct_s, "amber"
    return "Open", pct_s or str(r.get("status") or "").replace("_", " "), "none"



def commitments(c: Ctx) -> list:
    """The commitments section: the track record (one compact table), then ours, yours and the joint ones."""
    out = [L.heading("Commitments", outline=True)]
    w = L.content_width()
    parties = ("us", "partner", "joint")
    out += track_record(c)
    titles = {"us": "Our commitments", "partner": "Your commitments", "joint": "Joint commitments"}
    from reportlab.platypus import KeepTogether

    rows_all = c.commitments
    for party in parties:
        part = [r for r in rows_all if r.get("party") == party]
        if not part:
            out.append(KeepTogether([L.heading(titles[party], 2), para("None recorded.", "note")]))
            continue
        block: list = [L.heading(titles[party], 2)]  # kept with its table: no heading at a page's foot
        states = [(_state(r), r) for r in part]
        states.sort(key=lambda s: (_STATE_ORDER.get(s[0][0], 9), str(s[1].get("due_date"))))
        tally = count(s[0][0] for s in states)
        block.append(para(f"{plural(len(part), 'commitment')}: "
                          + ", ".join(f"{n} {k.lower()}" for k, n in tally) + ".", "small"))
        rows = [[L.cell(h, "head") for h in ("Ref", "Commitment", "Owner", "Due", "State")]]
        extra = []
        for i, ((word, detail, tint), r) in enumerate(states, start=1):
            body = text(r.get("description"))
            if r.get("note"):
                body += f'<br/><font color="{L.MUTED}"><i>Note: {text(r.get("note"), 300)}</i></font>'
            if r.get("linked_kpi_id"):
                body += f'<br/><font color="{L.MUTED}" size="6.5">moves {text(c.subject(r.get("linked_kpi_id")), 120)}</font>'
            rows.append([L.cell(r.get("commitment_id"), "cell", limit=40), para(body, "cell", markup=True),
                         L.cell(r.get("owner") or "—", "cell", limit=80), L.cell(fmt_date(r.get("due_date")), "cell"),
                         para(f"<b>{word}</b><br/>{text(detail)}", "cell", markup=True) if detail else L.cell(word, "cellb")])
            if tint != "none":
                extra.append(("BACKGROUND", (4, i), (4, i), L.color(L.STATUS_TINTS[tint])))
        block.append(L.table(rows, [19 * L.MM, w - 101 * L.MM, 27 * L.MM, 21 * L.MM, 34 * L.MM], extra=extra))
        out.append(KeepTogether(block) if len(rows) <= KEEP_ROWS else block[0])
        out += [] if len(rows) <= KEEP_ROWS else block[1:]
    return out


def next_quarter(c: Ctx) -> list:
    """Next quarter's targets, the commitments due by its end (owner and date), and the next review's date: all as
    the analysis decided them (`PartnerView.next_quarter`)."""
    from reportlab.platypus import KeepTogether

    nq, w = c.view.next_quarter, L.content_width()
    out: list = [L.heading("Next quarter", outline=True)]
    meeting = (f"We propose to hold the next review on <b>{text(fmt_date(nq.next_meeting))}</b>"
               + (f", keeping the rhythm of our check-ins (about every {_every(nq.cadence_days)})." if nq.cadence_days
                  else ".")) if nq.next_meeting else \
        "No check-in is recorded yet, so we will propose a date for the next review with you."
    out.append(para(meeting, "cell", markup=True))
    if nq.targets:
        cur = {r["kpi_id"]: r for r in c.current}
        rows = [[L.cell(h, "head" if i == 0 else "headr") for i, h in
                 enumerate(("KPI", f"Target {nq.quarter}", f"Actual {c.q}", f"Target {c.q}"))]]
        for kid, target in nq.targets:
            k = c.kpi.get(kid, {})
            rows.append([L.cell(k.get("kpi_name") or kid, "cellb"), L.cell(c.value(kid, target), "cellrb"),
                         L.cell(c.value(kid, cur.get(kid, {}).get("actual")), "cellr"),
                         L.cell(c.value(kid, cur.get(kid, {}).get("target")), "cellr")])
        out.append(KeepTogether([L.heading(f"Targets for {nq.quarter}", 2),
                                 L.table(rows, [w - 105 * L.MM, 35 * L.MM, 35 * L.MM, 35 * L.MM])]))
    by_id = {str(r["commitment_id"]): r for r in c.commitments}
    due = [by_id[i] for i in nq.due if i in by_id]
    head = L.heading(f"Commitments due by the end of {nq.quarter}", 2)
    if not due:
        return out + [head, para("No open commitment falls due next quarter.", "note")]
    rows = [[L.cell(h, "head") for h in ("Ref", "Commitment", "Who", "Owner", "Due")]]
    for r in due:
        late = " (overdue)" if true(r.get("is_overdue")) else ""
        rows.append([L.cell(r.get("commitment_id"), "cell", limit=40), L.cell(r.get("description") or "—", "cell"),
                     L.cell(c.party(r.get("party")), "cell"), L.cell(r.get("owner") or "—", "cell", limit=80),
                     L.cell(fmt_date(r.get("due_date")) + late, "cell")])
    return out + [KeepTogether([head, L.table(rows, [19 * L.MM, w - 111 * L.MM, 22 * L.MM, 34 * L.MM, 36 * L.MM])])]


def _every(days: int) -> str:
    """A cadence in words: week, two weeks, month, two months, three months, six months, or so many days."""
    for n, words in ((7, "week"), (14, "two weeks"), (30, "month"), (61, "two months"), (91, "three months"),
                     (182, "six months")):
        if abs(days - n) <= max(2, n // 10):
            return words
    return f"{days} days"
