"""The registries every other sheet refers to: the Partners and KPIs sheets. Each entry's key and name go
into the context's references (`pipeline.reconcile.refs.Refs`), a key defined twice is DUPLICATE_KEY,
and a name another entry could be taken for is reported (the reference is then ambiguous, never given
to the first)."""
from __future__ import annotations

from pipeline.core import problems as P
from pipeline.core.schema import AGGREGATIONS, DIRECTIONS, PARTNER_STATUSES, UNITS
from pipeline.reconcile.context import Context, provenance
from pipeline.reconcile.refs import cell_text
from pipeline.reconcile.sheets import Table
from pipeline.reconcile.values import control_characters, escape_controls, parse_number, split_emails

DEFAULT_AGGREGATION = {"currency": "sum", "count": "sum"}  # other units: mean


def partners(ctx: Context, table: Table) -> None:
    refs = ctx.partner_refs
    req = ("partner_id", "partner_name")
    for r, vals, cols in table.records:
        get, problem, out = ctx.row(table, r, vals, cols, req)
        pid, name = get("partner_id"), get("partner_name")
        pid_text = cell_text(pid)
        ok = pid is not None and name is not None
        if ok and ctx.duplicate(refs.first, pid_text.casefold(), table, r, cols, problem, "partner_id"):
            ok = False
        if not ok:
            ctx.emit(out, refs.resolve(pid) if pid is not None else None)
            continue
        name_text = cell_text(name)
        clash = refs.clash(pid_text, name_text)
        refs.add(pid_text, name_text)
        if clash:
            problem("PARTNER_DUPLICATE_NAME", "partner_name", detail=clash, partner=pid_text)
            ctx.rec.problems.add(out.pop())  # it names another partner: for us alone, never in a review
        emails = {}
        for field in ("partner_lead_email", "internal_owner_email"):
            valid, invalid = split_emails(get(field))
            for bad in invalid:
                hidden = control_characters(bad)
                if hidden:
                    problem("VALUE_EMAIL_CONTROL_CHAR", field, value=bad, shown=escape_controls(bad),
                            detail=", ".join(hidden))
                else:
                    problem("VALUE_BAD_EMAIL", field, value=bad)
            emails[field] = "; ".join(valid)
        ctx.add("partners", {
            "partner_id": pid_text, "partner_name": name_text, "tier": cell_text(get("tier")),
            "partner_lead": cell_text(get("partner_lead")), "recipients": emails["partner_lead_email"],
            "internal_owner": cell_text(get("internal_owner")), "internal_owner_email": emails["internal_owner_email"],
            "status": ctx.choice(get, problem, "status", PARTNER_STATUSES, "active"),
            **provenance(table, r)})
        ctx.emit(out, pid_text)


def kpis(ctx: Context, table: Table) -> None:
    refs = ctx.kpi_refs
    for r, vals, cols in table.records:
        get, problem, out = ctx.row(table, r, vals, cols, ("kpi_id", "kpi_name"))
        kid, name = get("kpi_id"), get("kpi_name")
        kid_text = cell_text(kid)
        ok = kid is not None and name is not None
        if ok and ctx.duplicate(refs.first, kid_text.casefold(), table, r, cols, problem, "kpi_id"):
            ok = False
        if not ok:
            ctx.emit(out, None)
            continue
        unit = ctx.choice(get, problem, "unit", UNITS, "count")
        weight = 1.0
        raw_weight = get("weight")
        if raw_weight is not None:
            try:
                weight = parse_number(raw_weight)
                if weight < 0:
                    problem("VALUE_OUT_OF_RANGE", "weight", detail="a weight of 0 or more", severity=P.WARNING)
                    weight = 1.0
            except ValueError:
                problem("VALUE_NOT_NUMBER", "weight", severity=P.WARNING)
        clash = refs.clash(kid_text, cell_text(name))
        if clash:
            problem("KPI_DUPLICATE_NAME", "kpi_name", detail=clash, kpi=kid_text)
        refs.add(kid_text, cell_text(name))
        ctx.kpi_unit[kid_text] = unit
        ctx.add("kpis", {
            "kpi_id": kid_text, "kpi_name": cell_text(name), "unit": unit,
            "direction": ctx.choice(get, problem, "direction", DIRECTIONS, "higher"),
            "aggregation": ctx.choice(get, problem, "aggregation", AGGREGATIONS, DEFAULT_AGGREGATION.get(unit, "mean")),
            "weight": weight, **provenance(table, r)})
        ctx.emit(out, None)
