"""Small helpers that write realistic input workbooks with openpyxl, for tests.

``write_xlsx(path, {"Sheet": rows})`` writes each row list from A1 down (None = blank cell). A string
starting with ``=`` becomes a formula; openpyxl stores no computed value for it, exactly like a
program that does not calculate. `clean_portfolio` writes a small, valid input folder.
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any, Iterable

Rows = list[list[Any]]

PARTNERS: Rows = [
    ["partner_id", "partner_name", "tier", "partner_lead", "partner_lead_email", "internal_owner",
     "internal_owner_email", "status"],
    ["ACME", "Acme Corp", "Strategic", "Ana Lead", "ana@acme.example", "Olga Owner", "olga@us.example", "active"],
    ["GLOBEX", "Globex", "Gold", "Gus Lead", "gus@globex.example; ops@globex.example", "Olga Owner",
     "olga@us.example", "active"],
    ["INITECH", "Initech", "Silver", "Ivy Lead", "ivy@initech.example", "Oscar Owner", "oscar@us.example", "ended"],
]
KPIS: Rows = [
    ["kpi_id", "kpi_name", "unit", "direction", "aggregation", "weight"],
    ["revenue", "Sourced revenue", "currency", "higher", "sum", 2],
    ["deals", "Deals closed", "count", "higher", "sum", 1],
    ["win_rate", "Win rate", "percent", "higher", "mean", 1],
]
TARGETS: Rows = [
    ["partner_id", "kpi_id", "period", "target"],
    ["ACME", "revenue", "2026-Q1", 100000],
    ["ACME", "deals", "2026-Q1", 10],
    ["GLOBEX", "revenue", "2026-Q1", 50000],
    ["*", "win_rate", "2026-Q1", 0.25],
]
ACTUALS: Rows = [
    ["partner_id", "kpi_id", "period", "value", "source", "currency", "note"],
    ["ACME", "revenue", "2026-Q1", 95000, "internal", None, None],
    ["ACME", "deals", "2026-Q1", 11, "internal", None, None],
    ["ACME", "win_rate", "2026-Q1", 0.3, "partner", None, "their CRM"],
    ["GLOBEX", "revenue", "2026-Q1", 52000.5, "internal", None, None],
]
COMMITMENTS: Rows = [
    ["commitment_id", "partner_id", "party", "description", "owner", "due_date", "baseline_due_date", "status",
     "percent_complete", "linked_kpi_id", "last_updated", "completed_date", "note", "internal_note"],
    ["C-001", "ACME", "us", "Joint webinar", "Olga Owner", dt.date(2026, 3, 15), dt.date(2026, 3, 1), "Done",
     1, "revenue", dt.date(2026, 3, 20), dt.date(2026, 3, 14), "went well", "budget from Q4"],
    ["C-002", "ACME", "partner", "Train 10 sellers", "Ana Lead", dt.date(2026, 6, 30), None, "In progress",
     0.4, None, dt.date(2026, 3, 1), None, None, None],
    ["C-003", "GLOBEX", "joint", "Co-sell plan", "Gus Lead", dt.date(2026, 2, 1), None, "Not started",
     None, "deals", dt.date(2026, 1, 10), None, None, None],
]
CHECKINS: Rows = [
    ["partner_id", "date", "type", "attendees", "summary"],
    ["ACME", dt.date(2026, 2, 10), "QBR", "Ana, Olga", "pipeline review"],
]


def write_xlsx(path: Path, sheets: dict[str, Rows], *, hidden_sheets: Iterable[str] = (),
               hidden_rows: dict[str, Iterable[int]] | None = None, merged: dict[str, Iterable[str]] | None = None,
               date1904: bool = False) -> Path:
    """Write a workbook: one sheet per entry, rows from A1 (None = blank). Returns the path. With `date1904`
    in the 1904 date system of older Mac Excel (openpyxl writes date1904="1" and real dates as 1904 serials)."""
    from openpyxl import Workbook

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    if date1904:
        from openpyxl.utils.datetime import CALENDAR_MAC_1904

        wb.epoch = CALENDAR_MAC_1904
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    ws.cell(row=r, column=c, value=value)
        for r in (hidden_rows or {}).get(name, ()):
            ws.row_dimensions[r].hidden = True
        for rng in (merged or {}).get(name, ()):
            ws.merge_cells(rng)
        if name in set(hidden_sheets):
            ws.sheet_state = "hidden"
    wb.save(path)
    return path


def write_csv(path: Path, rows: Rows) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["" if v is None else v for v in row] for row in rows])
    return path


def with_title(rows: Rows, *titles: str, gap: int = 1) -> Rows:
    """The same rows below title lines and `gap` blank rows, as people lay sheets out."""
    return [[t] for t in titles] + [[] for _ in range(gap)] + rows


def shift_right(rows: Rows, cols: int = 1) -> Rows:
    """The same rows starting `cols` columns to the right (a blank margin column)."""
    return [[None] * cols + list(row) if row else [] for row in rows]


def wide(rows: Rows, value_column: str) -> Rows:
    """A long Targets/Actuals table (partner_id, kpi_id, period, value) laid out wide: one column per period."""
    head = rows[0]
    ip, ik, iper, iv = (head.index(c) for c in ("partner_id", "kpi_id", "period", value_column))
    periods = list(dict.fromkeys(r[iper] for r in rows[1:]))
    keys = list(dict.fromkeys((r[ip], r[ik]) for r in rows[1:]))
    cells = {(r[ip], r[ik], r[iper]): r[iv] for r in rows[1:]}
    return [["partner_id", "kpi_id", *periods]] + [[p, k, *(cells.get((p, k, per)) for per in periods)] for p, k in keys]


def clean_portfolio(folder: Path) -> Path:
    """A small valid input folder: a registry workbook, a KPI plan, one actuals workbook per partner."""
    folder = Path(folder)
    write_xlsx(folder / "registry.xlsx", {"Partners": PARTNERS, "KPIs": KPIS})
    write_xlsx(folder / "plan.xlsx", {"Targets": TARGETS, "Commitments": COMMITMENTS, "Check-ins": CHECKINS})
    head = ACTUALS[0]
    for pid in ("ACME", "GLOBEX"):
        write_xlsx(folder / "actuals" / f"{pid.lower()}.xlsx", {"Actuals": [head] + [r for r in ACTUALS[1:] if r[0] == pid]})
    return folder
