"""Writing outputs: every file is written aside and renamed into place, so a crash never leaves a half
file under a final name. Also the formats of flags.csv, reconciled.xlsx and manifest.json.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.schema import FLAGS_CSV_COLUMNS
from pipeline.write.xlsx import is_blank


def _ancestry(path: Path) -> list[tuple[int, int]]:
    """(device, inode) of `path` and of each folder above it that exists: how a case-insensitive or linked
    file system knows a folder, whatever the spelling of its path."""
    out = []
    for p in (path, *path.parents):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((st.st_dev, st.st_ino))
    return out


def overlap(input_dir: Path, output_dir: Path) -> str:
    """Why `output_dir` must not be written for `input_dir` ('' when the two are apart): the same folder,
    or one inside the other, as the file system sees them (links resolved, and case or accents on disks
    that do not tell them apart). The input is never written to, and an output folder that holds the
    input would have its outputs read back as input or the input replaced as old output."""
    inp, out = Path(input_dir).resolve(), Path(output_dir).resolve()
    inp_id = _ancestry(inp)[:1]
    out_id = _ancestry(out)[:1] if out.exists() else []
    if out == inp or (inp_id and inp_id == out_id):
        return f"the output folder {output_dir} is the input folder; choose a folder outside it (the input is never written to)"
    if inp in out.parents or (inp_id and inp_id[0] in _ancestry(out)):
        return (f"the output folder {output_dir} is inside the input folder {input_dir}; "
                "choose a folder outside it (the input folder is never written to)")
    if out in inp.parents or (out_id and out_id[0] in _ancestry(inp)):
        return (f"the input folder {input_dir} is inside the output folder {output_dir}; move the workbooks "
                "out of it, or choose another output folder (outputs there are replaced, never read as input)")
    return ""


# Windows' rules for a file name (learn.microsoft.com, "Naming Files, Paths, and Namespaces"): these device
# names are reserved with any extension and in any case (superscript 1-3 count as digits there), no name
# ends in a dot or a space, and none holds a control character or one of <>:"/\|?*.
_WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"{port}{digit}" for port in ("COM", "LPT")
                                                            for digit in "123456789¹²³")})
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def windows_name_problem(name: str) -> str:
    """Why Windows would refuse `name` as a file name ('' when it would accept it)."""
    if name in ("", ".", ".."):
        return "empty, or a folder's own name"
    bad = _WINDOWS_FORBIDDEN.search(name)
    if bad:
        return f"holds {bad.group()!r}, which Windows forbids in a file name"
    if name[-1] in ". ":
        return "ends in a dot or a space, which Windows drops"
    if name.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        return "is a device name Windows reserves (CON, PRN, AUX, NUL, COM1-9, LPT1-9), with any extension"
    return ""


def slug(text: str, limit: int = 60, max_bytes: int = 100) -> str:
    """A file-name-safe version of a partner name that a person can still read (letters of any script kept):
    at most `limit` characters and `max_bytes` bytes of UTF-8. Valid on Windows on its own and with any
    extension: only letters, digits, ``-`` and ``_`` (no dot, space, control or forbidden character), and
    a device name Windows reserves gets a ``_``: ``CON`` -> ``CON_``."""
    text = unicodedata.normalize("NFC", str(text)).strip()
    text = re.sub(r"[^\w]+", "-", text, flags=re.UNICODE).strip("-_")[:limit]
    while len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        text = text[:-1]
    text = text.rstrip("-_") or "partner"
    return f"{text}_" if text.upper() in _WINDOWS_DEVICES else text


def name_key(name: str) -> str:
    """A file name as a case-insensitive, normalising file system (macOS, Windows) tells names apart."""
    return unicodedata.normalize("NFC", name).casefold()


REVIEW_SUFFIX = "_partnership-review.pdf"


def review_file_names(quarter: str, partners: Iterable[tuple[str, str]]) -> dict[str, str]:
    """partner_id -> the file name of its review, ``Brightwave-Analytics_2026-Q3_partnership-review.pdf``.

    Unique by construction, also where case and Unicode normalisation do not tell names apart and after
    long names are cut: partners whose names give the same file name all get their partner_id added, and
    a name that still clashes (ids that read alike) gets a short hash of the partner_id. A partner's name
    depends on the whole registry, never on the order of its rows."""
    import hashlib
    from collections import Counter

    base = {str(pid): slug(name) for pid, name in partners}

    def clashing(names: dict[str, str]) -> set[str]:
        counts = Counter(name_key(n) for n in names.values())
        return {pid for pid, n in names.items() if counts[name_key(n)] > 1}

    names = dict(base)
    for pid in clashing(names):
        names[pid] = f"{base[pid]}_{slug(pid, 40, 40)}"
    for pid in clashing(names):
        names[pid] = f"{base[pid]}_{hashlib.sha256(pid.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"
    taken: set[str] = set()
    for pid in sorted(names):  # a clash of ten hex digits: numbered, so no two partners ever share a file
        n, i = names[pid], 1
        while name_key(n) in taken:
            i += 1
            n = f"{names[pid]}-{i}"
        taken.add(name_key(n))
        names[pid] = n
    return {pid: f"{n}_{quarter}{REVIEW_SUFFIX}" for pid, n in names.items()}


def portfolio_pdf_name(quarter: str) -> str:
    return f"portfolio_{quarter}_INTERNAL.pdf"


def flags_csv_bytes(flags: pd.DataFrame) -> bytes:
    """flags.csv: exactly the spec's columns, UTF-8 with BOM so Excel opens names in any script right.
    Text Excel would run as a formula is escaped (`csv_cell`)."""
    return csv_bytes(FLAGS_CSV_COLUMNS, flags.reindex(columns=list(FLAGS_CSV_COLUMNS)).itertuples(index=False))


def csv_bytes(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """A CSV file as we write every one: UTF-8 with BOM, ``\\n`` line ends, blanks empty, every text cell
    through `csv_cell`. A row holding a carriage return has its text cells quoted (the csv module quotes
    only the characters of its line end, and a bare CR splits the row in Excel)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    quoting = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    for row in [list(header), *rows]:
        cells = ["" if is_blank(v) else csv_cell(v) for v in row]
        (quoting if any(isinstance(v, str) and "\r" in v for v in cells) else writer).writerow(cells)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell: text that starts like a formula (``=HYPERLINK(...)``, ``+``, ``-``, ``@``, tab,
    CR) gets a leading ``'`` so that Excel shows it instead of running it (OWASP's rule for CSV injection).
    Numbers stay numbers, so a negative figure is still ``-3.5``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def reconciled_xlsx_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    """One sheet per frame, bold header row frozen. Strings are always stored as text, so a value typed as
    ``=HYPERLINK(...)`` by a partner can never become a live formula in our audit workbook.

    Written by `pipeline.write.xlsx`, which builds the sheet XML column by column: about 10x less CPU than
    XlsxWriter cell by cell (1 s instead of 10 s for 200 partners), with floats that read back exactly."""
    from pipeline.write.xlsx import frames_xlsx_bytes

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
