"""The cells of a workbook through python-calamine, as `RawWorkbook` grids, with what the XML scan of
`pipeline.read.safety` found and calamine does not report laid over them: error values, formulas without
a stored value, hidden rows. Runs in the worker that reads the file (`pipeline.read.reader`); imports no
pandas.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from pipeline.read.raw import CellError, FileOutcome, RawSheet, RawWorkbook
from pipeline.read.safety import Refused
from pipeline.read.sheetxml import SheetScan


def read_calamine(path: Path, rel: str, kind: str, *, from_bytes: bool = False, data: bytes | None = None,
                  scans: dict[str, SheetScan | None] | None = None, skip: dict | None = None,
                  date1904: bool = False) -> FileOutcome:
    """Cells of every worksheet (except those in ``skip``) via python-calamine, read from the path, or
    from the file's bytes when its extension would mislead calamine, or from ``data`` (a repaired copy).
    ``date1904``: the workbook's date system, found by the caller in the package (calamine converts the
    date-formatted cells itself but says nothing of the system, which serials typed as numbers need)."""
    import python_calamine as pc

    scans = scans or {}
    skip = skip or {}
    book = RawWorkbook(path=rel, kind=kind, date1904=date1904)
    specials: list[list[tuple[int, int, Any]]] = []
    try:
        if data is not None:
            wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        elif from_bytes:
            with open(path, "rb") as fh:
                wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(fh.read()))
        else:
            wb = pc.CalamineWorkbook.from_path(str(path))
        with wb:
            for meta in wb.sheets_metadata:
                if meta.typ != pc.SheetTypeEnum.WorkSheet or meta.name in skip:
                    continue
                sheet = wb.get_sheet_by_name(meta.name)
                raw, special = _grid(sheet.to_python(skip_empty_area=True), sheet.start, meta.name)
                raw.hidden = meta.visible != pc.SheetVisibleEnum.Visible
                scan = scans.get(meta.name)
                if scan is not None:
                    _overlay(raw, scan, special)
                book.sheets.append(raw)
                specials.append(special)
    except pc.PasswordError as exc:
        raise Refused("FILE_ENCRYPTED") from exc
    except MemoryError:
        raise
    except BaseException as exc:  # CalamineError, XmlError, ZipError, and Rust panics (PanicException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise Refused("FILE_CORRUPT", detail=f"{type(exc).__name__}: {exc}") from exc
    return FileOutcome(kind, book, specials=specials)


_MAXINT = 2**53


def _grid(rows: list[list[Any]], start: tuple[int, int] | None, name: str) -> tuple[RawSheet, list[tuple[int, int, Any]]]:
    """Calamine's rows as plain values ('' -> None, whole floats -> int) plus the other values aside."""
    special: list[tuple[int, int, Any]] = []
    out: list[list[Any]] = []
    for i, row in enumerate(rows):
        new: list[Any] = []
        for j, v in enumerate(row):
            t = type(v)
            if t is float:
                new.append(int(v) if v.is_integer() and -_MAXINT < v < _MAXINT else v)
            elif t is str:
                new.append(v or None)
            elif t is bool or t is int:
                new.append(v)
            else:
                special.append((i, j, v))
                new.append(None)
        out.append(new)
    r0, c0 = start if start is not None and rows else (0, 0)
    return RawSheet(name=name, rows=out, first_row=r0 + 1, first_col=c0 + 1), special


def _overlay(raw: RawSheet, scan: SheetScan, special: list[tuple[int, int, Any]]) -> None:
    """Hidden rows, formulas without value and error cells from the XML scan; grows the grid to hold
    them and adds the error values to ``special`` (formula cells stay None)."""
    raw.hidden_rows = set(scan.hidden_rows)
    raw.formulas_without_value = dict(scan.formulas)
    marks: dict[tuple[int, int], Any] = {at: None for at in scan.formulas}
    marks.update({at: CellError(text) for at, text in scan.errors.items()})
    if not marks:
        return
    if not raw.rows:
        raw.first_row = min(r for r, _ in marks)
        raw.first_col = min(c for _, c in marks)
    top, left = min(r for r, _ in marks), min(c for _, c in marks)
    down = max(0, raw.first_row - top)
    right = max(0, raw.first_col - left)
    if down or right:
        raw.rows = [[] for _ in range(down)] + [[None] * right + row for row in raw.rows]
        raw.first_row, raw.first_col = raw.first_row - down, raw.first_col - right
        special[:] = [(i + down, j + right, v) for i, j, v in special]
    for (r, c), value in marks.items():
        i, j = r - raw.first_row, c - raw.first_col
        while len(raw.rows) <= i:
            raw.rows.append([])
        row = raw.rows[i]
        if len(row) <= j:
            row.extend([None] * (j + 1 - len(row)))
        row[j] = None
        if value is not None:
            special.append((i, j, value))
