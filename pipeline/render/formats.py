"""How values read in the PDFs: numbers with their unit, percentages, changes with arrows, dates. Pure
functions, no reportlab."""
from __future__ import annotations

import datetime as dt
from typing import cast

from pipeline.core.frames import is_missing


def fmt_number(value: object, unit: str = "count", currency: str = "") -> str:
    """A KPI value as a reader wants it: currency compact with its code, percent KPIs as %, days as days."""
    if is_missing(value):
        return "—"
    v = float(value)  # type: ignore[arg-type]  # any number-like cell value; is_missing ruled out None and NaN
    if unit == "percent":
        return f"{v * 100:.1f}%"
    if unit == "score":
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.1f}"
    if unit == "ratio":
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    if unit == "days":
        return f"{v:,.1f} days" if abs(v) < 100 else f"{v:,.0f} days"
    a = abs(v)
    if a >= 1e9:
        s = f"{v / 1e9:,.2f}B"
    elif a >= 1e6:
        s = f"{v / 1e6:,.2f}M"
    elif a >= 1e4:
        s = f"{v / 1e3:,.1f}k"
    else:
        s = f"{v:,.0f}" if float(v).is_integer() or a >= 100 else f"{v:,.2f}"
    return f"{currency} {s}".strip() if unit == "currency" else s


def fmt_pct(value: object, digits: int = 0) -> str:
    return "—" if is_missing(value) else f"{float(value) * 100:.{digits}f}%"  # type: ignore[arg-type]  # number-like, not missing


def fmt_change(value: object) -> str:
    """A relative change with an arrow that survives black-and-white printing: ▲ 5.2%, ▼ 3.1%, = 0.0%."""
    if is_missing(value):
        return "—"
    v = float(value)  # type: ignore[arg-type]  # any number-like cell value; is_missing ruled out None and NaN
    arrow = "▲" if v > 0.0005 else "▼" if v < -0.0005 else "="
    return f"{arrow} {abs(v) * 100:.1f}%"


def fmt_date(value: object) -> str:
    if is_missing(value) or value == "":
        return "—"
    try:
        return cast("dt.date", value).strftime("%d %b %Y")  # duck-typed: no strftime falls back below
    except AttributeError:
        return str(value)
