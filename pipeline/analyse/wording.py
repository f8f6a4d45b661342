"""How the analysis writes figures, dates and counts into its sentences (the flags' evidence, the health
score's explanation): 412,000 / 15.0% / 52 days, "2026-03-31", "three quarters", "the second slip"."""
from __future__ import annotations

from typing import Any

import pandas as pd

ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


def fmt_value(value: float, unit: str) -> str:
    """A figure as the review prints it: 412,000 / 15.0% / 52 days / 1.25."""
    if value is None or pd.isna(value):
        return "n/a"
    if unit == "percent":
        return f"{value * 100:.1f}%"
    if unit == "days":
        return f"{value:,.0f} days" if float(value).is_integer() else f"{value:,.1f} days"
    if unit == "score":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if unit == "ratio":
        return f"{value:,.2f}"
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.2f}"


def pct(x: float) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{x * 100:.0f}%"


def day(ts: Any) -> str:
    return "no date" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d")


def count_words(n: int) -> str:
    return WORDS.get(int(n), str(int(n)))


def lower_first(name: str) -> str:
    """A name inside a sentence: "Certified consultants" reads "certified consultants", "NPS" stays."""
    return name[:1].lower() + name[1:] if len(name) > 1 and name[1:2].islower() else name
