"""Fiscal quarters.

A quarter is labelled ``YYYY-Qn`` where YYYY is the *fiscal* year. The fiscal year starts in
``fiscal_year_start_month`` (config, default 1 = January, when fiscal and calendar years agree) and is
named after the calendar year in which it ends (so with an April start, April 2026 - March 2027 is
fiscal 2027 and May 2026 falls in ``2027-Q1``). Months are labelled ``YYYY-MM`` (calendar).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_QUARTER_LABEL = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True, order=True)
class Quarter:
    """A fiscal quarter. Ordered, hashable, and cheap to shift."""

    year: int
    q: int

    @property
    def index(self) -> int:
        """A running number: consecutive quarters differ by one."""
        return self.year * 4 + (self.q - 1)

    @classmethod
    def from_index(cls, index: int) -> Quarter:
        return cls(index // 4, index % 4 + 1)

    @property
    def label(self) -> str:
        return f"{self.year}-Q{self.q}"

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.label

    @classmethod
    def parse(cls, label: str) -> Quarter:
        """Parse our own canonical label ``YYYY-Qn`` (see `pipeline.reconcile.values.parse_period` for user text)."""
        m = _QUARTER_LABEL.match(str(label).strip())
        if not m:
            raise ValueError(f"not a quarter label like 2026-Q2: {label!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    def shift(self, n: int) -> Quarter:
        return Quarter.from_index(self.index + n)

    def previous(self) -> Quarter:
        return self.shift(-1)

    def year_ago(self) -> Quarter:
        return self.shift(-4)

    def months(self, fy_start: int = 1) -> list[tuple[int, int]]:
        """The three calendar (year, month) pairs of this fiscal quarter."""
        out = []
        # first month of fiscal year `year`: fiscal year Y ends in calendar year Y
        first_year = self.year if fy_start == 1 else self.year - 1
        m0 = fy_start + 3 * (self.q - 1)
        for k in range(3):
            m = m0 + k
            y = first_year + (m - 1) // 12
            out.append((y, (m - 1) % 12 + 1))
        return out

    def start_date(self, fy_start: int = 1) -> dt.date:
        y, m = self.months(fy_start)[0]
        return dt.date(y, m, 1)

    def end_date(self, fy_start: int = 1) -> dt.date:
        y, m = self.months(fy_start)[-1]
        nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
        return nxt - dt.timedelta(days=1)


def quarter_of_month(year: int, month: int, fy_start: int = 1) -> Quarter:
    """The fiscal quarter a calendar month falls in."""
    if not 1 <= month <= 12:
        raise ValueError(f"month out of range: {month}")
    offset = (month - fy_start) % 12          # months since the fiscal year began
    fy = year if fy_start == 1 or month < fy_start else year + 1
    return Quarter(fy, offset // 3 + 1)


def quarter_of_date(day: dt.date, fy_start: int = 1) -> Quarter:
    return quarter_of_month(day.year, day.month, fy_start)


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def quarter_range(last: Quarter, count: int) -> list[Quarter]:
    """`count` consecutive quarters ending with `last`, oldest first."""
    return [last.shift(k - count + 1) for k in range(count)]
