"""Reading single cell values the way people type them: periods, numbers, percents, dates, choices,
commitment states and e-mail lists.

Pure functions. Each returns the value or raises ``ValueError`` with a short human reason; the caller
turns that into a Problem with the cell's coordinates. The accepted forms are documented in
``docs/reading.md``; only unambiguous forms are read, nothing is guessed.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from email.utils import parseaddr

from pipeline.core.periods import Quarter, month_label, quarter_of_month
from pipeline.core.schema import normalise

# --------------------------------------------------------------------------------------------------
# periods

_MONTHS = {name: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")], start=1) for name in names}
_QUARTER_FORMS = (
    re.compile(r"^(?:fy\s*)?(?P<y>\d{4})\s*[-/ ]?\s*q(?P<q>[1-4])$"),            # 2026-Q2, 2026Q2, FY2026 Q2
    re.compile(r"^q(?P<q>[1-4])\s*[-/ ]?\s*(?P<fy>fy)?\s*(?P<y>\d{4})$"),        # Q2 2026, Q2-2026, Q2 FY2026
    re.compile(r"^fy\s*(?P<y>\d{2})\s*[-/ ]?\s*q(?P<q>[1-4])$"),                 # FY26 Q2
    re.compile(r"^q(?P<q>[1-4])\s*[-/ ]?\s*fy\s*(?P<y>\d{2})$"),                 # Q2 FY26
)
_MONTH_NUM_FORMS = (
    re.compile(r"^(?P<y>\d{4})\s*[-/.]\s*(?P<m>\d{1,2})$"),                      # 2026-05, 2026/5
    re.compile(r"^(?P<m>\d{1,2})\s*[-/.]\s*(?P<y>\d{4})$"),                      # 05/2026
)
_MONTH_NAME_FORMS = (
    re.compile(r"^(?P<n>[a-z]{3,9})\.?\s*[-/ ,]?\s*(?P<y>\d{4}|\d{2})$"),        # May 2026, May-26, Jan 2026
    re.compile(r"^(?P<y>\d{4})\s*[-/ ,]?\s*(?P<n>[a-z]{3,9})$"),                 # 2026 May, 2026-May
)
_SERIAL_RANGE = (20_000, 80_000)  # Excel serials 1954..2119 (1900 system): anything else is not a date
_EXCEL_EPOCH = dt.date(1899, 12, 30)    # day 0 of the 1900 date system (right from 1900-03-01 on)
_EPOCH_1904 = dt.date(1904, 1, 1)       # day 0 of the 1904 date system (older Mac Excel)
_SHIFT_1904 = (_EPOCH_1904 - _EXCEL_EPOCH).days  # 1462: a 1904 serial plus this is the 1900 serial
_FIRST_DATE = dt.date(1900, 3, 1)       # before it the 1900 system's serials are off by a day (its 1900-02-29)


class EarlyDate(ValueError):
    """A date before March 1900: no workbook stores one reliably (Excel's 1900 system counts a 29 February
    1900 that never was, so programs disagree by a day there; the 1904 system starts later). Reported,
    never shifted."""


@dataclass(frozen=True)
class Period:
    """A reporting period as typed: a month (``2026-05``) or a fiscal quarter (``2026-Q2``)."""

    kind: str      # 'month' | 'quarter'
    label: str     # '2026-05' or '2026-Q2'
    quarter: Quarter


def _month_period(year: int, month: int, fy_start: int) -> Period:
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} is out of range")
    return Period("month", month_label(year, month), quarter_of_month(year, month, fy_start))


def _quarter_period(year: int, q: int) -> Period:
    quarter = Quarter(year, q)
    return Period("quarter", quarter.label, quarter)


def _two_digit_year(text: str) -> int:
    return 2000 + int(text) if len(text) == 2 else int(text)


def _match_quarter(text: str) -> Period | None:
    for form in _QUARTER_FORMS:
        m = form.match(text)
        if m:
            return _quarter_period(_two_digit_year(m.group("y")), int(m.group("q")))
    return None


def parse_period(value: object, fy_start: int = 1, date1904: bool = False) -> Period:
    """A period from a cell: quarter text (``2026-Q2``, ``Q2 2026``, ``2026Q2``, ``FY2026 Q2``), a month
    (``2026-05``, ``May 2026``), a date, ISO date text or an Excel date serial (in the 1904 date system
    when ``date1904``: the workbook's own).

    Quarter text names a *fiscal* quarter. Months and dates become the calendar month they name, which
    falls in its fiscal quarter (``fy_start`` = first month of the fiscal year). A date before March 1900
    raises `EarlyDate`.
    """
    if value is None or isinstance(value, bool):
        raise ValueError("not a period")
    if isinstance(value, (dt.date, dt.datetime)):
        _check_early(value)
        return _month_period(value.year, value.month, fy_start)
    if isinstance(value, (int, float)):
        return parse_period(_serial_date(value, date1904), fy_start)
    text = re.sub(r"\s+", " ", str(value).replace("\u00a0", " ")).strip().lower()
    if not text:
        raise ValueError("blank")
    found = _match_quarter(text)
    if found:
        return found
    for form in _MONTH_NUM_FORMS:
        m = form.match(text)
        if m:
            return _month_period(int(m.group("y")), int(m.group("m")), fy_start)
    for form in _MONTH_NAME_FORMS:
        m = form.match(text)
        if m and m.group("n") in _MONTHS:
            return _month_period(_two_digit_year(m.group("y")), _MONTHS[m.group("n")], fy_start)
    try:
        day = _iso_date(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a period") from None
    return parse_period(day, fy_start)


def parse_quarter_option(text: str) -> Quarter:
    """The quarter of ``report --quarter``: ``2026-Q3``, ``Q3 2026``, ``2026Q3``, ``FY2026 Q3``."""
    found = _match_quarter(re.sub(r"\s+", " ", str(text)).strip().lower())
    if found is None:
        raise ValueError(f"{text!r} is not a quarter; write it like 2026-Q3")
    return found.quarter


# --------------------------------------------------------------------------------------------------
# numbers

_SPACES = "\u00a0\u202f\u2009 "            # NBSP, narrow NBSP, thin space, space: thousands groups
_PLAIN = re.compile(r"^(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$")
_COMMA_THOUSANDS = re.compile(r"^[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")      # 1,234,567.5
_DOT_THOUSANDS = re.compile(r"^[1-9]\d{0,2}(?:\.\d{3})+,\d+$")             # 1.234.567,5 (both marks)
_DOT_GROUPS = re.compile(r"^[1-9]\d{0,2}(?:\.\d{3}){2,}$")                 # 1.234.567 (two or more dots)
_SPACE_THOUSANDS = re.compile(r"^[1-9]\d{0,2}(?: \d{3})+(?:[.,]\d+)?$")    # 1 234 567,5 or 1 234.5
_DECIMAL_COMMA = re.compile(r"^\d+,\d+$")                                  # 12,5 (not 1,234: see above)


def parse_number(value: object) -> float:
    """A number from a cell. Real numbers as they are; text only in unambiguous forms:

    ``1234.5``, ``1,234.5``, ``1 234,5`` (space, NBSP or thin-space groups), ``1.234,5``, ``12,5``,
    ``-3``, ``(1,200)`` (accounting negative). ``1,234`` is one thousand two hundred and thirty-four;
    ``1.234`` is one point two three four. Currency signs, ``k``, ``%`` and words are refused.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("not a number")
    if isinstance(value, (int, float)):
        out = float(value)
        if not math.isfinite(out):
            raise ValueError("not a finite number")
        return out
    text = str(value).strip(_SPACES + "\t\r\n")
    for ch in _SPACES[:-1]:
        text = text.replace(ch, " ")
    text = re.sub(r" +", " ", text).replace("\u2212", "-").lower()
    if not text:
        raise ValueError("blank")
    sign = 1.0
    if text.startswith("(") and text.endswith(")"):
        sign, text = -1.0, text[1:-1].strip()
    elif text[0] in "+-":
        sign, text = (-1.0 if text[0] == "-" else 1.0), text[1:].strip()
    if _PLAIN.match(text):
        number = float(text)
    elif _COMMA_THOUSANDS.match(text):
        number = float(text.replace(",", ""))
    elif _DOT_THOUSANDS.match(text):
        number = float(text.replace(".", "").replace(",", "."))
    elif _DOT_GROUPS.match(text):
        number = float(text.replace(".", ""))
    elif _SPACE_THOUSANDS.match(text):
        number = float(text.replace(" ", "").replace(",", "."))
    elif _DECIMAL_COMMA.match(text):
        number = float(text.replace(",", "."))
    else:
        raise ValueError(f"{value!r} is not a plain number")
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return sign * number


_SCALED = re.compile(r"^([-+]?\d+(?:[.,]\d+)?)\s*(k|m|mn|mio|bn|b)$")
_SCALE = {"k": 1e3, "m": 1e6, "mn": 1e6, "mio": 1e6, "b": 1e9, "bn": 1e9}
_NO_FIGURE = {"n/a", "na", "-", "--", "tbd", "tbc", "?", "none", "nil", "unknown", "pending"}


def number_hint(value: object, percent: bool = False) -> str:
    """What to write instead of a cell `parse_number` refused, fitted to what was typed: ``50k`` ->
    "write 50000", ``$12,000`` -> "write 12000 ...", ``n/a`` -> "leave the cell blank ..."."""
    text = str(value).strip(_SPACES + "\t\r\n")
    low = text.lower()
    if low in _NO_FIGURE:
        return "leave the cell blank when there is no figure yet (a blank is missing, never zero)"
    scaled = _SCALED.fullmatch(low.replace(" ", ""))
    if scaled:
        number = float(scaled.group(1).replace(",", ".")) * _SCALE[scaled.group(2)]
        return f"write {number:.15g} (the whole number, without '{scaled.group(2)}')"
    bare = re.sub(r"^[$€£¥]|[$€£¥]$|^(usd|eur|gbp|chf|jpy)\s*|\s*(usd|eur|gbp|chf|jpy)$", "", low).strip()
    if bare != low:
        try:
            return (f"write {parse_number(bare):.15g} without the currency sign (a figure in another currency "
                    "goes with its code in the currency column)")
        except ValueError:
            pass
    if low.endswith("%") and not percent:
        return "this KPI is not a percentage: write the number alone, without '%'"
    return "type a plain number such as 1234.5"


def parse_percent(value: object) -> float:
    """``'15%'`` -> 0.15 (any number form of `parse_number` before the sign); plain numbers as they are."""
    if isinstance(value, str):
        text = value.strip(_SPACES + "\t\r\n")
        if text.endswith("%"):
            return parse_number(text[:-1]) / 100.0
    return parse_number(value)


# --------------------------------------------------------------------------------------------------
# dates

_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[t ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")


def _serial_date(value: float, date1904: bool = False) -> dt.date:
    """The day of an Excel serial in the 1900 date system, or the 1904 one (``date1904``)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a date")
    if not _SERIAL_RANGE[0] <= value + (_SHIFT_1904 if date1904 else 0) < _SERIAL_RANGE[1]:
        raise ValueError(f"{value!r} is not a date")
    return (_EPOCH_1904 if date1904 else _EXCEL_EPOCH) + dt.timedelta(days=int(value))


def _check_early(day: dt.date) -> dt.date:
    if (day.date() if isinstance(day, dt.datetime) else day) < _FIRST_DATE:
        raise EarlyDate(f"{day.isoformat()} is before March 1900")
    return day


def _iso_date(text: str) -> dt.date:
    m = _ISO.match(text.strip().lower())
    if not m:
        raise ValueError(f"{text!r} is not an ISO date")
    return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def parse_date(value: object, day_first: bool = False, date1904: bool = False) -> dt.date:
    """A date from a cell: a real date, an Excel serial (in the 1904 date system when ``date1904``: the
    workbook's own), ISO text (``2026-05-31``, also ``2026/05/31``), and day-first text (``31/05/2026``,
    ``31.05.2026``) only when ``day_first``. A date before March 1900 raises `EarlyDate`."""
    if isinstance(value, dt.datetime):
        return _check_early(value.date())
    if isinstance(value, dt.date):
        return _check_early(value)
    if isinstance(value, bool) or value is None:
        raise ValueError("not a date")
    if isinstance(value, (int, float)):
        return _serial_date(value, date1904)
    text = str(value).strip()
    try:
        day = _iso_date(text)
    except ValueError:
        pass
    else:
        return _check_early(day)
    m = _DAY_FIRST.match(text)
    if m and day_first:
        try:
            day = dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a date ({exc})") from None
        return _check_early(day)
    if m:
        raise ValueError(f"{value!r} is ambiguous: write it as ISO text (2026-05-31) or a real date")
    raise ValueError(f"{value!r} is not a date")


# --------------------------------------------------------------------------------------------------
# choices

# accepted spellings (after schema.normalise) -> canonical value, per column name
_CHOICE_SYNONYMS: dict[str, dict[str, str]] = {
    "unit": {"money": "currency", "amount": "currency", "number": "count", "#": "count", "percentage": "percent",
             "%": "percent", "pct": "percent", "day": "days"},
    "direction": {"higherisbetter": "higher", "up": "higher", "max": "higher", "increase": "higher",
                  "lowerisbetter": "lower", "down": "lower", "min": "lower", "decrease": "lower"},
    "aggregation": {"total": "sum", "latest": "last", "endofperiod": "last", "average": "mean", "avg": "mean"},
    "source": {"us": "internal", "ours": "internal", "partnerreported": "partner", "external": "partner"},
    "party": {"we": "us", "ours": "us", "internal": "us", "them": "partner", "both": "joint", "shared": "joint",
              "mutual": "joint"},
    "status": {"inactive": "paused", "onhold": "paused", "terminated": "ended", "closed": "ended",
               "former": "ended"},
}


def parse_choice(value: object, choices: tuple[str, ...], column: str = "") -> str | None:
    """One of `choices`, case and spaces ignored (plus a few spellings per column); None when blank."""
    key = normalise(value)
    if not key:
        return None
    for choice in choices:
        if normalise(choice) == key:
            return choice
    mapped = _CHOICE_SYNONYMS.get(column, {}).get(key)
    if mapped in choices:
        return mapped
    raise ValueError(f"{value!r} is not one of {', '.join(choices)}")


# --------------------------------------------------------------------------------------------------
# commitment states

_STATUS_WORDS: dict[str, str] = {}
for _state, _words in {
    "not_started": ("not started", "notstarted", "not yet started", "to do", "todo", "planned", "new", "backlog",
                    "pending", "scheduled", "open not started", "not begun", "tbd"),
    "in_progress": ("in progress", "inprogress", "wip", "ongoing", "started", "underway", "under way", "in flight",
                    "active", "open", "on track", "at risk", "delayed", "behind", "progressing", "doing",
                    "in review", "in development", "partially done", "partial"),
    "done": ("done", "complete", "completed", "closed", "finished", "delivered", "achieved", "resolved",
             "shipped", "met", "closed complete", "100"),
    "blocked": ("blocked", "on hold", "onhold", "hold", "stuck", "waiting", "paused", "stalled", "escalated"),
    "cancelled": ("cancelled", "canceled", "dropped", "abandoned", "withdrawn", "descoped", "de scoped",
                  "wont do", "won t do", "rejected", "void", "obsolete", "superseded", "no longer needed"),
}.items():
    for _word in _words:
        _STATUS_WORDS[_word] = _state


def map_status(text: object) -> tuple[str, bool]:
    """A commitment status typed as free text -> (one of schema.COMMITMENT_STATES, mapped?).

    Case, punctuation and symbols are ignored ("Done ✓", "In-Progress", "WIP"). Blank is
    ``not_started`` (mapped). Text that matches nothing is ``in_progress`` with mapped False: an
    unknown state stays open, so an overdue commitment is never hidden.
    """
    raw = "" if text is None else str(text)
    key = re.sub(r"[^a-z0-9]+", " ", raw.lower().replace("'", "")).strip()
    if not key:
        return "not_started", True
    if key.replace(" ", "_") in _STATUS_WORDS.values():
        return key.replace(" ", "_"), True
    if key in _STATUS_WORDS:
        return _STATUS_WORDS[key], True
    if key.endswith(" 100"):  # "complete 100", "done 100"
        key = key[:-4]
        if key in _STATUS_WORDS:
            return _STATUS_WORDS[key], True
    return "in_progress", False


# --------------------------------------------------------------------------------------------------
# e-mail addresses

_EMAIL = re.compile(r"^[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[a-z]{2,}$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def control_characters(text: str) -> list[str]:
    """The distinct C0/C1 control characters (DEL included) in `text`, as ``U+0000``, in order of appearance."""
    return list(dict.fromkeys(f"U+{ord(c):04X}" for c in _CONTROL.findall(text)))


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    r"""`text` with every C0/C1 control character (DEL included) as a visible escape: ``\n``, ``\r``, ``\t``,
    else ``\xHH`` (ESC ``[31m`` becomes ``\x1b[31m``). Backslashes are left as they are."""
    return _CONTROL.sub(lambda m: _SHORT_ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def split_emails(text: object) -> tuple[list[str], list[str]]:
    """Addresses separated by ``;``, ``,`` or line breaks -> (valid, invalid). ``Name <a@b.org>`` gives
    ``a@b.org``. Blank gives two empty lists. A piece holding a control character (`control_characters`;
    a NUL or an escape sequence would end up in a mail header) is never valid."""
    valid: list[str] = []
    invalid: list[str] = []
    for piece in re.split(r"[;,\n\r]+", "" if text is None else str(text)):
        piece = piece.strip()
        if not piece:
            continue
        _, addr = parseaddr(piece)
        addr = addr.strip()
        if addr and _EMAIL.match(addr) and ("<" not in piece or piece.endswith(">")) and not _CONTROL.search(piece):
            if addr not in valid:
                valid.append(addr)
        else:
            invalid.append(piece)
    return valid, invalid
