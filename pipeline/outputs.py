"""Writing outputs: every file is written aside and renamed into place, so a crash never leaves a half
file under a final name. Also the formats of flags.csv, reconciled.xlsx and manifest.json.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from pipeline.schema import FLAGS_CSV_COLUMNS


def atomic_write(path: Path, data: bytes) -> Path:
    """Write `data` to `path` whole or not at all: a temp file in the same folder, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def slug(text: str, limit: int = 60) -> str:
    """A file-name-safe version of a partner name that a person can still read (letters of any script kept)."""
    text = unicodedata.normalize("NFC", str(text)).strip()
    text = re.sub(r"[^\w.]+", "-", text, flags=re.UNICODE).strip("-._")
    return (text[:limit].rstrip("-._") or "partner")


def partner_pdf_name(quarter: str, partner_name: str, partner_id: str, taken: set[str]) -> str:
    """``Brightwave-Analytics_2026-Q3_partnership-review.pdf``; the partner_id is added on a name clash."""
    name = f"{slug(partner_name)}_{quarter}_partnership-review.pdf"
    if name.lower() in taken:
        name = f"{slug(partner_name)}_{slug(partner_id)}_{quarter}_partnership-review.pdf"
    taken.add(name.lower())
    return name


def portfolio_pdf_name(quarter: str) -> str:
    return f"portfolio_{quarter}_INTERNAL.pdf"


def flags_csv_bytes(flags: pd.DataFrame) -> bytes:
    """flags.csv: exactly the spec's columns, UTF-8 with BOM so Excel opens names in any script right."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FLAGS_CSV_COLUMNS)
    for row in flags.reindex(columns=list(FLAGS_CSV_COLUMNS)).itertuples(index=False):
        writer.writerow(["" if _blank(v) else v for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _blank(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _cell_value(value: Any) -> Any:
    """A frame value as openpyxl should store it (lists joined, NaN/NaT blank, numpy scalars unwrapped)."""
    if isinstance(value, (list, tuple, set)):
        return "; ".join(str(v) for v in value)
    if _blank(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    return value


def reconciled_xlsx_bytes(sheets: dict[str, pd.DataFrame], *, engine: str | None = None) -> bytes:
    """One sheet per frame. Strings are always stored as text, so a value typed as ``=HYPERLINK(...)`` by a
    partner can never become a live formula in our audit workbook.

    Written with XlsxWriter when it is installed (about 5x faster than openpyxl on the 100k+ rows of a
    1,000-partner portfolio), else with openpyxl's write-only mode. `engine` forces one ("xlsxwriter" or
    "openpyxl")."""
    if engine is None:
        try:
            import xlsxwriter  # noqa: F401
            engine = "xlsxwriter"
        except ImportError:
            engine = "openpyxl"
    columns = {title: _columns(frame) for title, frame in sheets.items()}
    if engine == "xlsxwriter":
        return _xlsx_xlsxwriter(sheets, columns)
    return _xlsx_openpyxl(sheets, columns)


def _columns(frame: pd.DataFrame) -> list[list[Any]]:
    """The frame's values column by column, each already as a cell stores it (see `_cell_value`)."""
    out = []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_float_dtype(col.dtype) or pd.api.types.is_integer_dtype(col.dtype):
            values = col.astype("float64").tolist() if col.hasnans else col.tolist()
            out.append([None if v != v else (str(v) if v in (math.inf, -math.inf) else v) for v in values])
        else:
            out.append([_cell_value(v) for v in col.tolist()])
    return out


def _xlsx_xlsxwriter(sheets: dict[str, pd.DataFrame], columns: dict[str, list[list[Any]]]) -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    # no inference at all: a string is a string (never a formula, URL or number), whatever it starts with
    # constant_memory: rows are streamed to temp files, so 1,000 partners' 4M+ cells stay flat in memory
    wb = xlsxwriter.Workbook(buf, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                   "strings_to_numbers": False, "remove_timezone": True,
                                   "default_date_format": "yyyy-mm-dd"})
    bold = wb.add_format({"bold": True})
    datetime_fmt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for title, frame in sheets.items():
        ws = wb.add_worksheet(title[:31])
        ws.freeze_panes(1, 0)
        for j, name in enumerate(frame.columns):
            ws.write_string(0, j, str(name), bold)
        write_string, write_number, write_boolean, write = (ws.write_string, ws.write_number, ws.write_boolean,
                                                            ws.write)
        for i, row in enumerate(zip(*columns[title]), 1):
            for j, v in enumerate(row):
                if v is None or v == "":
                    continue  # a blank cell, as openpyxl leaves it
                if isinstance(v, str):
                    write_string(i, j, v)
                elif isinstance(v, bool):
                    write_boolean(i, j, v)
                elif isinstance(v, (int, float)):
                    write_number(i, j, v)
                elif isinstance(v, dt.datetime):
                    write(i, j, v, datetime_fmt)
                elif isinstance(v, dt.date):
                    write(i, j, v)
                else:
                    write_string(i, j, str(v))
    wb.close()
    return buf.getvalue()


def _xlsx_openpyxl(sheets: dict[str, pd.DataFrame], columns: dict[str, list[list[Any]]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, frame in sheets.items():
        ws = wb.create_sheet(title=title[:31])
        ws.freeze_panes = "A2"
        header = []
        for name in frame.columns:
            c = WriteOnlyCell(ws, value=str(name))
            c.font = bold
            c.data_type = "s"
            header.append(c)
        ws.append(header)
        for row in zip(*columns[title]):
            out = []
            for value in row:
                if isinstance(value, str):
                    c = WriteOnlyCell(ws, value=None)
                    c._value = value            # bypass openpyxl's '=' -> formula inference
                    c.data_type = "s"
                    out.append(c)
                else:
                    out.append(value)
            ws.append(out)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False, default=_json_default) + "\n").encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime, pd.Timestamp)):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def remove_stale(folder: Path, old: Iterable[str], new: Iterable[str]) -> list[str]:
    """Delete files a previous run of this quarter wrote that this run no longer writes (e.g. a partner that
    ended). Only names listed in the previous manifest are touched: nothing else in the folder."""
    keep = set(new)
    removed = []
    for rel in old:
        if rel in keep or not rel or "/" in rel or rel.startswith("."):
            continue
        target = folder / rel
        if target.is_file():
            target.unlink()
            removed.append(rel)
    return removed


def replace_folder(final: Path, fill) -> Path:
    """Build a folder aside with ``fill(tmp_folder)``, then swap it in for `final` (old contents removed):
    a re-run leaves exactly this run's files, and a crash leaves the previous folder whole."""
    import shutil

    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent))
    try:
        fill(tmp)
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
