"""Problems found in the input, collected rather than raised.

Every problem has a stable ``code`` (tests and tools compare codes, never message text), a
``severity``, the user's coordinates (file relative to the input folder, sheet, cell like ``D17``,
column header), the offending value, a message and what to do about it. The terminal listing, the
JSON of ``validate --format json``, the PDFs' data notes, ``reconciled.xlsx`` and the feedback
workbooks all come from the same list.

Severities:
    error    the row, value or file was excluded from the analysis
    warning  read, but suspicious or partly excluded: worth fixing
    note     nothing lost (a skipped lock file, an ignored sheet): listed so nothing is silent
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace

ERROR = "error"
WARNING = "warning"
NOTE = "note"
SEVERITIES = (ERROR, WARNING, NOTE)

# code -> (severity, message template, how to fix). Templates are str.format()ed with the problem's
# context; unknown keys are left as they are. Add new codes here, never inline.
CATALOG: dict[str, tuple[str, str, str]] = {
    # --- files -----------------------------------------------------------------------------------
    "FILE_LOCK": (NOTE, "skipped an Office lock file", "nothing to do: Excel leaves it while the workbook is open"),
    "FILE_HIDDEN": (NOTE, "skipped a hidden file", "nothing to do"),
    "FILE_BAD_NAME": (ERROR, "the file's name is not valid text (shown with \ufffd where a byte could not be read), so it was not read", "rename the file, then run again"),
    "FILE_UNSUPPORTED": (NOTE, "skipped: not a workbook ({detail})", "save it as .xlsx if it holds review data"),
    "FILE_EMPTY": (ERROR, "the file is empty (0 bytes)", "copy the workbook again; the copy was cut off"),
    "FILE_CORRUPT": (ERROR, "the workbook cannot be opened: {detail}", "open it in Excel or LibreOffice, save it as .xlsx, and drop it again"),
    "FILE_ENCRYPTED": (ERROR, "this workbook is encrypted", "remove the password (File > Info > Protect Workbook) or export it, then drop it again"),
    "FILE_OLD_FORMAT": (ERROR, "this is an old {detail} file that cannot be read here", "save it as .xlsx"),
    "FILE_HOSTILE": (ERROR, "refused: {detail}", "open it in Excel or LibreOffice and save it as a new .xlsx"),
    "FILE_TOO_LARGE": (ERROR, "refused: {detail}", "remove unused rows and columns (or split the workbook), save, and drop it again"),
    "FILE_TIMEOUT": (ERROR, "reading took longer than {seconds} s and was stopped", "save it as a fresh .xlsx with only the review sheets"),
    "FILE_MEMORY": (ERROR, "reading needed more than {megabytes} MB and was stopped", "save it as a fresh .xlsx with only the review sheets"),
    "FILE_STRICT_XML": (WARNING, "Strict Open XML workbook: {detail}", "in Excel use Save As > Excel Workbook (.xlsx), not Strict Open XML"),
    "FILE_NO_SHEETS": (WARNING, "no sheet of a known type in this workbook", "name the sheets as the templates do (Partners, KPIs, Targets, Actuals, Commitments, Check-ins, FX Rates)"),
    "FILE_LINK_OUTSIDE": (WARNING, "skipped: the link leads outside the input folder ({detail}), so it was not read", "copy the workbook into the input folder instead of linking to it"),
    "FILE_LINK_BROKEN": (WARNING, "the link leads nowhere ({detail}), so nothing was read", "point the link at the workbook again, or copy the workbook here instead"),
    "FOLDER_UNREADABLE": (WARNING, "the folder could not be listed ({detail}); the files in it were not read", "give the account that runs partner-review read access to the folder, or move the workbooks out of it"),
    "FOLDER_LINK_OUTSIDE": (WARNING, "skipped: the linked folder leads outside the input folder ({detail}); the files there were not read", "copy the folder into the input folder instead of linking to it"),
    "FOLDER_LOOP": (NOTE, "skipped: the linked folder leads to {detail}, which is read already", "nothing to do (its files are read once, under their own path); delete the link if it is a mistake"),
    "PATH_TOO_LONG": (WARNING, "the path is longer than the system allows ({detail}), so it was not read", "move the workbooks to a folder nearer the top of the input folder, or shorten the folder names"),
    "CSV_UNKNOWN": (NOTE, "skipped: the CSV header matches no sheet type", "use the header row of one of the templates"),
    "CONFIG_INVALID": (ERROR, "partner-review.toml: {detail}", "fix the setting; the documented default is used meanwhile"),
    # --- sheets ----------------------------------------------------------------------------------
    "SHEET_IGNORED": (NOTE, "sheet '{sheet}' is of no known type and was ignored", "nothing to do, unless it holds review data: then name it as the templates do"),
    "SHEET_NO_HEADER": (ERROR, "no header row found in sheet '{sheet}' (looked for {detail})", "put the column names of the template in one row above the data"),
    "SHEET_MISSING_COLUMN": (ERROR, "required column '{column}' not found, so none of this sheet's rows were read", "add a '{column}' column to the header row"),
    "SHEET_DUPLICATE_COLUMN": (WARNING, "column '{column}' appears twice; the first ({cell}) is used", "delete or rename the second column"),
    "SHEET_EMPTY": (NOTE, "sheet '{sheet}' has a header but no data rows", "nothing to do if that is expected"),
    # --- rows and values -------------------------------------------------------------------------
    "ROW_MISSING_REQUIRED": (ERROR, "required value '{column}' is blank; the row was excluded", "fill in {column}"),
    "VALUE_NOT_NUMBER": (ERROR, "'{value}' is not a number; the value was excluded (not read as zero)", "{hint}"),
    "WIDE_BAD_PERIOD_HEADER": (ERROR, "column header '{value}' is not a period, so its {count} values were not read", "write the header as 2026-Q2, Q2 2026 or Jan 2026"),
    "VALUE_BAD_PERIOD": (ERROR, "'{value}' is not a period; the row was excluded", "write the period as 2026-Q2, Q2 2026, 2026-05 or a date"),
    "VALUE_BAD_DATE": (ERROR, "'{value}' is not a date", "enter a real date or ISO text such as 2026-05-31"),
    "VALUE_DATE_BEFORE_1900": (ERROR, "'{value}' is a date before March 1900, which no workbook stores reliably (date serials there differ by a day between programs); the value was excluded", "check the year and enter the date again, e.g. 2026-05-31"),
    "VALUE_BAD_CHOICE": (ERROR, "'{value}' is not one of {detail}", "choose one of {detail}"),
    "VALUE_UNMAPPED_STATUS": (WARNING, "status '{value}' could not be mapped; treated as {detail}", "use one of not_started, in_progress, done, blocked, cancelled"),
    "VALUE_FORMULA_NO_VALUE": (ERROR, "formula {value} has no stored value (the file was saved by a program that does not calculate); excluded, not read as zero", "open and save it in Excel or LibreOffice"),
    "VALUE_ERROR_CELL": (ERROR, "the cell holds the error {value}; the value was excluded", "fix the formula so it yields a number"),
    "VALUE_BAD_EMAIL": (WARNING, "'{value}' does not look like an e-mail address", "write addresses like name@example.com, separated by ; or ,"),
    "VALUE_EMAIL_CONTROL_CHAR": (ERROR, "the address '{shown}' holds a control character ({detail}), which no e-mail address can; it was not used", "retype the address (control characters come with text copied from other programs)"),
    "REF_UNKNOWN_PARTNER": (ERROR, "partner '{value}' is not in the registry{detail}; the row was excluded", "use the partner_id or exact partner_name from the Partners sheet"),
    "REF_AMBIGUOUS_PARTNER": (ERROR, "partner '{value}' could mean {detail}; the row was excluded, not given to either", "use the partner_id, and give every partner a name that is no other partner's name or id"),
    "REF_AMBIGUOUS_KPI": (ERROR, "KPI '{value}' could mean {detail}; the row was excluded", "use the kpi_id, and give every KPI a name that is no other KPI's name or id"),
    "PARTNER_DUPLICATE_NAME": (ERROR, "partner name '{value}' of '{partner}' is also {detail}; rows that name it cannot be told apart and are excluded (both partners are still reviewed under their ids)", "give each partner its own name, or refer to them by partner_id"),
    "KPI_DUPLICATE_NAME": (WARNING, "KPI name '{value}' of '{kpi}' is also {detail}; rows that name it cannot be told apart and are excluded", "give each KPI its own name, or refer to them by kpi_id"),
    "REF_UNKNOWN_KPI": (ERROR, "KPI '{value}' is not defined{detail}; the row was excluded", "use a kpi_id from the KPIs sheet, or add the KPI there"),
    "REF_UNKNOWN_LINKED_KPI": (WARNING, "linked KPI '{value}' is not defined{detail}; the link was ignored", "use a kpi_id from the KPIs sheet, or leave it blank"),
    "VALUE_OUT_OF_RANGE": (ERROR, "'{value}' is out of range: {detail}; the value was excluded", "enter {detail}"),
    "DUPLICATE_KEY": (ERROR, "{column} '{value}' is defined again (first at {detail}); this row was excluded", "keep one row per {column}"),
    "FX_MISSING_RATE": (ERROR, "no FX rate for {value} in {detail}; the value was excluded", "add the rate to the FX Rates sheet"),
    "FX_OVERFLOW": (ERROR, "'{value}' converted at the {detail} is too large to compute with; the value was excluded", "check the figure and its rate: one of them is far too large (a typo or a unit mix-up?)"),
    "ROLLUP_OVERFLOW": (ERROR, "'{value}' and the other months of {detail} add up to more than a number can hold; those months were excluded, so the quarter has no figure", "check these figures: one of them is far too large (a typo or a unit mix-up?)"),
    "REQUEST_OTHER_PARTNER": (ERROR, "this returned data request is {detail}'s, but the row names partner '{value}'; the row was excluded, not given to either", "keep the partner_id the request came with; figures for another partner go in that partner's own request"),
    "REQUEST_OTHER_QUARTER": (ERROR, "this returned data request asks about {detail}, but the row is for '{value}'; the row was excluded", "keep the period the request came with; figures for other periods go in an ordinary Actuals sheet"),
    "REQUEST_UNKNOWN_COMMITMENT": (ERROR, "commitment '{value}' of this returned data request is not one of {detail}'s own or joint commitments; the update was not applied", "update only the commitments the request lists; a new commitment goes in the commitment log"),
    "REQUEST_BLANKS": (NOTE, "returned data request of {detail}: {count} of its figures left blank (not reported, never zero)", "nothing to do, unless those figures are known: then fill them in"),
    "REQUEST_UPDATED": (NOTE, "{detail} updated by the partner's returned data request", "nothing to do: the review shows the update, with this cell as its source"),
    "NO_PARTNERS": (ERROR, "no partner registry found: no sheet of type Partners in any workbook", "add the partner registry (see input_templates/)"),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth knowing) about the input."""

    code: str
    severity: str
    message: str
    fix: str = ""
    file: str = ""
    sheet: str = ""
    cell: str = ""
    column: str = ""
    value: str = ""
    partner_id: str = ""

    @property
    def where(self) -> str:
        """``file › sheet › cell`` as far as known."""
        parts = [p for p in (self.file, self.sheet, self.cell) if p]
        return " › ".join(parts)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def with_partner(self, partner_id: str) -> Problem:
        return replace(self, partner_id=partner_id)

    def about(self, whose: str) -> Problem:
        """The problem with the record it belongs to before its message: "partner ACME, KPI revenue, 2026-Q2: ..."."""
        return replace(self, message=f"{whose}: {self.message}") if whose else self


# what a catalog template's placeholder says when the caller knows nothing better
_DEFAULT_CONTEXT: dict[str, dict[str, str]] = {"VALUE_NOT_NUMBER": {"hint": "type a plain number such as 1234.5"}}


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def make(code: str, *, file: str = "", sheet: str = "", cell: str = "", column: str = "",
         value: object = "", partner_id: str = "", severity: str | None = None, **context: object) -> Problem:
    """Build a problem from the catalog: ``make("VALUE_NOT_NUMBER", file=..., cell="D17", value="12k")``."""
    sev, template, fix = CATALOG[code]
    context = {**_DEFAULT_CONTEXT.get(code, {}), **context}
    ctx = _Keep(file=file, sheet=sheet, cell=cell, column=column, value=_show(value), **{k: _show(v) for k, v in context.items()})
    return Problem(code=code, severity=severity or sev, message=template.format_map(ctx), fix=fix.format_map(ctx),
                   file=file, sheet=sheet, cell=cell, column=column, value=_show(value), partner_id=partner_id)


def _show(value: object, limit: int = 120) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Problems:
    """An ordered collection of problems with helpers for the views that list them."""

    items: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> Problem:
        self.items.append(problem)
        return problem

    def extend(self, problems: Iterable[Problem]) -> None:
        self.items.extend(problems)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in SEVERITIES}
        for p in self.items:
            out[p.severity] = out.get(p.severity, 0) + 1
        return out

    @property
    def actionable(self) -> list[Problem]:
        """Errors and warnings: what makes ``validate`` exit 1."""
        return [p for p in self.items if p.severity != NOTE]

    def codes(self) -> list[str]:
        return [p.code for p in self.items]


def problems_frame(problems: Iterable[Problem]):
    """The problems as a DataFrame with the Problem fields as columns (for reconciled.xlsx)."""
    import pandas as pd

    cols = list(Problem.__dataclass_fields__)
    return pd.DataFrame([p.to_dict() for p in problems], columns=cols)


class PipelineError(Exception):
    """A problem that stops every review (no registry, unreadable input folder). Exit code 1."""

    exit_code = 1

    def __init__(self, message: str, problems: Iterable[Problem] = ()):
        super().__init__(message)
        self.problems = list(problems)


class RunRefused(PipelineError):
    """The run cannot start as asked, whatever the input holds: folders that overlap, another run holding the
    lock, an output folder that cannot be written, a history file that cannot be used. Exit code 2."""

    exit_code = 2
