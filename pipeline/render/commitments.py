"""The partner review's commitments section: delivery side by side, the track record (from
`pipeline.render.explain`) and each party's commitments with their state."""
from __future__ import annotations

from typing import Any

from pipeline.render import layout as L
from pipeline.render.context import Ctx, count, true
from pipeline.render.explain import track_record
from pipeline.render.layout import fmt_date, fmt_pct, is_missing, para, text

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
    """The commitments section."""
    out = [L.heading("Commitments")]
    w = L.content_width()
    out.append(L.heading("Delivery side by side", 2))
    d = {r["party"]: r for r in L.records(c.view.delivery)}
    parties = [p for p in ("us", "partner", "joint")]
    metrics = [("made", "Commitments made"), ("open", "Open"), ("done", "Done"), ("done_on_time", "Done on time"),
               ("done_late", "Done late"), ("overdue", "Overdue"), ("slipped", "Slipped"), ("dropped", "Dropped"),
               ("on_time_rate", "On-time delivery rate")]
    rows = [[L.cell("", "head")] + [L.cell(c.party(p), "headr") for p in parties]]
    for key, label in metrics:
        vals: list[Any] = [d.get(p, {}).get(key) for p in parties]
        show = [fmt_pct(x) if key == "on_time_rate" else ("—" if is_missing(x) else str(int(x))) for x in vals]
        rows.append([L.cell(label, "cell")] + [L.cell(s, "cellr") for s in show])
    out.append(L.table(rows, [50 * L.MM] + [(w - 50 * L.MM) / 3] * 3))
    out += track_record(c)
    titles = {"us": f"Our commitments ({c.us})", "partner": f"{c.partner}'s commitments", "joint": "Joint commitments"}
    rows_all = c.commitments
    for party in parties:
        part = [r for r in rows_all if r.get("party") == party]
        out.append(L.heading(titles[party], 2))
        if not part:
            out.append(para("None recorded.", "note"))
            continue
        states = [(_state(r), r) for r in part]
        states.sort(key=lambda s: (_STATE_ORDER.get(s[0][0], 9), str(s[1].get("due_date"))))
        tally = count(s[0][0] for s in states)
        out.append(para(f"{len(part)} commitment{'s' if len(part) != 1 else ''}: "
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
        out.append(L.table(rows, [19 * L.MM, w - 101 * L.MM, 27 * L.MM, 21 * L.MM, 34 * L.MM], extra=extra))
    return out
