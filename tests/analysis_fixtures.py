"""Builders of `Reconciled` frames in code for the analysis tests: no workbook needed.

``Book`` collects rows with sensible healthy defaults and `build()` returns a Reconciled whose frames
have exactly the documented columns (schema.FRAMES plus provenance).
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd

from pipeline.core import problems as P
from pipeline.core.settings import Config
from pipeline.core.frames import Reconciled, empty_frame
from pipeline.core.periods import Quarter, quarter_of_month

Q = Quarter.parse


def period_info(period: str, fy_start: int = 1) -> tuple[str, str]:
    """('2026-05' | '2026-Q2') -> (period_kind, quarter label)."""
    if re.fullmatch(r"\d{4}-Q[1-4]", period):
        return "quarter", period
    y, m = map(int, period.split("-"))
    return "month", quarter_of_month(y, m, fy_start).label


def months_of(quarter: str) -> list[str]:
    return [f"{y:04d}-{m:02d}" for y, m in Q(quarter).months()]


class Book:
    """Rows for one Reconciled, added with one call each."""

    def __init__(self, config: Config | None = None, has_checkins_sheet: bool = False):
        self.config = config or Config()
        self.has_checkins_sheet = has_checkins_sheet
        self.rows: dict[str, list[dict[str, Any]]] = {k: [] for k in Reconciled.FRAME_NAMES}
        self.problems: list[P.Problem] = []

    def set(self, dotted: str, value: Any) -> "Book":
        section, key = dotted.split(".")
        self.config.values[section][key] = value
        return self

    def partner(self, pid: str, name: str | None = None, status: str = "active", **kw) -> "Book":
        self.rows["partners"].append(dict(partner_id=pid, partner_name=name or f"{pid} Ltd", tier="Gold",
                                          partner_lead=f"Lead of {pid}", recipients=f"lead@{pid.lower()}.example",
                                          internal_owner="Olga Owner", internal_owner_email="olga@us.example",
                                          status=status, file="registry.xlsx", sheet="Partners",
                                          row=len(self.rows["partners"]) + 2, **kw))
        return self

    def kpi(self, kid: str, name: str | None = None, unit: str = "count", direction: str = "higher",
            aggregation: str | None = None, weight: float = 1.0) -> "Book":
        agg = aggregation or ("sum" if unit in ("currency", "count") else "mean")
        self.rows["kpis"].append(dict(kpi_id=kid, kpi_name=name or kid.title(), unit=unit, direction=direction,
                                      aggregation=agg, weight=weight, file="plan.xlsx", sheet="KPIs",
                                      row=len(self.rows["kpis"]) + 2))
        return self

    def target(self, pid: str, kid: str, period: str, target: float, file: str = "plan.xlsx") -> "Book":
        kind, quarter = period_info(period, self.config.fy_start)
        self.rows["targets"].append(dict(partner_id=pid, kpi_id=kid, period=period, period_kind=kind, quarter=quarter,
                                         target=float(target), from_default=False, cell="D2", file=file,
                                         sheet="Targets", row=len(self.rows["targets"]) + 2))
        return self

    def actual(self, pid: str, kid: str, period: str, value: float, source: str = "internal",
               file: str | None = None, cell: str = "D2") -> "Book":
        kind, quarter = period_info(period, self.config.fy_start)
        self.rows["kpi_values"].append(dict(partner_id=pid, kpi_id=kid, period=period, period_kind=kind, quarter=quarter,
                                            value=float(value), source=source, currency="", original_value=float(value),
                                            note="", cell=cell, file=file or f"actuals_{pid}.xlsx", sheet="Actuals",
                                            row=len(self.rows["kpi_values"]) + 2))
        return self

    def commitment(self, cid: str, pid: str, party: str = "us", *, quarter: str = "2026-Q2", **kw) -> "Book":
        """A healthy commitment by default: owned, measured, due after the quarter, updated near its end."""
        end = Q(quarter).end_date()
        row = dict(commitment_id=cid, partner_id=pid, party=party, description=f"Deliver {cid}", owner="Ann",
                   due_date=end + dt.timedelta(days=60), baseline_due_date=None, status="in_progress",
                   status_raw="In progress", percent_complete=0.5, linked_kpi_id="", last_updated=end - dt.timedelta(days=10),
                   completed_date=None, note="", internal_note=f"internal about {cid}", file="commitments.xlsx",
                   sheet="Commitments", row=len(self.rows["commitments"]) + 2)
        row.update(kw)
        self.rows["commitments"].append(row)
        return self

    def checkin(self, pid: str, date: dt.date, type: str = "monthly sync") -> "Book":
        self.rows["checkins"].append(dict(partner_id=pid, date=pd.Timestamp(date), quarter=Quarter(date.year, (date.month - 1) // 3 + 1).label,
                                          type=type, attendees="", summary="", file="checkins.xlsx", sheet="Check-ins",
                                          row=len(self.rows["checkins"]) + 2))
        return self

    def problem(self, pid: str, code: str = "VALUE_NOT_NUMBER", cell: str = "D7", file: str = "actuals.xlsx") -> "Book":
        self.problems.append(P.make(code, file=file, sheet="Actuals", cell=cell, value="12k", partner_id=pid))
        return self

    def build(self) -> Reconciled:
        frames = {}
        for name, rows in self.rows.items():
            cols = list(empty_frame(name).columns)
            frame = pd.DataFrame(rows, columns=cols) if rows else empty_frame(name)
            if name == "commitments":
                for c in ("due_date", "baseline_due_date", "last_updated", "completed_date"):
                    frame[c] = pd.to_datetime(frame[c]).astype("datetime64[ns]")
                frame["percent_complete"] = frame["percent_complete"].astype(float)
            frames[name] = frame
        rec = Reconciled(**frames, config=self.config, has_checkins_sheet=self.has_checkins_sheet)
        rec.problems.extend(self.problems)
        return rec


def healthy_partner(book: Book, pid: str, quarters: list[str], kpis=("pipeline", "deals"), commitments: int = 2,
                    base: float = 100.0) -> Book:
    """A partner that meets every target, both sources agreeing, steady growth, tidy commitments."""
    book.partner(pid)
    for i, q in enumerate(quarters):
        for k in kpis:
            book.target(pid, k, q, base)
            book.actual(pid, k, q, base * (1.05 + 0.01 * i))
    for n in range(commitments):
        book.commitment(f"{pid}-C{n}", pid, ("us", "partner")[n % 2], quarter=quarters[-1], due_date=dt.date(2030, 6, 30))
    return book
