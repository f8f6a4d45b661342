"""Health score: the breakdown sums to the score, bands, weights, and the reasons it moved."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_fixtures import Book, Q, healthy_partner
from pipeline.analyse.analysis import analyse, partner_view
from pipeline.analyse.health import _largest_remainder
from pipeline.analyse.history import History

QTR = "2026-Q2"


def scored(b: Book, quarter: str = QTR, history=None):
    a = analyse(b.build(), Q(quarter), history)
    return a, a.health.set_index("partner_id"), a.health_breakdown


def test_breakdown_sums_to_score_and_bands():
    b = Book().kpi("k", weight=2).kpi("m", weight=1)
    healthy_partner(b, "G", [QTR], kpis=("k", "m"))
    b.partner("A").target("A", "k", QTR, 100).actual("A", "k", QTR, 60).target("A", "m", QTR, 100).actual("A", "m", QTR, 150)
    b.commitment("A1", "A", "us", due_date=dt.date(2026, 4, 1))
    b.partner("R").target("R", "k", QTR, 100).actual("R", "k", QTR, 10).target("R", "m", QTR, 100)
    b.problem("R").problem("R", cell="D8")
    a, h, hb = scored(b)
    for pid, grp in hb.groupby("partner_id"):
        assert grp["points"].sum() == h.loc[pid, "score"]
        assert grp["weight"].sum() == pytest.approx(1.0)
        assert (grp["points"] <= grp["max_points"] + 1).all() and (grp["detail"].str.len() > 0).all()
    assert h.loc["G", "score"] == 100 and h.loc["G", "status"] == "green"
    assert h.loc["R", "status"] == "red"
    kpi = hb[(hb["partner_id"] == "A") & (hb["component"] == "kpi_attainment")].iloc[0]
    mean = (2 * 0.6 + 1 * 1.2) / 3  # 150% capped at 120%, weights 2:1
    assert kpi["value"] == pytest.approx((mean - 0.5) / 0.5)  # no points at 50% or less, full at 100%
    ours = hb[(hb["partner_id"] == "A") & (hb["component"] == "our_delivery")].iloc[0]
    assert ours["value"] == 0 and ours["points"] == 0


def test_components_without_evidence_hand_their_weight_on():
    b = Book().kpi("k")
    healthy_partner(b, "G", [QTR], kpis=("k",), commitments=0)
    _, h, hb = scored(b)
    g = hb[hb["partner_id"] == "G"].set_index("component")
    assert g.loc["our_delivery", "weight"] == 0 and "nothing to measure" in g.loc["our_delivery", "detail"]
    assert g.loc["kpi_attainment", "weight"] == pytest.approx(0.5 / 0.7)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.floats(0, 50), min_size=4, max_size=4), min_size=1, max_size=5))
def test_largest_remainder_sums_exactly(rows):
    import numpy as np

    raw = np.array(rows)
    points, total = _largest_remainder(raw)
    assert (points.sum(axis=1) == total).all()
    assert (abs(points - raw) < 1 + 1e-9).all()
    assert (abs(total - raw.sum(axis=1)) <= 0.5 + 1e-9).all()


def test_change_reasons_name_what_moved(tmp_path):
    def quarter(q: str, value: float, slip: bool) -> Book:
        b = Book().kpi("pipeline", "Sourced pipeline", unit="currency").partner("P")
        b.target("P", "pipeline", q, 100).actual("P", "pipeline", q, value)
        due = dt.date(2026, 12, 31) if slip else dt.date(2026, 10, 31)
        b.commitment("C-1", "P", "partner", quarter=q, due_date=due, baseline_due_date=dt.date(2026, 10, 31))
        b.commitment("C-2", "P", "partner", quarter=q, due_date=due, baseline_due_date=dt.date(2026, 10, 31))
        return b

    with History(tmp_path / "h.sqlite") as h:
        a1, h1, _ = scored(quarter("2026-Q1", 104, False), "2026-Q1", h)
        h.record(a1)
        a2, h2, _ = scored(quarter(QTR, 81, True), QTR, h)
    before, after = int(h1.loc["P", "score"]), int(h2.loc["P", "score"])
    assert h2.loc["P", "previous_score"] == before and after < before
    changes = partner_view(a2, "P").changes
    assert changes[0] == f"Health fell from {before} in 2026-Q1 to {after} ({h1.loc['P', 'status']} to {h2.loc['P', 'status']})."
    assert ("Sourced pipeline slipped from on track to at risk: 81 against a target of 100 (81% of target) now, "
            "104% in 2026-Q1.") in changes
    assert "Two of your commitments slipped: C-1 from 2026-10-31 to 2026-12-31, C-2 from 2026-10-31 to 2026-12-31." in changes
    assert all(s.endswith(".") and s[0].isupper() for s in changes)  # sentences, not fragments
    assert h2.loc["P", "change_reasons"] == " ".join(changes)
    assert h1.loc["P", "change_reasons"] == "" and partner_view(a1, "P").changes == []
