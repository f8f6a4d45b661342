"""KPIs per quarter: roll-ups, the driving figure, attainment (direction mirrored), changes."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_fixtures import Book, Q, months_of
from pipeline.core.settings import Config
from pipeline.analyse.kpis import attainment, kpi_quarterly

QTR = "2026-Q2"


def kq_of(b: Book, quarter: str = QTR) -> pd.DataFrame:
    rec = b.build()
    return kpi_quarterly(rec.kpi_values, rec.targets, rec.kpis, rec.config, Q(quarter).index).set_index(
        ["partner_id", "kpi_id", "quarter"])


@pytest.mark.parametrize("aggregation, expected", [("sum", 60.0), ("last", 30.0), ("mean", 20.0)])
def test_months_roll_up_by_aggregation(aggregation, expected):
    b = Book().kpi("k", aggregation=aggregation).partner("P")
    for m, v in zip(months_of(QTR), (10, 20, 30)):
        b.actual("P", "k", m, v).target("P", "k", m, 25)
    row = kq_of(b).loc[("P", "k", QTR)]
    assert row["actual"] == expected and row["months_reported"] == 3
    assert row["target"] == {"sum": 75.0, "last": 25.0, "mean": 25.0}[aggregation]


def test_partial_quarter_keeps_months_reported_and_never_invents_zero():
    b = Book().kpi("k", aggregation="mean").partner("P")
    b.actual("P", "k", months_of(QTR)[0], 10).actual("P", "k", months_of(QTR)[2], 30)
    row = kq_of(b).loc[("P", "k", QTR)]
    assert row["actual"] == 20.0 and row["months_reported"] == 2  # mean of two, not of (10, 0, 30)


def test_quarterly_figure_wins_over_months_of_the_same_source():
    b = Book().kpi("k").partner("P").actual("P", "k", QTR, 100).actual("P", "k", months_of(QTR)[0], 7)
    row = kq_of(b).loc[("P", "k", QTR)]
    assert row["actual"] == 100 and row["months_reported"] == 0


@pytest.mark.parametrize("driving, actual, source", [("internal", 100.0, "internal"), ("partner", 90.0, "partner")])
def test_driving_source_is_configurable_and_shown(driving, actual, source):
    b = Book().set("kpi.driving_source", driving).kpi("k").partner("P")
    b.actual("P", "k", QTR, 100).actual("P", "k", QTR, 90, source="partner").target("P", "k", QTR, 100)
    row = kq_of(b).loc[("P", "k", QTR)]
    assert (row["internal"], row["partner"], row["actual"], row["actual_source"]) == (100, 90, actual, source)
    assert row["discrepancy"] == pytest.approx(10 / actual)


def test_the_other_source_fills_in_and_statuses():
    b = Book().kpi("k").partner("P")
    b.actual("P", "k", "2026-Q1", 50, source="partner")                      # partner only, no target
    b.target("P", "k", QTR, 100)                                              # target, no actual
    kq = kq_of(b)
    assert kq.loc[("P", "k", "2026-Q1"), "actual_source"] == "partner"
    assert kq.loc[("P", "k", "2026-Q1"), "status"] == "no_target"
    assert kq.loc[("P", "k", QTR), "status"] == "missing" and math.isnan(kq.loc[("P", "k", QTR), "actual"])


def test_changes_on_last_quarter_and_last_year():
    b = Book().kpi("k").partner("P")
    for q, v in (("2025-Q2", 80), ("2026-Q1", 50), (QTR, 100)):
        b.actual("P", "k", q, v)
    row = kq_of(b).loc[("P", "k", QTR)]
    assert row["change_qoq"] == pytest.approx(1.0) and row["change_yoy"] == pytest.approx(0.25)
    assert math.isnan(kq_of(b).loc[("P", "k", "2026-Q1"), "change_qoq"])    # 2025-Q4 unknown


def test_quarters_after_the_reviewed_one_are_left_out():
    b = Book().kpi("k").partner("P").actual("P", "k", "2026-Q3", 1).actual("P", "k", QTR, 2)
    assert list(kq_of(b).index.get_level_values("quarter")) == [QTR]


@pytest.mark.parametrize("actual, target, direction, expected, status", [
    (90, 100, "higher", 0.9, "on_track"), (89, 100, "higher", 0.89, "at_risk"), (70, 100, "higher", 0.7, "off_track"),
    (44, 40, "lower", 40 / 44, "on_track"), (50, 40, "lower", 0.8, "at_risk"), (0, 40, "lower", 1.2, "on_track"),
    (5, 0, "higher", 1.2, "on_track"),
])
def test_attainment_and_status(actual, target, direction, expected, status):
    b = Book().kpi("k", direction=direction).partner("P").actual("P", "k", QTR, actual).target("P", "k", QTR, target)
    row = kq_of(b).loc[("P", "k", QTR)]
    assert row["attainment"] == pytest.approx(expected) and row["status"] == status


# --- properties -----------------------------------------------------------------------------------
values = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-3, max_value=1e9, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), values), min_size=1, max_size=3, unique_by=lambda t: t[0]),
       st.sampled_from(["sum", "last", "mean"]))
def test_rollup_property(months, aggregation):
    b = Book().kpi("k", aggregation=aggregation).partner("P")
    names = months_of(QTR)
    for i, v in months:
        b.actual("P", "k", names[i], v)
    row = kq_of(b).loc[("P", "k", QTR)]
    ordered = [v for _, v in sorted(months)]
    expected = {"sum": sum(ordered), "last": ordered[-1], "mean": sum(ordered) / len(ordered)}[aggregation]
    assert row["actual"] == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert row["months_reported"] == len(months)


@settings(max_examples=60, deadline=None)
@given(positive, positive)
def test_attainment_lower_mirrors_higher(a, t):
    higher = attainment(pd.Series([a]), pd.Series([t]), pd.Series(["higher"]), 1.2)[0]
    lower = attainment(pd.Series([t]), pd.Series([a]), pd.Series(["lower"]), 1.2)[0]
    assert higher == pytest.approx(a / t) and lower == pytest.approx(higher)
    more = attainment(pd.Series([a * 2]), pd.Series([t]), pd.Series(["higher", ])[:1], 1.2)[0]
    less_days = attainment(pd.Series([a / 2]), pd.Series([t]), pd.Series(["lower"]), 1.2)[0]
    assert more > higher and less_days > attainment(pd.Series([a]), pd.Series([t]), pd.Series(["lower"]), 1.2)[0]


@settings(max_examples=30, deadline=None)
@given(st.lists(values, min_size=2, max_size=4), st.sampled_from(["higher", "lower"]))
def test_conflicting_values_keep_the_least_favourable(vals, direction):
    b = Book().kpi("k", direction=direction).partner("P")
    for i, v in enumerate(vals):
        b.actual("P", "k", QTR, v, file=f"f{i}.xlsx")
    row = kq_of(b).loc[("P", "k", QTR)]
    assert row["actual"] == (min(vals) if direction == "higher" else max(vals))
    assert bool(row["conflict"]) == (max(vals) - min(vals) > 1e-9 * max(1.0, abs(max(vals))))


def test_config_defaults_used():
    assert Config()["kpi.driving_source"] == "internal" and Config()["health.attainment_cap"] == 1.2
