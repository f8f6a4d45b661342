"""Feedback workbooks: each input workbook that had problems, copied with its problem cells marked.

For every input workbook with at least one error or warning (notes are not feedback), `write_feedback`
writes a copy to the same relative path under the output folder, named ``<stem>_feedback<suffix>``
(``actuals/acme.xlsx`` -> ``actuals/acme_feedback.xlsx``). The copy has a first sheet "Problems to fix"
(one row per problem, the cell a link to it), each problem cell filled (red for errors, amber for
warnings; font and number format kept) and an Excel comment by "partner-review" that says what is
wrong and how to fix it. The person who sent the file fixes it in place and sends it back. The
original is only ever read.

Decisions:
- ``.xlsx``/``.xlsm`` are copied with openpyxl (``keep_vba`` for .xlsm, external links, rich text),
  which keeps formulas, styles, tables, data validation, conditional formats, merged cells, widths and
  freeze panes. openpyxl does not keep shapes, form controls, slicers, sparklines, extension-list
  features (it warns, e.g. "Data Validation extension is not supported"; those warnings are passed to
  `echo`) or modern threaded comments (their legacy text is kept). Formulas are saved without cached
  values and the workbook is marked to recalculate fully when Excel opens it.
- ``.xls``, ``.ods`` and ``.csv`` inputs (and an .xlsx openpyxl cannot open) cannot be copied
  faithfully: they get an ``<stem>_feedback.xlsx`` holding only the list, with the cells as text.
- Files with a FILE_* error (encrypted, corrupt, hostile, too large ...) are never opened. Their
  problems go to one ``_problems_in_unreadable_files.xlsx`` at the top of the output folder.
- Problems without a file (no registry at all) or on a non-workbook file (the TOML config) are not
  feedback on any workbook and are left to ``validate``.
- A problem without a cell (a missing column) is listed with a link to its sheet only.
- An existing comment on a problem cell is kept; ours is appended below a ``[partner-review]`` line.
  A workbook that comes back with our marks from an earlier round has them removed first (our sheet,
  our comments, our fills) so a new round shows only what is still wrong.
- Text from the input is always written as text, never as a formula.
"""
from __future__ import annotations

import io
import math
import re
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any, cast

from pipeline.core.files import atomic_write
from pipeline.core.problems import ERROR, NOTE, Problem

SHEET_TITLE = "Problems to fix"
AUTHOR = "partner-review"
MARK = "[partner-review]"
UNREADABLE_NAME = "_problems_in_unreadable_files.xlsx"
COPYABLE = {".xlsx", ".xlsm"}
LIST_ONLY = {".xls", ".ods", ".csv"}
FILLS = {ERROR: "FFFFC7CE", "warning": "FFFFEB9C"}          # Excel's "Bad" red and "Neutral" amber
HEADERS = ("Sheet", "Cell", "Column", "Value", "What is wrong", "How to fix it", "Severity")
WIDTHS = (22, 10, 20, 24, 60, 50, 10)
_CELL = re.compile(r"^\$?([A-Z]{1,3})\$?([1-9][0-9]{0,6})$")
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")

Echo = Callable[[str], None] | None


def write_feedback(input_dir: Path, problems: Iterable[Problem], output_dir: Path, *,
                   echo: Echo = None, limits: dict | None = None) -> list[Path]:
    """Write a feedback workbook for every input workbook with errors or warnings; return the files written.

    Raises ValueError when `output_dir` is the input folder or inside it (nothing is ever written there).
    Copies are made in isolated worker processes under the per-file time and memory limits (config
    ``[limits]``), like every other parse of an input: a workbook too big or too slow to copy gets the
    problem list instead. `echo`, if given, is told about each file that could only be listed, not
    copied, or was not found, and about what openpyxl could not keep in a copy.
    """
    from pipeline.core.sandbox import run_isolated
    from pipeline.core.settings import DEFAULTS

    limits = limits or {k: v[0] for k, v in DEFAULTS["limits"].items()}
    # absolute: the copies are made in worker processes that run in another folder
    input_dir, output_dir = Path(input_dir).absolute(), Path(output_dir)
    check_output_dir(input_dir, output_dir)
    by_file, unreadable = group_problems(problems)
    sources: dict[str, Path] = {}
    for rel in sorted(by_file):
        src = _inside(input_dir, rel)
        if src is None or not src.is_file():
            if echo:
                echo(f"skipped {rel}: not found in the input folder")
            continue
        sources[rel] = src
    jobs = [(rel, (str(src), rel, by_file[rel])) for rel, src in sources.items() if src.suffix.lower() in COPYABLE]
    copies = run_isolated(_copy_job, jobs, seconds=limits["file_seconds"], memory_mb=limits["file_memory_mb"])
    written: list[Path] = []
    taken: set[str] = set()
    for rel, src in sources.items():
        items = by_file[rel]
        data, suffix, reason = None, ".xlsx", ""
        if rel in copies:
            status, value = copies[rel]
            copied = cast("tuple[bytes | None, Any]", value)  # when ok: what _copy_job returned
            if status == "ok" and copied[0] is not None:
                data, lost = copied
                suffix = src.suffix.lower()
                if lost and echo:
                    echo(f"copied {rel}, but openpyxl dropped: {'; '.join(lost)}")
            elif status == "ok":
                reason = f"openpyxl cannot open it ({copied[1]})"
            else:
                reason = {"timeout": "copying it took longer than the time limit",
                          "memory": "copying it needed more than the memory limit"}.get(status, "the copy crashed")
        else:
            reason = f"a {src.suffix.lower() or 'file'} cannot be copied with comments"
        if data is None:
            data = problem_list_bytes(rel, items)
            suffix = ".xlsx"
            if echo:
                echo(f"listed, not copied: {rel}: {reason}")
        written.append(atomic_write(output_dir / _feedback_name(rel, suffix, taken), data))
    if unreadable:
        written.append(atomic_write(output_dir / UNREADABLE_NAME, unreadable_list_bytes(unreadable)))
    return written


def _copy_job(src: str, rel: str, items: list[Problem]) -> tuple[bytes | None, object]:
    """Worker: the annotated copy and what openpyxl lost, or (None, why) when openpyxl cannot open it."""
    lost: list[str] = []
    try:
        return annotated_copy(Path(src), rel, items, lost), lost
    except MemoryError:
        raise
    except Exception as exc:
        return None, type(exc).__name__


def check_output_dir(input_dir: Path, output_dir: Path) -> None:
    """Refuse an output folder that is the input folder, inside it, or holds it (`outputs.overlap`)."""
    from pipeline.write.outputs import overlap

    why = overlap(input_dir, output_dir)
    if why:
        raise ValueError(why)


def group_problems(problems: Iterable[Problem]) -> tuple[dict[str, list[Problem]], list[Problem]]:
    """Feedback problems by input file, and the problems of files that must not be opened.

    Notes, problems without a file and problems on files that are not workbooks are dropped.
    """
    by_file: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        if p.severity == NOTE or not p.file:
            continue
        if PurePosixPath(p.file).suffix.lower() not in COPYABLE | LIST_ONLY:
            continue
        by_file[p.file].append(p)
    unreadable: list[Problem] = []
    for rel in list(by_file):
        if any(p.code.startswith("FILE_") and p.severity == ERROR for p in by_file[rel]):
            unreadable.extend(by_file.pop(rel))
    return dict(by_file), unreadable


# --- the annotated copy ----------------------------------------------------------------------------

def annotated_copy(src: Path, rel: str, problems: list[Problem], lost: list[str] | None = None) -> bytes:
    """The workbook at `src` with the problems sheet first, problem cells filled and commented.

    What openpyxl warns it cannot keep (e.g. "Data Validation extension is not supported") goes to `lost`.
    """
    from openpyxl import load_workbook
    from openpyxl.worksheet.worksheet import Worksheet

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wb = load_workbook(src, keep_vba=src.suffix.lower() == ".xlsm", keep_links=True, rich_text=True)
    if lost is not None:
        lost.extend(dict.fromkeys(str(w.message) for w in caught))
    _remove_earlier_round(wb)
    sheets = {ws.title: ws for ws in wb.worksheets}
    located: list[tuple[Problem, str, str]] = []  # problem, sheet title it refers to ('' none), cell ('' none)
    per_cell: dict[tuple[str, str], list[Problem]] = defaultdict(list)
    for p in problems:
        ws = sheets.get(p.sheet)
        title = ws.title if isinstance(ws, Worksheet) else ""
        cell = _anchor(ws, p.cell) if title else ""
        located.append((p, title, cell))
        if cell:
            per_cell[(title, cell)].append(p)
    for (title, coord), items in per_cell.items():
        _mark_cell(sheets[title][coord], items)
    order = {ws.title: i for i, ws in enumerate(wb.worksheets)}
    located.sort(key=lambda t: (order.get(t[1], -1), _rowcol(t[2]), t[0].severity != ERROR))
    ws = wb.create_sheet(SHEET_TITLE, 0)
    _fill_list(ws, f"Problems to fix in {PurePosixPath(rel).name}",
               "Each row is one problem. Click the cell to go to it (it is highlighted and has a comment), "
               "fix it in place, save, and send this workbook back. You may delete this sheet.",
               [(p, title, cell) for p, title, cell in located])
    for other in wb.worksheets[1:]:
        other.sheet_view.tabSelected = False   # else Excel opens with the sheets grouped
    wb.active = 0
    ws.sheet_view.tabSelected = True
    if wb.calculation is not None:
        wb.calculation.fullCalcOnLoad = True   # formulas are saved without cached values
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _anchor(ws, ref: str) -> str:
    """The cell to mark for `ref`: itself, or the top-left cell of the merged range holding it."""
    m = _CELL.match((ref or "").strip().upper())
    if not m:
        return ""
    coord = f"{m.group(1)}{m.group(2)}"
    for rng in ws.merged_cells.ranges:
        if coord in rng:
            return rng.start_cell.coordinate
    return coord


def _rowcol(coord: str) -> tuple[int, int]:
    from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

    if not coord:
        return (0, 0)
    col, row = coordinate_from_string(coord)
    return (row, column_index_from_string(col))


def _mark_cell(cell, items: list[Problem]) -> None:
    """Fill the cell (keeping font and number format) and add our comment, after any existing one."""
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    colour = FILLS[ERROR] if any(p.severity == ERROR for p in items) else FILLS["warning"]
    cell.fill = PatternFill(fill_type="solid", start_color=colour, end_color=colour)
    ours = "\n\n".join(_comment_text(p) for p in items)
    old = cell.comment
    if old is not None and old.text.strip():
        text, author = f"{old.text.rstrip()}\n\n{MARK}\n{ours}", old.author or AUTHOR
    else:
        text, author = f"{MARK}\n{ours}", AUTHOR
    width, height = comment_size(text)
    cell.comment = Comment(_clean(text), author, height=height, width=width)


def _comment_text(p: Problem) -> str:
    text = p.message.rstrip(".") + "."
    if p.fix:
        text += f"\nHow to fix: {p.fix.rstrip('.')}."
    return text


def comment_size(text: str, width: int = 320, chars_per_line: int = 46) -> tuple[int, int]:
    """(width, height) in pixels of a comment box that shows `text` whole (Excel's 9 pt Tahoma, wrapped)."""
    lines = sum(max(1, math.ceil(len(line) / chars_per_line)) for line in text.split("\n"))
    return width, min(800, 12 + 15 * lines)


def _remove_earlier_round(wb) -> None:
    """Drop what an earlier feedback round added, so a workbook sent back shows only today's problems."""
    if SHEET_TITLE in wb.sheetnames:
        ws = wb[SHEET_TITLE]
        if ws["A1"].value and str(ws["A1"].value).startswith("Problems to fix in"):
            wb.remove(ws)
    ours = set(FILLS.values())
    for ws in wb.worksheets:
        for cell in list(ws._cells.values()):
            c = cell.comment
            if c is not None and MARK in (c.text or ""):
                kept = c.text.split(MARK)[0].rstrip()
                cell.comment = None if not kept else _copy_comment(c, kept)
                if cell.fill is not None and cell.fill.fill_type == "solid" and cell.fill.fgColor.rgb in ours:
                    from openpyxl.styles import PatternFill

                    cell.fill = PatternFill(fill_type=None)


def _copy_comment(old, text: str):
    from openpyxl.comments import Comment

    width, height = comment_size(text)
    return Comment(text, old.author or "", height=height, width=width)


# --- the problem lists -----------------------------------------------------------------------------

def _fill_list(ws, title: str, instructions: str, rows: list[tuple[Problem, str, str]],
               link: bool = True) -> None:
    """Title, one line of instructions, then a table: one row per problem, cells linking to the problem."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.hyperlink import Hyperlink

    _text(ws.cell(1, 1), title).font = Font(bold=True, size=14)
    _text(ws.cell(2, 1), instructions).font = Font(italic=True)
    head = 4
    for j, name in enumerate(HEADERS, start=1):
        c = _text(ws.cell(head, j), name)
        c.font = Font(bold=True)
        c.fill = PatternFill(fill_type="solid", start_color="FFD9E1F2", end_color="FFD9E1F2")
    for j, w in enumerate(WIDTHS, start=1):
        ws.column_dimensions[ws.cell(head, j).column_letter].width = w
    wrap = Alignment(wrap_text=True, vertical="top")
    for i, (p, sheet, cell) in enumerate(rows, start=head + 1):
        values = (sheet or p.sheet, cell or p.cell, p.column, p.value, p.message, p.fix, p.severity)
        for j, v in enumerate(values, start=1):
            _text(ws.cell(i, j), v).alignment = wrap
        if link and sheet:
            target = f"{_quote(sheet)}!{cell or 'A1'}"
            for j in (1, 2) if cell else (1,):
                c = ws.cell(i, j)
                c.hyperlink = Hyperlink(ref=c.coordinate, location=target, display=str(c.value or ""))
                c.font = Font(color="FF0563C1", underline="single")
    ws.freeze_panes = ws.cell(head + 1, 1)
    if rows:
        ws.auto_filter.ref = f"A{head}:{ws.cell(head + len(rows), len(HEADERS)).coordinate}"


def problem_list_bytes(rel: str, problems: list[Problem]) -> bytes:
    """A workbook holding only the problem list, for inputs that cannot be copied (.xls, .ods, .csv)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_TITLE
    name = PurePosixPath(rel).name
    rows = sorted(((p, "", "") for p in problems), key=lambda t: (t[0].sheet, _rowcol(_anchor_text(t[0].cell))))
    _fill_list(ws, f"Problems to fix in {name}",
               f"Each row is one problem in {name}. Fix them in {name} itself (this list cannot link to its "
               "cells), save, and send it back; saving it as .xlsx is even better.", rows, link=False)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def unreadable_list_bytes(problems: list[Problem]) -> bytes:
    """One workbook listing the files that could not be opened at all, and what to do about each."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Unreadable files"
    _text(ws.cell(1, 1), "Input files that could not be read").font = Font(bold=True, size=14)
    _text(ws.cell(2, 1), "None of their data was used. Fix each file as described and drop it again.").font = \
        Font(italic=True)
    for j, (name, w) in enumerate((("File", 40), ("What is wrong", 60), ("How to fix it", 60),
                                   ("Severity", 10)), start=1):
        _text(ws.cell(4, j), name).font = Font(bold=True)
        ws.column_dimensions[ws.cell(4, j).column_letter].width = w
    for i, p in enumerate(sorted(problems, key=lambda p: p.file), start=5):
        for j, v in enumerate((p.file, p.message, p.fix, p.severity), start=1):
            _text(ws.cell(i, j), v).alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A5"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- small helpers ---------------------------------------------------------------------------------

def _text(cell, value: object):
    """Store `value` as text, never as a formula (a partner's '=HYPERLINK(...)' stays text)."""
    cell.value = _clean("" if value is None else str(value)) or None
    if cell.value is not None:
        cell.data_type = "s"
    return cell


def _clean(text: str) -> str:
    return _ILLEGAL.sub("", text)


def _anchor_text(ref: str) -> str:
    m = _CELL.match((ref or "").strip().upper())
    return f"{m.group(1)}{m.group(2)}" if m else ""


def _quote(sheet: str) -> str:
    return "'" + sheet.replace("'", "''") + "'"


def _inside(input_dir: Path, rel: str) -> Path | None:
    """The input file for a problem's relative path, or None when it would lead outside the input folder."""
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
        return None
    return input_dir.joinpath(*parts)


def _feedback_name(rel: str, suffix: str, taken: set[str]) -> str:
    """``actuals/acme.xlsx`` -> ``actuals/acme_feedback.xlsx``; the input's extension is added on a clash
    (``acme.csv`` next to ``acme.xlsx`` -> ``acme_csv_feedback.xlsx``)."""
    path = PurePosixPath(rel)
    name = str(path.with_name(f"{path.stem}_feedback{suffix}"))
    if name.lower() in taken:
        name = str(path.with_name(f"{path.stem}_{path.suffix.lstrip('.').lower()}_feedback{suffix}"))
    taken.add(name.lower())
    return name
