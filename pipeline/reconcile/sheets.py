"""From a raw cell grid to a table of one sheet type: which type the sheet is, where its header row
is, which column is which, and the data rows (long or wide layout) with their Excel coordinates.

No value is interpreted here beyond header names and wide period headers; `pipeline.reconcile.load` converts
values and reconciles. See ``docs/reading.md`` for the rules.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.core import problems as P
from pipeline.core.schema import SHEET_TYPES, SheetType, normalise
from pipeline.read.raw import RawSheet, cell_ref
from pipeline.reconcile.values import parse_period

HEADER_SEARCH_ROWS = 30


@dataclass
class Table:
    """The data rows of one sheet of a known type.

    ``records`` hold one entry per data row (long layout) or per filled period cell (wide layout):
    ``(excel_row, values, cols)`` where ``values[i]`` and ``cols[i]`` (1-based Excel column) belong to
    ``fields[i]``. In the wide layout the period field's column is its header cell (see `cell`).
    """

    file: str
    sheet: str
    type: SheetType
    fields: list[str]
    headers: dict[str, str]                     # field -> header as typed
    header_row: int
    records: list[tuple[int, list[Any], list[int]]] = field(default_factory=list)
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)
    wide: bool = False
    data_rows: list[int] = field(default_factory=list)  # every non-blank Excel row below the header
    period_headers: dict[int, str] = field(default_factory=dict)  # wide layout: Excel col -> header as typed
    date1904: bool = False                      # the workbook's serial dates count from 1904 (`RawWorkbook`)
    request: dict[str, str] | None = None       # a returned data request's partner_id, quarter, reviewed

    @property
    def index(self) -> dict[str, int]:
        """field -> position in a record's values."""
        index: dict[str, int] | None = getattr(self, "_index", None)
        if index is None or len(index) != len(self.fields):
            index = self._index = {f: i for i, f in enumerate(self.fields)}
        return index

    def cell(self, row: int, fi: int, cols: list[int]) -> str:
        """The Excel cell of field ``fields[fi]`` in a record."""
        if self.wide and self.fields[fi] == "period":
            return cell_ref(self.header_row, cols[fi])
        return cell_ref(row, cols[fi])

    def header(self, fi: int, cols: list[int]) -> str:
        """The column header as typed for field ``fields[fi]`` in a record."""
        name = self.fields[fi]
        if self.wide and name in ("period", self.type.wide_value):
            return self.period_headers.get(cols[fi], name)
        return self.headers.get(name, name)


@dataclass
class _Header:
    row: int                                     # Excel row
    columns: dict[str, tuple[int, str]]         # field -> (Excel col, header as typed)
    duplicates: list[tuple[str, int, str]]      # (field, Excel col, header) of repeated columns
    periods: list[tuple[int, Any]]              # wide layout: (Excel col, header value)
    score: int
    missing: list[str]                          # required fields not found
    near_periods: list[tuple[int, str]] = field(default_factory=list)  # wide: headers that look like periods but are not


_PERIODISH = re.compile(r"\d{4}|\bQ\s*\d|\bFY", re.I)


def _data_rows(sheet: RawSheet, start: int, formula_rows: set[int]):
    """(Excel row, cells) of every row from grid index `start` on that is not blank (a row whose only
    content is a formula without a stored value is not blank: it is reported, not skipped)."""
    for i in range(start, len(sheet.rows)):
        r = sheet.first_row + i
        row = sheet.rows[i]
        if r in formula_rows or not _blank_row(row):
            yield r, row


def _is_blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _blank_row(row: list[Any]) -> bool:
    for v in row:  # noqa: SIM110 - runs on every sheet row; the plain loop is 3-4x faster than all()/any() over a generator
        if v is not None and (v.__class__ is not str or v.strip()):
            return False
    return True


def _header_text(v: Any) -> str:
    return " ".join(str(v).split()) if not _is_blank(v) else ""


def _show_header(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    return v.isoformat() if isinstance(v, dt.date) else v


def _match_header(sheet: RawSheet, i: int, stype: SheetType, fy_start: int) -> _Header:
    """How well grid row ``i`` works as the header row of `stype`."""
    row = sheet.rows[i]
    best: dict[str, tuple[int, int, str]] = {}    # field -> (rank of the key matched, col, header)
    duplicates: list[tuple[str, int, str]] = []
    periods: list[tuple[int, Any]] = []
    near: list[tuple[int, str]] = []
    for j, v in enumerate(row):
        if _is_blank(v):
            continue
        col = sheet.first_col + j
        key = normalise(v) if isinstance(v, str) else ""
        hit = None
        for c in stype.columns:
            keys = c.keys
            if key in keys:
                hit = (c.name, keys.index(key))
                break
        if hit is None:
            if stype.wide_value and isinstance(v, (str, dt.date)):
                try:
                    parse_period(v, fy_start)
                    periods.append((col, v))
                except ValueError:
                    if isinstance(v, dt.date) or _PERIODISH.search(v):  # a date before 1900 too
                        near.append((col, _header_text(_show_header(v))))
            continue
        name, rank = hit
        if name not in best or rank < best[name][0]:
            if name in best and rank == best[name][0]:
                duplicates.append((name, col, _header_text(v)))
            else:
                best[name] = (rank, col, _header_text(v))
        elif rank == best[name][0]:
            duplicates.append((name, col, _header_text(v)))
    columns = {name: (col, text) for name, (_, col, text) in best.items()}
    required = [c.name for c in stype.required]
    wide_ok = bool(stype.wide_value) and bool(periods) and "period" not in columns and stype.wide_value not in columns
    if wide_ok:
        required = [r for r in required if r not in ("period", stype.wide_value)]
    else:
        periods = []
    missing = [r for r in required if r not in columns]
    score = len(columns) + (1 if periods else 0)
    return _Header(sheet.first_row + i, columns, duplicates, periods, score, missing, near if periods else [])


def find_header(sheet: RawSheet, stype: SheetType, fy_start: int = 1) -> _Header | None:
    """The best header row among the first rows: all required columns present, most columns matched.
    Failing that, the row matching the most columns (its ``missing`` then says what is absent)."""
    complete: _Header | None = None
    partial: _Header | None = None
    for i in range(min(HEADER_SEARCH_ROWS, len(sheet.rows))):
        h = _match_header(sheet, i, stype, fy_start)
        if h.score == 0:
            continue
        if not h.missing:
            if complete is None or h.score > complete.score:
                complete = h
        elif partial is None or h.score > partial.score:
            partial = h
    return complete or partial


def type_by_name(name: str) -> SheetType | None:
    key = normalise(name)
    return next((t for t in SHEET_TYPES if key in t.keys), None)


def type_by_header(sheet: RawSheet, fy_start: int = 1) -> SheetType | None:
    """The sheet type whose complete header row matches the most columns (ties: schema order)."""
    best: tuple[int, SheetType] | None = None
    for stype in SHEET_TYPES:
        h = find_header(sheet, stype, fy_start)
        if h is not None and not h.missing and (best is None or h.score > best[0]):
            best = (h.score, stype)
    return best[1] if best else None


def classify(sheet: RawSheet, csv: bool = False, fy_start: int = 1) -> SheetType | None:
    """A sheet's type by its name (not for CSV files), else by its header row; None when unknown."""
    return (None if csv else type_by_name(sheet.name)) or type_by_header(sheet, fy_start)


def read_table(sheet: RawSheet, stype: SheetType, file: str, fy_start: int = 1,
               date1904: bool = False) -> tuple[Table | None, list[P.Problem]]:
    """The table of a sheet known to be of `stype`, or None (with the problem) when its header is unusable.
    ``date1904``: the workbook's date system, kept on the table for reading its serial dates."""
    where = {"file": file, "sheet": sheet.name}
    problems: list[P.Problem] = []
    header = find_header(sheet, stype, fy_start)
    if header is None:
        names = ", ".join(c.name for c in stype.required)
        return None, [P.make("SHEET_NO_HEADER", cell="", detail=names, **where)]
    if header.missing:
        first = min((col for col, _ in header.columns.values()), default=sheet.first_col)
        for name in header.missing:  # the cell: the start of the row taken as the header
            problems.append(P.make("SHEET_MISSING_COLUMN", cell=cell_ref(header.row, first), column=name, **where))
        return None, problems
    for name, col, text in header.duplicates:
        first_ref = cell_ref(header.row, header.columns[name][0])
        dup = P.make("SHEET_DUPLICATE_COLUMN", cell=first_ref, column=text, value=text, **where)
        problems.append(replace(dup, cell=cell_ref(header.row, col)))
    wide = bool(header.periods)
    fields = [c.name for c in stype.columns if c.name in header.columns]
    if wide:
        fields = [f for f in fields if f not in ("period", stype.wide_value)] + ["period", stype.wide_value]
    headers = {f: header.columns[f][1] for f in fields if f in header.columns}
    table = Table(file, sheet.name, stype, fields, headers, header.row, wide=wide, formulas=sheet.formulas_without_value,
                  date1904=date1904)
    formula_rows = {r for r, _ in sheet.formulas_without_value}
    j0 = sheet.first_col
    start = header.row - sheet.first_row + 1
    if not wide:
        idx = [header.columns[f][0] - j0 for f in fields]
        cols = [header.columns[f][0] for f in fields]
        for r, row in _data_rows(sheet, start, formula_rows):
            n = len(row)
            table.records.append((r, [row[k] if k < n else None for k in idx], cols))
            table.data_rows.append(r)
        return table, problems
    # wide: a header that looks like a period but is not one (2026-Q5) would silently lose its column
    for col, text in header.near_periods:
        filled = sum(1 for row in sheet.rows[start:] if col - j0 < len(row) and not _is_blank(row[col - j0]))
        if filled:
            problems.append(P.make("WIDE_BAD_PERIOD_HEADER", cell=cell_ref(header.row, col), column=text, value=text,
                                   count=filled, **where))
    # wide: one record per filled period cell; the period value is the column header
    table.period_headers = {col: _header_text(_show_header(v)) for col, v in header.periods}
    keep = fields[:-2]
    idx = [header.columns[f][0] - j0 for f in keep]
    base_cols = [header.columns[f][0] for f in keep]
    for r, row in _data_rows(sheet, start, formula_rows):
        n = len(row)
        base = [row[k] if k < n else None for k in idx]
        table.data_rows.append(r)
        emitted = False
        for col, period in header.periods:
            k = col - j0
            v = row[k] if k < n else None
            if _is_blank(v) and (r, col) not in sheet.formulas_without_value:
                continue
            table.records.append((r, base + [period, v], base_cols + [col, col]))
            emitted = True
        if not emitted:  # a row with no value in any period: reported as missing its value
            col = header.periods[0][0]
            table.records.append((r, base + [header.periods[0][1], None], base_cols + [col, col]))
    return table, problems
