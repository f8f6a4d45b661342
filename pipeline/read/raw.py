"""What the file readers hand to the sheet parser: cell grids with their Excel coordinates.

`pipeline.read.reader.read_input` produces these (each file's as a `FileOutcome`, also what the read cache
keeps); `pipeline.reconcile.load` turns them into the reconciled frames. Nothing here knows about sheet types.
"""
from __future__ import annotations

import marshal
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.problems import Problem


@dataclass(frozen=True)
class CellError:
    """An Excel error value such as ``#DIV/0!`` or ``#N/A`` found in a cell."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class RawSheet:
    """One sheet (or one CSV file) as a grid of Python values.

    ``rows[i][j]`` is the value of Excel cell (``first_row + i``, ``first_col + j``): None for blank,
    str, int, float, bool, datetime.date/datetime/time, or `CellError`. Rows may have different lengths.
    A formula cell whose workbook stores no computed value is None in ``rows`` and listed in
    ``formulas_without_value`` so it is never mistaken for a blank.
    """

    name: str
    rows: list[list[Any]]
    first_row: int = 1
    first_col: int = 1
    formulas_without_value: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) 1-based -> formula
    hidden: bool = False
    hidden_rows: set[int] = field(default_factory=set)  # Excel row numbers


@dataclass
class RawWorkbook:
    """One workbook's sheets. ``date1904``: the workbook counts serial dates from 1904-01-01 (the 1904
    date system of older Mac Excel, ``<workbookPr date1904="1"/>``), so a serial typed as a number is
    read in that system (`pipeline.reconcile.values.parse_date`); calamine already converts date-formatted cells."""

    path: str                  # relative to the input folder, '/' separators
    kind: str                  # xlsx, xlsm, xls, ods, csv
    sheets: list[RawSheet] = field(default_factory=list)
    date1904: bool = False


def column_letter(col: int) -> str:
    """1 -> A, 27 -> AA."""
    out = ""
    while col > 0:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def cell_ref(row: int, col: int) -> str:
    """Excel coordinates of a 1-based (row, col): (17, 4) -> 'D17'."""
    return f"{column_letter(col)}{row}"


@dataclass
class FileOutcome:
    """What reading one file gave: the workbook (None when refused) and its problems.

    Between worker and parent the grids travel marshalled (``packed``, much faster than pickling
    millions of cells); values marshal cannot carry (dates, CellError, ...) travel in ``specials``
    as (row index, column index, value) per sheet and are put back by `resolve`.
    """

    kind: str
    workbook: RawWorkbook | None
    problems: list[Problem] = field(default_factory=list)
    specials: list[list[tuple[int, int, Any]]] = field(default_factory=list)
    packed: list[bytes] = field(default_factory=list)
    sha256: str = ""         # of the bytes read ('' when the file was refused before it was read whole)
    cached: bool = False     # taken from the read cache, not read

    def pack(self) -> FileOutcome:
        if self.workbook is not None:
            self.packed = [marshal.dumps(s.rows) for s in self.workbook.sheets]
            for s in self.workbook.sheets:
                s.rows = []
        return self

    def resolve(self) -> FileOutcome:
        if self.workbook is not None:
            for i, sheet in enumerate(self.workbook.sheets):
                if self.packed:
                    sheet.rows = marshal.loads(self.packed[i])
                for r, c, v in self.specials[i] if i < len(self.specials) else ():
                    sheet.rows[r][c] = v
        self.packed, self.specials = [], []
        return self
