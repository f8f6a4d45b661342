"""The data request workbook sent with each review (`pipeline.analyse.requests.DataRequest` decides what
it asks): an ordinary contract workbook holding that partner's rows alone.

Sheets: Instructions (what to fill, by when, how to send it back); Actuals (one row per KPI and period to
report, the value cell blank for them, source ``partner``; our target, the unit and last quarter's figure
beside it for reference); Commitments (their own and the joint open commitments: status, percent complete,
due date and note to update); Our commitments (ours, for reference only); Pulse (the questions to score
1-5 with a comment each). The cells they fill are white, unlocked and validated (a drop-down for status,
source and score; dates and numbers checked); the reference cells are grey and the sheets protected
(without a password: it prevents accidents, not edits). Reference columns have headers no sheet type
reads, so a returned request never reads them back as new figures. The bytes are deterministic.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.schema import COMMITMENT_STATES, PULSE_SCORES, REQUEST_MARK
from pipeline.render.identity import request_keywords
from pipeline.write.templates import save_deterministic

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.analyse.requests import DataRequest

FILL = "FFFFFF"            # cells they fill
REFERENCE = "E7E9EE"       # cells for reference only
HEAD = ("FFFFFF", "1F3864")
EXTRA_ROWS = 20            # validated blank rows below the pre-filled ones (a KPI or commitment we missed)


def request_file_name(review_pdf: str, reviewed: str, quarter: str) -> str:
    """The request's file name, from its partner's review file name (unique already, see
    `pipeline.write.outputs.review_file_names`): ``Acme_2026-Q3_partnership-review.pdf`` ->
    ``Acme_2026-Q4_data-request.xlsx``."""
    stem = review_pdf.removesuffix(".pdf").removesuffix(f"_{reviewed}_partnership-review")
    return f"{stem}_{quarter}_data-request.xlsx"


def write_request(request: DataRequest, path: Path) -> Path:
    """Write the request workbook to `path` (atomically; the same request gives the same bytes)."""
    from openpyxl import Workbook

    wb = Workbook()
    _instructions(wb.active, request)
    _actuals(wb.create_sheet("Actuals"), request)
    _commitments(wb.create_sheet("Commitments"), request)
    _ours(wb.create_sheet("Our commitments"), request)
    _pulse(wb.create_sheet("Pulse"), request)
    wb.active = 0
    wb.properties.title = f"{request.partner_name}: data request for {request.quarter}"
    wb.properties.subject = "partner-review data request"
    wb.properties.keywords = request_keywords(request.partner_id, request.quarter, request.reviewed,
                                              request.due.isoformat())
    return save_deterministic(wb, path, author=request.organisation or "partner-review")


# --- the sheets ------------------------------------------------------------------------------------

def _instructions(ws: Any, r: DataRequest) -> None:
    from openpyxl.styles import Alignment, Font

    ws.title = "Instructions"
    us = r.organisation or "us"
    owner = r.internal_owner + (f" <{r.internal_owner_email}>" if r.internal_owner_email else "")
    lines = [
        (f"Data request for {r.partner_name}: {r.quarter}", Font(bold=True, size=14)),
        (f"From {us}" + (f", prepared for {r.partner_lead}" if r.partner_lead else "") +
         f", with the review of {r.reviewed}.", None),
        ("", None),
        ("What we ask", Font(bold=True, size=12)),
        (f"1. Actuals: your figure for each KPI and period of {r.quarter}, in the white 'value' column "
         "(a blank means not known yet, never zero; percentages as 15%). Our target, the unit and last "
         "quarter's figure are beside it in grey, for reference.", None),
        ("2. Commitments: where each of your and our joint commitments stands now is in grey; write in the white "
         "cells only what changed (the status from the drop-down, how far it got, a new due date, a note). A "
         "blank means no change. Our own commitments are on the sheet 'Our commitments', for reference.", None),
        ("3. Pulse: how the partnership is working for you, each question scored from 1 (poor) to 5 (excellent), "
         "with a comment if you like. A question left blank is simply not answered.", None),
        ("", None),
        ("By when and how", Font(bold=True, size=12)),
        (f"Please send it back by {r.due:%d %B %Y}: reply to the e-mail this came with and attach this workbook"
         + (f", or send it to {owner}" if owner else "") + ".", None),
        ("Please keep the sheet names and the header rows as they are. White cells are for you; grey cells are "
         "for reference and are not read back. Rows you add below the last one are read too.", None),
        ("", None),
        (f"{REQUEST_MARK} " + json.dumps({"partner_id": r.partner_id, "quarter": r.quarter, "reviewed": r.reviewed},
                                         ensure_ascii=False, sort_keys=True), Font(size=8, color="808080")),
    ]
    for text, font in lines:
        ws.append([text])
        if font is not None:
            ws.cell(ws.max_row, 1).font = font
        ws.cell(ws.max_row, 1).alignment = Alignment(wrap_text=True, vertical="top")
    ws.column_dimensions["A"].width = 110


def _actuals(ws: Any, r: DataRequest) -> None:
    cols = [("partner_id", False, 12), ("kpi_id", False, 14), ("period", False, 10), ("value", True, 14),
            ("source", True, 10), ("note", True, 36), ("KPI name (reference)", False, 30),
            ("unit (reference)", False, 12), ("our target for the quarter (reference)", False, 18),
            (f"last quarter, {r.reviewed} (reference)", False, 18)]
    _header(ws, cols)
    n = 1
    for k in r.kpis:
        for period in k.periods:
            n += 1
            ws.append([r.partner_id, k.kpi_id, period, None, "partner", None, k.kpi_name, k.unit, k.target,
                       k.last_value])
    _style(ws, cols, n)
    _list(ws, "E", n, ("partner",), "source")
    _decimal(ws, "D", n, "value", "a number, e.g. 1234.5 (percentages as 15%)")


def _commitments(ws: Any, r: DataRequest) -> None:
    """Where each stands now in grey; the white cells are blank and they fill only what changed (a blank
    is no change, so a request returned untouched never puts back an older state over a newer log)."""
    cols = [("commitment_id", False, 14), ("partner_id", False, 12), ("party", False, 9),
            ("description", False, 44), ("owner (reference)", False, 18), ("status now (reference)", False, 14),
            ("how far now (reference)", False, 12), ("due now (reference)", False, 13),
            ("status", True, 13), ("percent_complete", True, 11), ("due_date", True, 13), ("note", True, 40)]
    _header(ws, cols)
    for c in r.theirs:
        ws.append([c.commitment_id, r.partner_id, c.party, c.description, c.owner, c.status.replace("_", " "),
                   c.percent_complete, c.due_date, None, None, None, None])
    n = 1 + len(r.theirs)
    _style(ws, cols, n)
    for row in range(2, n + 1):
        ws.cell(row, 7).number_format = "0%"
        ws.cell(row, 8).number_format = "yyyy-mm-dd"
    ws.column_dimensions["J"].number_format = "0%"
    ws.column_dimensions["K"].number_format = "yyyy-mm-dd"
    _list(ws, "I", n, COMMITMENT_STATES, "status", prompt="only if it changed: where it stands now")
    _decimal(ws, "J", n, "percent_complete", "how far it got: 0% to 100%", low=0, high=1)
    _date(ws, "K", n, "due_date")


def _ours(ws: Any, r: DataRequest) -> None:
    cols = [("Commitment (reference)", False, 16), ("What we promised (reference)", False, 50),
            ("Who (reference)", False, 18), ("Due (reference)", False, 13), ("Where it stands (reference)", False, 18),
            ("How far (reference)", False, 12)]
    _header(ws, cols)
    for c in r.ours:
        ws.append([c.commitment_id, c.description, c.owner, c.due_date, c.status.replace("_", " "),
                   c.percent_complete])
    n = 1 + len(r.ours)
    _style(ws, cols, n, extra=False)
    for row in range(2, n + 1):
        ws.cell(row, 4).number_format = "yyyy-mm-dd"
        ws.cell(row, 6).number_format = "0%"


def _pulse(ws: Any, r: DataRequest) -> None:
    cols = [("partner_id", False, 12), ("period", False, 10), ("question_id", False, 16), ("question", False, 70),
            ("score", True, 8), ("comment", True, 50)]
    _header(ws, cols)
    for qid, question in r.questions:
        ws.append([r.partner_id, r.quarter, qid, question, None, None])
    n = 1 + len(r.questions)
    _style(ws, cols, n, extra=False)
    low, high = PULSE_SCORES
    _list(ws, "E", n, tuple(str(s) for s in range(low, high + 1)), "score",
          prompt=f"{low} (poor) to {high} (excellent); leave blank to skip the question")


# --- cells -----------------------------------------------------------------------------------------

def _header(ws: Any, cols: list[tuple[str, bool, int]]) -> None:
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws.append([name for name, _fill, _width in cols])
    ws.page_setup.orientation = "landscape"          # printed: every column on one page's width
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    for i, (_name, _fill, width) in enumerate(cols, start=1):
        cell = ws.cell(1, i)
        cell.font = Font(bold=True, color=HEAD[0])
        cell.fill = PatternFill("solid", fgColor=HEAD[1])
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"


def _style(ws: Any, cols: list[tuple[str, bool, int]], last: int, *, extra: bool = True) -> None:
    """Reference cells grey (and locked, as every cell is by default); the columns they fill unlocked as
    column styles, which cover their blank cells and the rows they add below; the sheet protected without
    a password. Only the reference cells carry a style of their own (a style per cell is what costs)."""
    from openpyxl.styles import PatternFill, Protection

    grey = PatternFill("solid", fgColor=REFERENCE)
    open_cell = Protection(locked=False)
    for i, (_name, fill, _width) in enumerate(cols, start=1):
        letter = ws.cell(1, i).column_letter
        if fill:
            ws.column_dimensions[letter].protection = open_cell
            for row in range(2, last + 1):
                cell = ws.cell(row, i)
                if cell.value is not None:  # pre-filled, theirs to change: unlocked like the column
                    cell.protection = open_cell
        else:
            for row in range(2, last + 1):
                ws.cell(row, i).fill = grey
    if extra:  # rows they add below the last one: every column theirs
        for row in range(last + 1, last + EXTRA_ROWS + 1):
            ws.row_dimensions[row].protection = open_cell
    ws.protection.sheet = True
    ws.protection.formatCells = False
    ws.protection.formatColumns = False
    ws.protection.insertRows = False
    ws.protection.sort = False
    ws.protection.autoFilter = False


def _list(ws: Any, letter: str, last: int, choices: tuple[str, ...], title: str, prompt: str = "") -> None:
    from openpyxl.worksheet.datavalidation import DataValidation

    dv = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True,
                        showErrorMessage=True, errorStyle="stop", errorTitle=title[:32],
                        error=f"Choose one of {', '.join(choices)}", showInputMessage=bool(prompt),
                        promptTitle=title[:32], prompt=prompt[:250] or None)
    dv.add(f"{letter}2:{letter}{last + EXTRA_ROWS}")
    ws.add_data_validation(dv)


def _decimal(ws: Any, letter: str, last: int, title: str, prompt: str, low: float = -1e15, high: float = 1e15) -> None:
    from openpyxl.worksheet.datavalidation import DataValidation

    dv = DataValidation(type="decimal", operator="between", formula1=repr(low), formula2=repr(high), allow_blank=True,
                        showErrorMessage=True, errorStyle="stop", errorTitle=title[:32], error=f"Enter {prompt}",
                        showInputMessage=True, promptTitle=title[:32], prompt=prompt[:250])
    dv.add(f"{letter}2:{letter}{last + EXTRA_ROWS}")
    ws.add_data_validation(dv)


def _date(ws: Any, letter: str, last: int, title: str) -> None:
    from openpyxl.worksheet.datavalidation import DataValidation

    dv = DataValidation(type="date", operator="between", formula1="DATE(2000,1,1)", formula2="DATE(2100,12,31)",
                        allow_blank=True, showErrorMessage=True, errorStyle="stop", errorTitle=title[:32],
                        error="Enter a date such as 2026-05-31", showInputMessage=True, promptTitle=title[:32],
                        prompt="the date now agreed")
    dv.add(f"{letter}2:{letter}{last + EXTRA_ROWS}")
    ws.add_data_validation(dv)
