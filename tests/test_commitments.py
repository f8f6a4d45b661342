"""Commitment states at the quarter's end and delivery per party."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from analysis_fixtures import Book, Q
from pipeline.analyse.commitments import commitment_status, delivery

D = dt.date
QTR = Q("2026-Q2")


def status_of(b: Book, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    rec = b.build()
    return commitment_status(rec.commitments, QTR, rec.config, previous, list(rec.partners["partner_id"]))


def test_states_at_the_quarter_end():
    b = Book().partner("P")
    b.commitment("A", "P", "us", due_date=D(2026, 6, 1), last_updated=None, owner="", percent_complete=float("nan"))
    b.commitment("B", "P", "partner", status="done", due_date=D(2026, 5, 1), completed_date=D(2026, 4, 30))
    b.commitment("C", "P", "partner", status="done", due_date=D(2026, 5, 1), completed_date=D(2026, 5, 20))
    b.commitment("E", "P", "joint", status="cancelled", due_date=D(2026, 1, 1), last_updated=None, owner="")
    cs = status_of(b).set_index("commitment_id")
    assert cs.loc["A", "is_overdue"] and cs.loc["A", "days_overdue"] == 29 and cs.loc["A", "is_stale"]
    assert cs.loc["A", "incomplete"] == "no owner; no measure (neither linked KPI nor percent complete)"
    assert cs.loc["B", "on_time"] is True or cs.loc["B", "on_time"] == True  # noqa: E712 (pandas boolean)
    assert cs.loc["C", "on_time"] == False  # noqa: E712
    assert pd.isna(cs.loc["A", "on_time"])
    assert not cs.loc["E", "is_open"] and not cs.loc["E", "is_overdue"] and cs.loc["E", "incomplete"] == ""
    assert "internal_note" in cs.columns  # kept for the portfolio; partner_view removes it


def test_delivery_rates_count_overdue_as_not_on_time():
    b = Book().partner("P")
    b.commitment("A", "P", "us", due_date=D(2026, 6, 1))                                              # overdue
    b.commitment("B", "P", "us", status="done", due_date=D(2026, 5, 1), completed_date=D(2026, 4, 30))
    b.commitment("C", "P", "partner", status="done", due_date=D(2026, 5, 1), completed_date=None)     # unknown
    d = delivery(status_of(b)).set_index("party")
    assert list(d.index) == ["us", "partner", "joint"]
    assert d.loc["us", ["made", "open", "done", "done_on_time", "overdue"]].tolist() == [2, 1, 1, 1, 1]
    assert d.loc["us", "on_time_rate"] == 0.5
    assert pd.isna(d.loc["partner", "on_time_rate"]) and d.loc["partner", "done"] == 1
    assert d.loc["joint", "made"] == 0


def test_drops_come_from_history_and_only_open_ones():
    prev = pd.DataFrame([
        dict(partner_id="P", commitment_id="OPEN", party="us", description="x", status="in_progress", due_date=pd.Timestamp("2026-09-30"), slip_count=1, slip_days=10),
        dict(partner_id="P", commitment_id="DONE", party="us", description="y", status="done", due_date=pd.Timestamp("2026-03-30"), slip_count=0, slip_days=0),
        dict(partner_id="GONE", commitment_id="X", party="us", description="z", status="in_progress", due_date=pd.Timestamp("2026-09-30"), slip_count=0, slip_days=0),
    ])
    b = Book().partner("P").commitment("KEPT", "P", "us")
    cs = status_of(b, prev).set_index("commitment_id")
    assert set(cs.index) == {"KEPT", "OPEN"}  # DONE closed normally; GONE's partner left the registry
    assert cs.loc["OPEN", "is_dropped"] and not cs.loc["OPEN", "is_open"] and cs.loc["OPEN", "slip_count"] == 1
    d = delivery(cs.reset_index()).set_index("party")
    assert d.loc["us", "dropped"] == 1 and d.loc["us", "made"] == 1
