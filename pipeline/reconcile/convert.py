"""Reconcile: from the raw workbooks to the frames of `pipeline.core.frames.Reconciled`.

Types each sheet (`pipeline.reconcile.sheets`) and converts its records with the converter of its sheet
type, in `ORDER` (the registries first, as every other sheet refers to them): `registry` (partners, KPIs),
`figures` (FX rates, targets, actuals), `plans` (commitments, check-ins). They share one `context.Context`:
the references (`refs`), the rates, the rows of each frame. No row is lost: each data row ends up in a
frame or in a problem that names its cell. The rules are in ``docs/reading.md``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd

from pipeline.core import problems as P
from pipeline.core.frames import Reconciled
from pipeline.core.schema import FRAMES, PROVENANCE, REQUEST_MARK
from pipeline.core.settings import Config
from pipeline.read.raw import RawWorkbook
from pipeline.reconcile import figures, plans, registry
from pipeline.reconcile.context import Context
from pipeline.reconcile.sheets import Table, classify, read_table

ORDER = ("partners", "kpis", "fx_rates", "targets", "actuals", "commitments", "checkins", "pulse", "canvas")
CONVERTERS: dict[str, Callable[[Context, Table], None]] = {
    "partners": registry.partners, "kpis": registry.kpis,
    "fx_rates": figures.fx_rates, "targets": figures.targets, "actuals": figures.actuals,
    "commitments": plans.commitments, "checkins": plans.checkins, "pulse": plans.pulse,
    "canvas": plans.canvas,
}


REQUEST_REFERENCE_SHEETS = ("Instructions", "Our commitments")   # `pipeline.write.requests`: never read


def returned_request(wb: RawWorkbook) -> dict[str, str] | None:
    """The partner_id, quarter and reviewed quarter of a data request we wrote (`pipeline.write.requests`),
    from the line its Instructions sheet carries; None for any other workbook."""
    for sheet in wb.sheets:
        if sheet.name.strip().lower() != "instructions":
            continue
        for row in sheet.rows[:200]:
            for v in row[:3]:
                if isinstance(v, str) and v.startswith(REQUEST_MARK + " "):
                    try:
                        found = json.loads(v[len(REQUEST_MARK) + 1:])
                    except ValueError:
                        return None
                    if isinstance(found, dict) and found.get("partner_id") and found.get("quarter"):
                        return {k: str(found.get(k) or "") for k in ("partner_id", "quarter", "reviewed")}
    return None


def reconcile(workbooks: list[RawWorkbook], config: Config | None = None) -> Reconciled:
    """The pure part of `load`: raw workbooks in, reconciled frames and problems out."""
    config = config or Config()
    rec = Reconciled(config=config)
    found: dict[str, list[Table]] = {key: [] for key in ORDER}
    for wb in workbooks:
        csv = wb.kind == "csv"
        known = 0
        request = None if csv else returned_request(wb)
        for sheet in wb.sheets:
            stype = classify(sheet, csv, config.fy_start)
            if stype is None:
                if request is not None and sheet.name in REQUEST_REFERENCE_SHEETS:
                    continue  # a returned request's own instructions and reference sheet: nothing to read
                code = "CSV_UNKNOWN" if csv else "SHEET_IGNORED"
                rec.problems.add(P.make(code, file=wb.path, sheet=sheet.name))
                continue
            known += 1
            rec.has_checkins_sheet |= stype.key == "checkins"
            table, problems = read_table(sheet, stype, wb.path, config.fy_start, wb.date1904)
            rec.problems.extend(problems)
            if table is None:
                continue
            if not table.data_rows:
                rec.problems.add(P.make("SHEET_EMPTY", file=wb.path, sheet=sheet.name))
            table.request = request
            found[stype.key].append(table)
        if not known and not csv and wb.sheets:
            rec.problems.add(P.make("FILE_NO_SHEETS", file=wb.path))
    ctx = Context(config, rec)
    if not found["partners"]:
        rec.problems.add(P.make("NO_PARTNERS"))
    for key in ORDER:
        convert = CONVERTERS[key]
        for table in sorted(found[key], key=lambda t: t.request is not None):  # updates after what they update
            convert(ctx, table)
    figures.finish(ctx)
    for name in FRAMES:
        setattr(rec, name, _frame(name, ctx.data[name]))
    seen: set[tuple[str, str, str, str, str]] = set()
    unique = []
    for p in rec.problems.items:  # a wide row repeats its partner/KPI problems per period: list them once
        k = (p.code, p.file, p.sheet, p.cell, p.value)
        if p.cell and k in seen:
            continue
        seen.add(k)
        unique.append(p)
    rec.problems.items = unique
    return rec


_DATE_COLUMNS = {"due_date", "baseline_due_date", "last_updated", "completed_date", "date"}
_FLOAT_COLUMNS = {"value", "original_value", "target", "weight", "rate", "percent_complete", "score"}  # weight: KPIs, canvas


def _frame(name: str, rows: dict[str, list]) -> pd.DataFrame:
    columns = list(FRAMES[name]) + list(PROVENANCE)
    data: dict[str, Any] = dict(rows)
    for c in columns:
        if c in _DATE_COLUMNS:
            data[c] = pd.to_datetime(pd.Series(data[c], dtype=object)).astype("datetime64[ns]")
        elif c in _FLOAT_COLUMNS:
            data[c] = pd.Series(data[c], dtype="float64")
        elif c == "row":
            data[c] = pd.Series(data[c], dtype="int64")
        elif c == "from_default":
            data[c] = pd.Series(data[c], dtype="bool")
        else:
            data[c] = pd.Series(data[c], dtype="str")
    return pd.DataFrame(data, columns=columns)
