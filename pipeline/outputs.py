"""Writing outputs: every file is written aside and renamed into place, so a crash never leaves a half
file under a final name. Also the formats of flags.csv, reconciled.xlsx and manifest.json.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
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
        writer.writerow(["" if is_blank(v) else v for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def is_blank(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA: a value an output file leaves empty."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def reconciled_xlsx_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    """One sheet per frame, bold header row frozen. Strings are always stored as text, so a value typed as
    ``=HYPERLINK(...)`` by a partner can never become a live formula in our audit workbook.

    Written by `pipeline.xlsx_write`, which builds the sheet XML column by column: about 10x less CPU than
    XlsxWriter cell by cell (1 s instead of 10 s for 200 partners), with floats that read back exactly."""
    from pipeline.xlsx_write import frames_xlsx_bytes

    return frames_xlsx_bytes(sheets)


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
