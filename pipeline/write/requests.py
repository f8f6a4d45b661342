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

The OOXML parts are written directly (as `pipeline.write.xlsx` does for reconciled.xlsx): a request costs
about 2 ms instead of openpyxl's 60, which at 200 partners is the difference between a report that keeps
its speed and one 30% slower. tests/test_requests.py reads every request back with openpyxl and opens one
in LibreOffice.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.files import atomic_write
from pipeline.core.schema import COMMITMENT_STATES, PULSE_SCORES, REQUEST_MARK
from pipeline.read.raw import column_letter
from pipeline.render.identity import request_keywords
from pipeline.write.xlsx import NS_MAIN, NS_PKG_REL, NS_REL, XML_HEAD, attr, escape_text

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
    import io
    import zipfile

    r = request
    sheets = [("Instructions", _instructions(r)), ("Actuals", _actuals(r)), ("Commitments", _commitments(r)),
              ("Our commitments", _ours(r)), ("Pulse", _pulse(r))]
    title = f"{r.partner_name}: data request for {r.quarter}"
    parts = _package([name for name, _xml in sheets], title, r.organisation or "partner-review",
                     request_keywords(r.partner_id, r.quarter, r.reviewed, r.due.isoformat()))
    parts += [(f"xl/worksheets/sheet{i}.xml", xml) for i, (_name, xml) in enumerate(sheets, 1)]
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, text in parts:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o600 << 16
            z.writestr(info, text.encode("utf-8"))
    return atomic_write(Path(path), raw.getvalue())


# --- styles: one cellXfs index per look ---------------------------------------------------------------
_HEAD_S, _REF, _REF_PCT, _REF_DATE, _OPEN, _OPEN_PCT, _OPEN_DATE, _TITLE, _H2, _SMALL, _WRAP = range(1, 12)
_COLUMN_STYLE = {"": _OPEN, "pct": _OPEN_PCT, "date": _OPEN_DATE}


def _instructions(r: DataRequest) -> str:
    us = r.organisation or "us"
    owner = r.internal_owner + (f" <{r.internal_owner_email}>" if r.internal_owner_email else "")
    lines = [
        (f"Data request for {r.partner_name}: {r.quarter}", _TITLE),
        (f"From {us}" + (f", prepared for {r.partner_lead}" if r.partner_lead else "") +
         f", with the review of {r.reviewed}.", _WRAP),
        ("", 0),
        ("What we ask", _H2),
        (f"1. Actuals: your figure for each KPI and period of {r.quarter}, in the white 'value' column "
         "(a blank means not known yet, never zero; percentages as 15%). Our target, the unit and last "
         "quarter's figure are beside it in grey, for reference.", _WRAP),
        ("2. Commitments: where each of your and our joint commitments stands now is in grey; write in the white "
         "cells only what changed (the status from the drop-down, how far it got, a new due date, a note). A "
         "blank means no change. Our own commitments are on the sheet 'Our commitments', for reference.", _WRAP),
        ("3. Pulse: how the partnership is working for you, each question scored from 1 (poor) to 5 (excellent), "
         "with a comment if you like. A question left blank is simply not answered.", _WRAP),
        ("", 0),
        ("By when and how", _H2),
        (f"Please send it back by {r.due:%d %B %Y}: reply to the e-mail this came with and attach this workbook"
         + (f", or send it to {owner}" if owner else "") + ".", _WRAP),
        ("Please keep the sheet names and the header rows as they are. White cells are for you; grey cells are "
         "for reference and are not read back. Rows you add below the last one are read too.", _WRAP),
        ("", 0),
        (f"{REQUEST_MARK} " + json.dumps({"partner_id": r.partner_id, "quarter": r.quarter, "reviewed": r.reviewed},
                                         ensure_ascii=False, sort_keys=True), _SMALL),
    ]
    rows = [_row(i, [(text, style)]) for i, (text, style) in enumerate(lines, 1) if text]
    return _sheet(rows, cols='<cols><col min="1" max="1" width="110" customWidth="1"/></cols>', frozen=False,
                  protect=False, validations="", landscape=False)


def _actuals(r: DataRequest) -> str:
    cols = [("partner_id", "", 12), ("kpi_id", "", 14), ("period", "", 10), ("value", "open", 14),
            ("source", "open", 10), ("note", "open", 36), ("KPI name (reference)", "", 30),
            ("unit (reference)", "", 12), ("our target for the quarter (reference)", "", 18),
            (f"last quarter, {r.reviewed} (reference)", "", 18)]
    body = []
    for k in r.kpis:
        for period in k.periods:
            body.append([r.partner_id, k.kpi_id, period, None, "partner", None, k.kpi_name, k.unit, k.target,
                         k.last_value])
    n = 1 + len(body)
    return _table(cols, body, validations=_list("E", n, ("partner",), "source")
                  + _decimal("D", n, "value", "a number, e.g. 1234.5 (percentages as 15%)"))


def _commitments(r: DataRequest) -> str:
    """Where each stands now in grey; the white cells are blank and they fill only what changed (a blank
    is no change, so a request returned untouched never puts back an older state over a newer log)."""
    cols = [("commitment_id", "", 14), ("partner_id", "", 12), ("party", "", 9), ("description", "", 44),
            ("owner (reference)", "", 18), ("status now (reference)", "", 14), ("how far now (reference)", "pct", 12),
            ("due now (reference)", "date", 13), ("status", "open", 13), ("percent_complete", "open pct", 11),
            ("due_date", "open date", 13), ("note", "open", 40)]
    body = [[c.commitment_id, r.partner_id, c.party, c.description, c.owner, c.status.replace("_", " "),
             c.percent_complete, c.due_date, None, None, None, None] for c in r.theirs]
    n = 1 + len(body)
    return _table(cols, body, validations=_list("I", n, COMMITMENT_STATES, "status",
                                                "only if it changed: where it stands now")
                  + _decimal("J", n, "percent_complete", "how far it got: 0% to 100%", low=0, high=1)
                  + _date("K", n, "due_date"))


def _ours(r: DataRequest) -> str:
    cols = [("Commitment (reference)", "", 16), ("What we promised (reference)", "", 50), ("Who (reference)", "", 18),
            ("Due (reference)", "date", 13), ("Where it stands (reference)", "", 18), ("How far (reference)", "pct", 12)]
    body = [[c.commitment_id, c.description, c.owner, c.due_date, c.status.replace("_", " "), c.percent_complete]
            for c in r.ours]
    return _table(cols, body, validations="", extra=False)


def _pulse(r: DataRequest) -> str:
    cols = [("partner_id", "", 12), ("period", "", 10), ("question_id", "", 16), ("question", "", 70),
            ("score", "open", 8), ("comment", "open", 50)]
    body = [[r.partner_id, r.quarter, qid, question, None, None] for qid, question in r.questions]
    n = 1 + len(body)
    low, high = PULSE_SCORES
    return _table(cols, body, extra=False, validations=_list(
        "E", n, tuple(str(s) for s in range(low, high + 1)), "score",
        f"{low} (poor) to {high} (excellent); leave blank to skip the question"))


# --- sheet XML -------------------------------------------------------------------------------------

def _table(cols: list[tuple[str, str, int]], body: list[list[Any]], *, validations: str, extra: bool = True) -> str:
    """A header row and the rows below: reference cells grey (locked, as every cell is by default), the
    columns they fill unlocked by column style (their blank cells and the rows they add below), the
    sheet protected without a password, frozen below the header."""
    rows = [_row(1, [(name, _HEAD_S) for name, _kind, _w in cols])]
    for i, values in enumerate(body, 2):
        cells = []
        for (_name, kind, _w), value in zip(cols, values):
            open_ = kind.startswith("open")
            fmt = "pct" if kind.endswith("pct") else "date" if kind.endswith("date") else ""
            style = {"": (_REF, _OPEN), "pct": (_REF_PCT, _OPEN_PCT), "date": (_REF_DATE, _OPEN_DATE)}[fmt][open_]
            cells.append((value, style))
        rows.append(_row(i, cells))
    if extra:  # rows they add below the last one: every column theirs
        last = len(body) + 1
        rows += [f'<row r="{i}" s="{_OPEN}" customFormat="1"/>' for i in range(last + 1, last + EXTRA_ROWS + 1)]
    col_xml = "".join(
        f'<col min="{i}" max="{i}" width="{w}" customWidth="1"'
        + (f' style="{_COLUMN_STYLE["pct" if kind.endswith("pct") else "date" if kind.endswith("date") else ""]}"'
           if kind.startswith("open") else "") + "/>"
        for i, (_n, kind, w) in enumerate(cols, 1))
    return _sheet(rows, cols=f"<cols>{col_xml}</cols>", frozen=True, protect=True, validations=validations)


def _sheet(rows: list[str], *, cols: str, frozen: bool, protect: bool, validations: str, landscape: bool = True) -> str:
    view = ('<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
            'state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
            if frozen else '<sheetViews><sheetView workbookViewId="0"/></sheetViews>')
    protection = ('<sheetProtection sheet="1" objects="1" scenarios="1" formatCells="0" formatColumns="0" '
                  'insertRows="0" sort="0" autoFilter="0"/>' if protect else "")
    setup = ('<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>' if landscape else "")
    if validations:
        validations = f'<dataValidations count="{validations.count("<dataValidation ")}">{validations}</dataValidations>'
    return (f'{XML_HEAD}<worksheet xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">'
            + ('<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>' if landscape else "")
            + f'{view}<sheetFormatPr defaultRowHeight="15"/>{cols}<sheetData>{"".join(rows)}</sheetData>'
            f'{protection}{validations}<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" '
            f'footer="0.3"/>{setup}</worksheet>')


def _row(r: int, cells: list[tuple[Any, int]]) -> str:
    out = []
    for j, (value, style) in enumerate(cells, 1):
        ref = f"{column_letter(j)}{r}"
        s = f' s="{style}"' if style else ""
        if value is None or value == "":
            out.append(f'<c r="{ref}"{s}/>')
        elif isinstance(value, bool):
            out.append(f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>')
        elif isinstance(value, (int, float)):
            out.append(f'<c r="{ref}"{s}><v>{value!r}</v></c>' if math.isfinite(value) else f'<c r="{ref}"{s}/>')
        elif isinstance(value, dt.date):
            serial = (value - dt.date(1899, 12, 30)).days
            out.append(f'<c r="{ref}"{s}><v>{serial}</v></c>')
        else:
            out.append(f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">{escape_text(str(value))}</t></is></c>')
    return f'<row r="{r}">{"".join(out)}</row>'


def _dv(kind: str, ref: str, title: str, error: str, prompt: str, formula1: str, formula2: str = "",
        operator: str = "") -> str:
    attrs = (f'type="{kind}"' + (f' operator="{operator}"' if operator else "")
             + ' allowBlank="1" showInputMessage="1" showErrorMessage="1" errorStyle="stop"'
             + f' errorTitle="{attr(title[:32])}" error="{attr(error)}" promptTitle="{attr(title[:32])}"'
             + (f' prompt="{attr(prompt[:250])}"' if prompt else "") + f' sqref="{ref}"')
    return (f"<dataValidation {attrs}><formula1>{escape_text(formula1)}</formula1>"
            + (f"<formula2>{escape_text(formula2)}</formula2>" if formula2 else "") + "</dataValidation>")


def _list(letter: str, last: int, choices: tuple[str, ...], title: str, prompt: str = "") -> str:
    return _dv("list", f"{letter}2:{letter}{last + EXTRA_ROWS}", title, f"Choose one of {', '.join(choices)}",
               prompt, '"' + ",".join(choices) + '"')


def _decimal(letter: str, last: int, title: str, prompt: str, low: float = -1e15, high: float = 1e15) -> str:
    return _dv("decimal", f"{letter}2:{letter}{last + EXTRA_ROWS}", title, f"Enter {prompt}", prompt, repr(low),
               repr(high), "between")


def _date(letter: str, last: int, title: str) -> str:
    return _dv("date", f"{letter}2:{letter}{last + EXTRA_ROWS}", title, "Enter a date such as 2026-05-31",
               "the date now agreed", "DATE(2000,1,1)", "DATE(2100,12,31)", "between")


# --- the package ------------------------------------------------------------------------------------

def _package(titles: list[str], title: str, author: str, keywords: str) -> list[tuple[str, str]]:
    """Every part but the sheets: content types, relationships, workbook, styles, document properties."""
    n = len(titles)
    ct = "application/vnd.openxmlformats-officedocument"
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{ct}.spreadsheetml.worksheet+xml"/>'
                        for i in range(1, n + 1))
    types = (f'{XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
             '<Default Extension="xml" ContentType="application/xml"/>'
             f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.spreadsheetml.sheet.main+xml"/>'
             f'<Override PartName="/xl/styles.xml" ContentType="{ct}.spreadsheetml.styles+xml"/>'
             '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
             f'<Override PartName="/docProps/app.xml" ContentType="{ct}.extended-properties+xml"/>{overrides}</Types>')
    root = (f'{XML_HEAD}<Relationships xmlns="{NS_PKG_REL}">'
            f'<Relationship Id="rId1" Type="{NS_REL}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
            'core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{NS_REL}/extended-properties" Target="docProps/app.xml"/></Relationships>')
    sheets = "".join(f'<sheet name="{attr(t)}" sheetId="{i}" r:id="rId{i}"/>' for i, t in enumerate(titles, 1))
    workbook = (f'{XML_HEAD}<workbook xmlns="{NS_MAIN}" xmlns:r="{NS_REL}"><bookViews><workbookView activeTab="0"/>'
                f"</bookViews><sheets>{sheets}</sheets></workbook>")
    rels = "".join(f'<Relationship Id="rId{i}" Type="{NS_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                   for i in range(1, n + 1))
    wb_rels = (f'{XML_HEAD}<Relationships xmlns="{NS_PKG_REL}">{rels}'
               f'<Relationship Id="rId{n + 1}" Type="{NS_REL}/styles" Target="styles.xml"/></Relationships>')
    when = "2026-01-01T00:00:00Z"
    core = (f'{XML_HEAD}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
            'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:title>{escape_text(title)}</dc:title><dc:subject>partner-review data request</dc:subject>"
            f"<dc:creator>{escape_text(author)}</dc:creator><cp:keywords>{escape_text(keywords)}</cp:keywords>"
            f"<cp:lastModifiedBy>{escape_text(author)}</cp:lastModifiedBy>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{when}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{when}</dcterms:modified></cp:coreProperties>')
    app = (f'{XML_HEAD}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
           "<Application>partner-review</Application></Properties>")
    font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
    fonts = (f'<fonts count="5"><font>{font}</font><font><b/><color rgb="FF{HEAD[0]}"/>{font}</font>'
             '<font><b/><sz val="14"/><name val="Calibri"/><family val="2"/></font>'
             '<font><b/><sz val="12"/><name val="Calibri"/><family val="2"/></font>'
             '<font><sz val="8"/><color rgb="FF808080"/><name val="Calibri"/><family val="2"/></font></fonts>')
    fills = ('<fills count="4"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
             f'</fill><fill><patternFill patternType="solid"><fgColor rgb="FF{HEAD[1]}"/></patternFill></fill>'
             f'<fill><patternFill patternType="solid"><fgColor rgb="FF{REFERENCE}"/></patternFill></fill></fills>')
    unlocked = '<protection locked="0"/>'

    def xf(num: int = 0, font_id: int = 0, fill: int = 0, inner: str = "", extra: str = "") -> str:
        return (f'<xf numFmtId="{num}" fontId="{font_id}" fillId="{fill}" borderId="0" xfId="0"{extra}'
                + (f">{inner}</xf>" if inner else "/>"))

    xfs = [xf(), xf(font_id=1, fill=2, extra=' applyFont="1" applyFill="1"'),
           xf(fill=3, extra=' applyFill="1"'), xf(164, fill=3, extra=' applyFill="1" applyNumberFormat="1"'),
           xf(165, fill=3, extra=' applyFill="1" applyNumberFormat="1"'),
           xf(inner=unlocked, extra=' applyProtection="1"'),
           xf(164, inner=unlocked, extra=' applyNumberFormat="1" applyProtection="1"'),
           xf(165, inner=unlocked, extra=' applyNumberFormat="1" applyProtection="1"'),
           xf(font_id=2, extra=' applyFont="1"'), xf(font_id=3, extra=' applyFont="1"'),
           xf(font_id=4, extra=' applyFont="1"'),
           xf(inner='<alignment vertical="top" wrapText="1"/>', extra=' applyAlignment="1"')]
    styles = (f'{XML_HEAD}<styleSheet xmlns="{NS_MAIN}"><numFmts count="2"><numFmt numFmtId="164" formatCode="0%"/>'
              f'<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>{fonts}{fills}'
              '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
              '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
              f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
              '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
    return [("[Content_Types].xml", types), ("_rels/.rels", root), ("xl/workbook.xml", workbook),
            ("xl/_rels/workbook.xml.rels", wb_rels), ("xl/styles.xml", styles), ("docProps/core.xml", core),
            ("docProps/app.xml", app)]
