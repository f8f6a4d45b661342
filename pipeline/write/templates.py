"""The blank input workbooks, generated from `pipeline.core.schema.SHEET_TYPES` so they can never disagree
with the contract (``docs/workbooks.md``).

Each template has an Instructions sheet (every column: required or not, what it holds, allowed values,
an example) and one data sheet per sheet type with a styled, frozen header row, an Excel table and data
validation (a drop-down for every enumerated column, date and number checks, and the column's help as
the input message). Examples live in the Instructions sheet only: a data row would be read as data.

The bytes are deterministic: fixed document properties and zip entry timestamps, so the committed
``input_templates/`` can be compared with a fresh run.
"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.schema import SHEET_TYPE_BY_KEY, Column, SheetType

FIXED_TIME = dt.datetime(2026, 1, 1, 0, 0, 0)   # document created/modified property of generated files
ZIP_TIME = (2026, 1, 1, 0, 0, 0)                 # zip entry timestamps of generated files
DATA_ROWS = 1000                                 # rows below the header that carry the data validation
AUTHOR = "partner-review"


@dataclass(frozen=True)
class TemplateFile:
    name: str                 # file name
    title: str                # shown on the Instructions sheet
    purpose: str              # one paragraph: what goes in this workbook
    sheets: tuple[str, ...]   # sheet type keys, in order


TEMPLATE_FILES: tuple[TemplateFile, ...] = (
    TemplateFile("partner_registry.xlsx", "Partner registry",
                 "One row per partner: the key every other workbook refers to, who receives the review and "
                 "who is accountable on our side. Set status to ended for partners that should get no review.",
                 ("partners",)),
    TemplateFile("kpi_plan.xlsx", "KPI plan",
                 "The KPIs the reviews measure (KPIs sheet), the quarterly targets per partner (Targets sheet) "
                 "and, when any figure is in another currency, the exchange rates (FX Rates sheet, optional).",
                 ("kpis", "targets", "fx_rates")),
    TemplateFile("kpi_actuals.xlsx", "KPI actuals",
                 "The figures for each partner, KPI and period: from our own systems (source internal) or as "
                 "the partner reported them (source partner). One workbook per partner is fine.",
                 ("actuals",)),
    TemplateFile("commitments.xlsx", "Commitments, check-ins and pulse",
                 "The joint business plan: what we, the partner, or both promised, by when, and how far it got. "
                 "The Check-ins sheet (optional) logs the meetings held with each partner; the Pulse sheet "
                 "(optional) holds how each partner rates the partnership, as returned in their data request.",
                 ("commitments", "checkins", "pulse")),
    TemplateFile("negotiation_canvas.xlsx", "Negotiation canvas (ours alone)",
                 "What we know and want going into each partner's review meeting: per partner and side, the goals, "
                 "interests, alternatives, limits, priorities, offers and asks, each with a weight. Ours alone, "
                 "like internal notes: it never appears in anything the partner receives.",
                 ("canvas",)),
)

# Example values for the Instructions sheet, by (sheet type key, column name); kind-based otherwise.
EXAMPLES: dict[tuple[str, str], str] = {
    ("partners", "partner_id"): "P001",
    ("partners", "partner_name"): "Brightwave Analytics",
    ("partners", "tier"): "Gold",
    ("partners", "partner_lead"): "Maya Okafor",
    ("partners", "partner_lead_email"): "maya.okafor@example.com; alliances@example.com",
    ("partners", "internal_owner"): "Jonas Weber",
    ("partners", "internal_owner_email"): "jonas.weber@example.org",
    ("kpis", "kpi_id"): "revenue",
    ("kpis", "kpi_name"): "Closed-won revenue",
    ("kpis", "weight"): "1",
    ("targets", "partner_id"): "P001 (or * for every partner)",
    ("targets", "target"): "250000",
    ("actuals", "value"): "243500.5",
    ("actuals", "currency"): "EUR",
    ("actuals", "note"): "includes one late-booked deal",
    ("commitments", "commitment_id"): "BW-01",
    ("commitments", "description"): "Certify five consultants on the joint offer",
    ("commitments", "owner"): "Maya Okafor",
    ("commitments", "percent_complete"): "40%",
    ("commitments", "linked_kpi_id"): "certified",
    ("commitments", "note"): "two of five certified so far",
    ("commitments", "internal_note"): "budget approved for exam vouchers",
    ("checkins", "type"): "QBR",
    ("checkins", "attendees"): "Maya Okafor, Jonas Weber",
    ("checkins", "summary"): "reviewed Q2 pipeline; agreed two joint events",
    ("pulse", "period"): "2026-Q3",
    ("pulse", "question_id"): "communication",
    ("pulse", "question"): "How well do we keep you informed?",
    ("pulse", "score"): "4",
    ("pulse", "comment"): "the monthly sync works; we'd like the pipeline report earlier",
    ("canvas", "text"): "a second distributor in the DACH region would cover half of this partner's pipeline",
    ("canvas", "weight"): "3",
    ("fx_rates", "currency"): "EUR",
    ("fx_rates", "rate"): "1.08",
}
# What a column holds, for columns whose schema help is empty.
DESCRIPTIONS: dict[str, str] = {
    "partner_id": "partner_id from the Partners sheet, or the exact partner_name",
    "kpi_id": "kpi_id from the KPIs sheet",
    "period": "the quarter or month the figure is for",
    "target": "the target for the period",
    "value": "the figure for the period",
    "note": "anything worth knowing about the figure",
    "date": "the day the meeting took place",
    "attendees": "who took part",
    "summary": "what was agreed",
    "due_date": "the date now agreed",
    "percent_complete": "how far it got",
    "last_updated": "when the row was last brought up to date",
    "completed_date": "when it was done",
    "currency": "currency code, e.g. EUR",
}
KIND_EXAMPLES = {"id": "P001", "period": "2026-Q2", "date": "2026-05-31", "number": "1234.5",
                 "email": "name@example.com", "percent": "40%", "text": ""}

# What the Instructions add about a sheet beyond its columns.
SHEET_NOTES: dict[str, tuple[str, ...]] = {
    "partners": ("Other sheets name a partner by partner_id or by exact partner_name.",),
    "targets": ("A partner_id of * sets the target for every partner without a target of its own for that KPI and period.",
                "Targets may also come wide: one row per partner and KPI, one column per period (headers like 2026-Q1, Q1 2026, Jan 2026)."),
    "actuals": ("A blank value is missing, never zero. Type numbers as numbers: text such as 12k is reported, not guessed.",
                "Percent KPIs: type 15% (or 0.15).",
                "Actuals may also come wide: one row per partner and KPI, one column per period (headers like 2026-Q1, Q1 2026, Jan 2026)."),
    "commitments": ("Keep commitment_id stable from quarter to quarter; move due_date when a date slips and keep baseline_due_date as first agreed.",
                    "internal_note is ours alone: it never appears in a partner-facing review."),
    "checkins": ("Optional. When this sheet exists, a partner with no check-in in the quarter is flagged.",),
    "fx_rates": ("Optional. Needed only when actuals carry a currency other than the reporting currency.",),
    "canvas": ("Optional, and ours alone: never in a review, data request or e-mail the partner receives.",
               "One row per entry; side us is what we want and can give, side partner what we believe they want."),
    "pulse": ("Optional. One row per partner, quarter and question; a blank score is a question not answered (never zero).",
              "It normally arrives in the data request the partner returns; the scores are whole numbers from 1 to 5."),
}

GENERAL_NOTES = (
    "Type one row per record directly under the header row, inside the table. Keep the header names as they are; "
    "column order and extra columns of your own do not matter.",
    "Columns with a dark header are required: a row missing one is excluded and reported.",
    "Pick enumerated values from the drop-down. Enter dates as real dates (or ISO text such as 2026-05-31).",
    "Sheets of your own (like this one) are ignored. Any number of workbooks may feed the same sheet.",
    "Check your workbooks with: partner-review validate --input <folder>",
)

HEADER_REQUIRED = ("FFFFFF", "1F3864")   # font colour, fill: required columns
HEADER_OPTIONAL = ("1F3864", "D9E1F2")   # optional columns
TABLE_STYLE = "TableStyleLight9"


def write_templates(output_dir: Path | str) -> list[Path]:
    """Write every blank template into `output_dir` (created if missing); return the files written."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in TEMPLATE_FILES:
        path = out / spec.name
        save_deterministic(build_template(spec), path)
        written.append(path)
    return written


def build_template(spec: TemplateFile):
    """The openpyxl Workbook of one template (not saved)."""
    from openpyxl import Workbook

    wb = Workbook()
    _instructions(wb.active, spec)
    for key in spec.sheets:
        _data_sheet(wb.create_sheet(SHEET_TYPE_BY_KEY[key].title), SHEET_TYPE_BY_KEY[key])
    wb.active = 0
    return wb


def example(sheet: SheetType, column: Column) -> str:
    """The example value shown for a column in the Instructions sheet."""
    if (sheet.key, column.name) in EXAMPLES:
        return EXAMPLES[(sheet.key, column.name)]
    if column.choices:
        return column.choices[0]
    return KIND_EXAMPLES.get(column.kind, "")


def describe(column: Column) -> str:
    """What a column holds, in words (the schema's help, or a description by column name)."""
    return column.help or DESCRIPTIONS.get(column.name, "")


def allowed(column: Column) -> str:
    """The allowed values of a column, in words."""
    if column.choices:
        return ", ".join(column.choices)
    return {"date": "a date", "number": "a number", "percent": "a percentage (40% or 0.4)",
            "period": "2026-Q2, Q2 2026, 2026-05, May 2026 or a date",
            "email": "e-mail addresses separated by ; or ,"}.get(column.kind, "any text")


def _instructions(ws, spec: TemplateFile) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    ws.title = "Instructions"
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    ws.append([f"{spec.title}: partner-review input template"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([spec.purpose])
    ws.append([])
    for note in GENERAL_NOTES:
        ws.append(["• " + note])
    for key in spec.sheets:
        sheet = SHEET_TYPE_BY_KEY[key]
        ws.append([])
        ws.append([f"Sheet '{sheet.title}'" + (" (optional)" if sheet.optional else "")])
        ws.cell(ws.max_row, 1).font = Font(bold=True, size=12)
        if sheet.aliases:
            ws.append(["The sheet may also be named: " + ", ".join(sheet.aliases)])
        for note in SHEET_NOTES.get(key, ()):
            ws.append(["• " + note])
        ws.append(["Column", "Required", "Also accepted as", "What it holds", "Allowed values", "Example"])
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True, color=HEADER_REQUIRED[0])
            cell.fill = PatternFill("solid", fgColor=HEADER_REQUIRED[1])
        for col in sheet.columns:
            ws.append([col.name, "yes" if col.required else "", ", ".join(col.aliases), describe(col),
                       allowed(col), example(sheet, col)])
            row = ws[ws.max_row]
            for cell in row:
                cell.alignment = wrap
            if col.required:
                row[0].font = bold
                row[1].font = bold
    for letter, width in zip("ABCDEF", (24, 10, 26, 56, 34, 30)):
        ws.column_dimensions[letter].width = width
    ws.sheet_view.showGridLines = False


def _data_sheet(ws, sheet: SheetType) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.table import Table, TableStyleInfo

    for idx, col in enumerate(sheet.columns, start=1):
        cell = ws.cell(1, idx, col.name)
        fg, bg = HEADER_REQUIRED if col.required else HEADER_OPTIONAL
        cell.font = Font(bold=col.required, color=fg)
        cell.fill = PatternFill("solid", fgColor=bg)
        cell.alignment = Alignment(vertical="center")
        letter = get_column_letter(idx)
        dim = ws.column_dimensions[letter]
        dim.width = _width(sheet, col)
        fmt = {"date": "yyyy-mm-dd", "percent": "0%", "id": "@"}.get(col.kind)
        if fmt:
            dim.number_format = fmt
        _validation(ws, col, f"{letter}2:{letter}{DATA_ROWS + 1}")
    last = get_column_letter(len(sheet.columns))
    table = Table(displayName="tbl" + "".join(ch for ch in sheet.title if ch.isalnum()), ref=f"A1:{last}2")
    table.tableStyleInfo = TableStyleInfo(name=TABLE_STYLE, showRowStripes=True)
    ws.add_table(table)
    ws.freeze_panes = "A2"


def _width(sheet: SheetType, col: Column) -> float:
    if col.name in ("description", "note", "internal_note", "summary"):
        return 42
    longest = max(len(col.name), len(example(sheet, col)), 10)
    return float(min(longest + 3, 40))


def _validation(ws, col: Column, ref: str) -> None:
    from openpyxl.worksheet.datavalidation import DataValidation

    prompt = "; ".join(t for t in (describe(col), allowed(col) if allowed(col) != "any text" else "") if t)[:250]
    if col.required:
        prompt = ("Required. " + prompt)[:250]
    if col.choices:
        dv = DataValidation(type="list", formula1='"' + ",".join(col.choices) + '"', allow_blank=True,
                            error=f"Choose one of {', '.join(col.choices)}", errorTitle=col.name[:32])
    elif col.kind == "date":
        dv = DataValidation(type="date", operator="between", formula1="DATE(2000,1,1)", formula2="DATE(2100,12,31)",
                            allow_blank=True, error="Enter a date such as 2026-05-31", errorTitle=col.name[:32])
    elif col.kind in ("number", "percent"):
        dv = DataValidation(type="decimal", operator="between", formula1="-1000000000000000",
                            formula2="1000000000000000", allow_blank=True,
                            error="Enter a plain number such as 1234.5 (or 40% for a percentage)", errorTitle=col.name[:32])
    else:
        dv = DataValidation(allow_blank=True)  # any value: only the input message
        dv.showErrorMessage = False
    if col.choices or col.kind in ("date", "number", "percent"):
        dv.showErrorMessage = True
        dv.errorStyle = "stop"
    dv.showInputMessage = True
    dv.promptTitle = col.name[:32]
    dv.prompt = prompt
    dv.add(ref)
    ws.add_data_validation(dv)


def save_deterministic(wb: Any, path: Path | str, *, when: dt.datetime = FIXED_TIME, author: str = AUTHOR) -> Path:
    """Save `wb` so the same workbook always gives the same bytes (fixed properties and zip timestamps).

    Written aside and renamed, so a crash never leaves half a file.
    """
    from openpyxl.writer.excel import ExcelWriter

    wb.properties.created = when
    wb.properties.modified = when
    wb.properties.creator = author
    wb.properties.lastModifiedBy = author
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()  # openpyxl's save_workbook() would stamp modified with now
    fixed = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, src.read(info.filename))
    from pipeline.core.files import atomic_write

    return atomic_write(Path(path), fixed.getvalue())
