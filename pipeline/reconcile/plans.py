"""The plans: the Commitments sheet (each commitment once, by its id, for a known partner), the
Check-ins sheet (the meetings held) and the Pulse sheet (how the partner rates the partnership)."""
from __future__ import annotations

from pipeline.core import problems as P
from pipeline.core.periods import quarter_of_date
from pipeline.core.schema import CANVAS_KINDS, CANVAS_SIDES, PARTIES, PULSE_SCORES
from pipeline.reconcile.context import Context, provenance
from pipeline.reconcile.refs import cell_text, free_text, ref_key
from pipeline.reconcile.sheets import Table
from pipeline.reconcile.values import map_status, number_hint, parse_number, parse_percent


def commitments(ctx: Context, table: Table) -> None:
    if table.request is not None:
        return commitment_updates(ctx, table)
    req = ("commitment_id", "partner_id", "party", "description")
    for r, vals, cols in table.records:
        get, problem, out = ctx.row(table, r, vals, cols, req)
        cid = get("commitment_id")
        raw_pid = get("partner_id")
        pid = ctx.partner_refs.find(raw_pid, problem) if raw_pid is not None else None
        party = ctx.choice(get, problem, "party", PARTIES, "", required=True) if get("party") is not None else None
        desc = get("description")
        ok = cid is not None and pid is not None and party and desc is not None
        if ok and ctx.duplicate(ctx.commitment_ids, ref_key(cid), table, r, cols, problem, "commitment_id"):
            ok = False
        if not ok:
            ctx.emit(_about(out, f"commitment {cell_text(cid)}" if cid is not None else "", pid), pid)
            continue
        status_raw = cell_text(get("status"))
        status, mapped = map_status(status_raw)
        if not mapped:
            problem("VALUE_UNMAPPED_STATUS", "status", detail=status)
        pct = float("nan")
        raw_pct = get("percent_complete")
        if raw_pct is not None:
            try:
                pct = parse_percent(raw_pct)
                if 1 < pct <= 100:  # 60 means 60 %
                    pct = pct / 100.0
                if not 0 <= pct <= 1:
                    problem("VALUE_OUT_OF_RANGE", "percent_complete", detail="a percentage from 0% to 100%")
                    pct = float("nan")
            except ValueError:
                problem("VALUE_NOT_NUMBER", "percent_complete", hint=number_hint(raw_pct, percent=True))
        linked = ""
        raw_link = get("linked_kpi_id")
        if raw_link is not None:
            linked = ctx.kpi_refs.find(raw_link, problem, "linked_kpi_id", "REF_UNKNOWN_LINKED_KPI") or ""
        d1904 = table.date1904
        ctx.add("commitments", {
            "commitment_id": cell_text(cid), "partner_id": pid, "party": party, "description": str(desc).strip(),
            "owner": cell_text(get("owner")), "due_date": ctx.date(get, problem, "due_date", d1904),
            "baseline_due_date": ctx.date(get, problem, "baseline_due_date", d1904), "status": status,
            "status_raw": status_raw, "percent_complete": pct, "linked_kpi_id": linked,
            "last_updated": ctx.date(get, problem, "last_updated", d1904),
            "completed_date": ctx.date(get, problem, "completed_date", d1904),
            "note": free_text(get("note")), "internal_note": free_text(get("internal_note")),
            **provenance(table, r)})
        ctx.emit(_about(out, f"commitment {cell_text(cid)}" if cid is not None else "", pid), pid)


_UPDATABLE = ("status", "percent_complete", "due_date", "note")   # what a partner's request may change


def commitment_updates(ctx: Context, table: Table) -> None:
    """A returned data request's Commitments sheet: updates to the partner's own and joint commitments the
    log already holds (read first). A cell they changed replaces the log's value, and the commitment's
    source becomes their row (file › sheet › row), noted with the change (REQUEST_UPDATED); a commitment
    that is not theirs or not in the log is not touched (REQUEST_UNKNOWN_COMMITMENT)."""
    assert table.request is not None
    owner = table.request["partner_id"]
    data = ctx.data["commitments"]
    where = {(data["partner_id"][i], data["commitment_id"][i]): i for i in range(len(data["commitment_id"]))}
    for r, vals, cols in table.records:
        get, problem, out = ctx.row(table, r, vals, cols, ("commitment_id",))
        if all(get(f) is None for f in _UPDATABLE):   # nothing written in the cells they fill: no change
            ctx.emit(out, owner)
            continue
        cid = get("commitment_id")
        i = where.get((owner, cell_text(cid))) if cid is not None else None
        if cid is not None and (i is None or data["party"][i] not in ("partner", "joint")):
            problem("REQUEST_UNKNOWN_COMMITMENT", "commitment_id", detail=owner)
        if i is None or data["party"][i] not in ("partner", "joint") or any(p.severity == P.ERROR for p in out):
            ctx.emit(_about(out, f"commitment {cell_text(cid)}" if cid is not None else "", owner), owner)
            continue
        new: dict[str, object] = {}
        if get("status") is not None:
            status, mapped = map_status(cell_text(get("status")))
            if not mapped:
                problem("VALUE_UNMAPPED_STATUS", "status", detail=status)
            else:
                new["status"] = status
        if get("percent_complete") is not None:
            try:
                pct = parse_percent(get("percent_complete"))
                pct = pct / 100.0 if 1 < pct <= 100 else pct
                if 0 <= pct <= 1:
                    new["percent_complete"] = pct
                else:
                    problem("VALUE_OUT_OF_RANGE", "percent_complete", detail="a percentage from 0% to 100%")
            except ValueError:
                problem("VALUE_NOT_NUMBER", "percent_complete", hint=number_hint(get("percent_complete"), percent=True))
        due = ctx.date(get, problem, "due_date", table.date1904) if get("due_date") is not None else None
        if due is not None:
            new["due_date"] = due
        if get("note") is not None:
            new["note"] = free_text(get("note"))
        changed = [f for f in _UPDATABLE if f in new and not _same(data[f][i], new[f])]
        for f in changed:
            data[f][i] = new[f]
            if f == "status":
                data["status_raw"][i] = cell_text(get("status"))
        if changed:
            data["file"][i], data["sheet"][i], data["row"][i] = table.file, table.sheet, r
            out.append(P.make("REQUEST_UPDATED", file=table.file, sheet=table.sheet, cell=f"A{r}",
                              detail=f"commitment {cell_text(cid)}: " + ", ".join(changed), partner_id=owner))
        ctx.emit(_about(out, f"commitment {cell_text(cid)}", owner), owner)


def _same(old: object, new: object) -> bool:
    try:
        return bool(old == new) or (old != old and new != new)  # NaN == NaN here
    except (TypeError, ValueError):
        return False


def _about(out: list[P.Problem], what: str, pid: str | None) -> list[P.Problem]:
    """A row's problems with the record and partner they belong to before the message."""
    text = ", ".join(part for part in (what, f"partner {pid}" if pid else "") if part) if out else ""
    return [p.about(text) for p in out]


def checkins(ctx: Context, table: Table) -> None:
    for r, vals, cols in table.records:
        get, problem, out = ctx.row(table, r, vals, cols, ("partner_id", "date"))
        raw_pid = get("partner_id")
        pid = ctx.partner_refs.find(raw_pid, problem) if raw_pid is not None else None
        day = ctx.date(get, problem, "date", table.date1904)
        if pid and day:
            ctx.add("checkins", {
                "partner_id": pid, "date": day, "quarter": quarter_of_date(day, ctx.fy).label,
                "type": cell_text(get("type")), "attendees": cell_text(get("attendees")),
                "summary": free_text(get("summary")), **provenance(table, r)})
        ctx.emit(_about(out, "check-in", pid), pid)


def pulse(ctx: Context, table: Table) -> None:
    """The partner's ratings: one per partner, quarter and question. A blank score is a question not
    answered (kept, never zero); a score that is not a whole number from 1 to 5 is reported and excluded;
    a second rating of the same question for the same quarter is a duplicate."""
    low, high = PULSE_SCORES
    for r, vals, cols in table.records:
        get, problem, out = ctx.row(table, r, vals, cols, ("partner_id", "period", "question_id"))
        raw_pid = get("partner_id")
        pid = ctx.partner_refs.find(raw_pid, problem) if raw_pid is not None else None
        period = ctx.read_period(get, problem, table.date1904)
        qid = get("question_id")
        score = float("nan")
        raw = get("score")
        if raw is not None:
            try:
                number = parse_number(raw)
                if number != int(number) or not low <= number <= high:
                    problem("VALUE_OUT_OF_RANGE", "score", detail=f"a whole number from {low} to {high}")
                else:
                    score = number
            except ValueError:
                problem("VALUE_NOT_NUMBER", "score", hint=f"type a whole number from {low} to {high}, or leave it "
                        "blank when the question is not answered")
        request = table.request
        pid = ctx.own_partner(request, pid, problem)
        ok = pid is not None and period is not None and qid is not None and not any(p.severity == P.ERROR for p in out)
        quarter = period.quarter.label if period is not None else ""
        if ok and ctx.duplicate(ctx.pulse_keys, (pid, quarter, ref_key(qid)), table, r, cols, problem, "question_id"):
            ok = False
        if ok:
            ctx.add("pulse", {"partner_id": pid, "quarter": quarter, "question_id": cell_text(qid),
                              "question": free_text(get("question")), "score": score,
                              "comment": free_text(get("comment")), **provenance(table, r)})
        what = ", ".join(x for x in (f"question {cell_text(qid)}" if qid is not None else "", quarter) if x)
        ctx.emit(_about(out, what, pid), request["partner_id"] if request is not None else pid)


def canvas(ctx: Context, table: Table) -> None:
    """Our negotiation prep per partner and side (ours alone, like internal_note): a row's problems are
    never attributed to the partner, so no partner review lists them (they are in validate and the portfolio)."""
    for r, vals, cols in table.records:
        get, problem, out = ctx.row(table, r, vals, cols, ("partner_id", "side", "kind", "text"))
        raw_pid = get("partner_id")
        pid = ctx.partner_refs.find(raw_pid, problem) if raw_pid is not None else None
        side = ctx.choice(get, problem, "side", CANVAS_SIDES, "", required=True) if get("side") is not None else None
        kind = ctx.choice(get, problem, "kind", CANVAS_KINDS, "", required=True) if get("kind") is not None else None
        weight = float("nan")
        if get("weight") is not None:
            try:
                number = parse_number(get("weight"))
                if number in (1, 2, 3):
                    weight = number
                else:
                    problem("VALUE_OUT_OF_RANGE", "weight", severity=P.WARNING, detail="1, 2 or 3")
            except ValueError:
                problem("VALUE_NOT_NUMBER", "weight", severity=P.WARNING, hint="type 1, 2 or 3")
        text = get("text")
        if pid and side and kind and text is not None and not any(p.severity == P.ERROR for p in out):
            ctx.add("canvas", {"partner_id": pid, "side": side, "kind": kind, "text": free_text(text),
                               "weight": weight, **provenance(table, r)})
        ctx.emit(out, None)
