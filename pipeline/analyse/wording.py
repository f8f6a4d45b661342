"""The one number style and the one date style, and how the analysis writes counts and names into its
sentences. Every view uses these: the flags' evidence, the health score's explanation, the partner review
(through `pipeline.render.formats`, which re-exports `fmt_number` and `fmt_date`), the manifest and the e-mail.

Numbers: a currency figure always carries its code ("USD 1.03M", "USD 8,450"); any figure of 10,000 or more
is abbreviated one way, to three significant digits with k, M or B ("720k", "1.03M"), in text and tables
alike; below that it is written in full with thousands separators. Percent KPIs read "18.1%", days "7.2
days". Dates read "30 Jun 2026" everywhere (never ISO in anything a person reads).
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, cast

import pandas as pd

ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# KPIs whose changes are told in points, not relative percent: a rate's in percentage points (0.021 -> 2.1 pts),
# a score's (NPS) in its own points
POINT_UNITS = {"percent": 100.0, "score": 1.0}
_SCALES = ((1e9, "B"), (1e6, "M"), (1e3, "k"))
ABBREVIATE_FROM = 10_000


def _missing(value: object) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value)) or bool(pd.isna(cast(Any, value)))
    except (TypeError, ValueError):
        return False


def compact(v: float) -> str:
    """The one abbreviation rule: 8,450 / 54.7k / 720k / 1.03M / 2.5B (three significant digits from 10,000)."""
    a = abs(v)
    if a < ABBREVIATE_FROM:
        return f"{v:,.0f}" if float(v).is_integer() or a >= 100 else f"{v:,.2f}"
    for i, (base, suffix) in enumerate(_SCALES):
        if a >= base * (1 - 5e-4) or i == len(_SCALES) - 1:
            x = v / base
            digits = max(0, 3 - len(str(int(abs(round(x, 2))))))
            s = f"{x:.{digits}f}"
            if abs(float(s)) >= 1000 and i > 0:  # 999,999 rounds to 1000k: one scale up
                base, suffix = _SCALES[i - 1]
                s = f"{v / base:.2f}"
            if "." in s:
                s = s.rstrip("0").rstrip(".")
            return s + suffix
    return f"{v:,.0f}"  # pragma: no cover - the loop always returns


def fmt_number(value: object, unit: str = "count", currency: str = "") -> str:
    """A KPI value as every view writes it: USD 1.03M, 18.1%, 7.2 days, 42, 1.25; "—" when missing."""
    if _missing(value):
        return "—"
    v = float(value)  # type: ignore[arg-type]  # number-like: missing ruled out above
    if unit == "percent":
        return f"{v * 100:.1f}%"
    if unit == "score":
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.1f}"
    if unit == "ratio":
        return f"{v:,.2f}" if abs(v) < 100 else compact(v)
    if unit == "days":
        return (f"{v:,.0f}" if v.is_integer() else f"{v:,.1f}") + (" day" if v == 1 else " days")
    s = compact(v)
    return f"{currency} {s}".strip() if unit == "currency" else s


def fmt_value(value: Any, unit: str, currency: str = "") -> str:
    """A figure in a sentence: `fmt_number`, "n/a" when missing."""
    return "n/a" if _missing(value) else fmt_number(value, unit, currency)


def fmt_date(value: object) -> str:
    """The one date style: 30 Jun 2026 (a date, datetime, Timestamp or ISO string); "—" when missing."""
    if _missing(value) or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return str(value)
    try:
        d = pd.Timestamp(value)  # type: ignore[arg-type]  # a date-like value
    except (TypeError, ValueError):
        return str(value)
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def fmt_change(value: object, points: bool = False) -> str:
    """A change with an arrow that survives black-and-white printing: ▲ 5.2% (a relative change, given as a
    fraction), ▲ 2.1 pts (a change in points, given in points: a rate's percentage points, a score's points),
    = 0.0% when flat; "—" when unknown."""
    if _missing(value):
        return "—"
    v = float(value)  # type: ignore[arg-type]  # number-like: missing ruled out above
    size = abs(v) if points else abs(v) * 100
    arrow = "=" if size < 0.05 else "▲" if v > 0 else "▼"
    return f"{arrow} {size:.1f} pts" if points else f"{arrow} {size:.1f}%"


def pct(x: float) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{x * 100:.0f}%"


def attainment_pct(x: object, edges: tuple[float, ...] = (), missing: str = "n/a") -> str:
    """Attainment as a whole percent, except that it is never rounded up to a band edge it has not reached
    (`edges`: `Thresholds.edges`, the at-risk and on-track thresholds and the target itself): 89.96% of target
    where on track starts at 90% is "89.9%", beside "At risk", not the "90%" a reader would call on track;
    "100%" only once the target is met. Every attainment the reviews, the brief, the portfolio and the e-mail
    show is worded here."""
    if _missing(x):
        return missing
    v = float(x)  # type: ignore[arg-type]  # number-like: missing ruled out above
    shown = f"{v * 100:.0f}%"
    if any(v < e <= float(shown[:-1]) / 100 + 1e-12 for e in edges):
        return f"{math.floor(v * 1000) / 10:.1f}%"
    return shown


def day(ts: Any) -> str:
    return "no date" if _missing(ts) else fmt_date(ts)


def count_words(n: int) -> str:
    return WORDS.get(int(n), str(int(n)))


def lower_first(name: str) -> str:
    """A name inside a sentence: "Certified consultants" reads "certified consultants", "NPS" stays."""
    return name[:1].lower() + name[1:] if len(name) > 1 and name[1:2].islower() else name


def plural(n: int, noun: str, many: str = "") -> str:
    """'1 commitment', '3 commitments', '2 KPIs'."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"
