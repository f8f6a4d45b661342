"""Sheet typing, header detection and layouts, on raw grids built in code."""
from __future__ import annotations

import datetime as dt

import pytest

from pipeline.read.raw import RawSheet
from pipeline.core.schema import ACTUALS, COMMITMENTS, PARTNERS, TARGETS
from pipeline.reconcile.sheets import classify, read_table


@pytest.mark.parametrize("name,key", [
    ("Partners", "partners"), ("partner registry", "partners"), ("PARTNER_REGISTRY", "partners"),
    ("KPI-Definitions", "kpis"), ("Metrics", "kpis"), ("kpi actuals", "actuals"), ("Results ", "actuals"),
    ("Joint Business Plan", "commitments"), ("Check-ins", "checkins"), ("checkins", "checkins"),
    ("Meetings", "checkins"), ("FX Rates", "fx_rates"), ("fx_rates", "fx_rates"), ("Targets", "targets"),
])
def test_type_by_sheet_name(name, key):
    assert classify(RawSheet(name, [["anything"]])).key == key


def test_type_by_header_when_the_name_says_nothing():
    grid = [["Q1 numbers"], [], ["Partner ID", "KPI ID", "Quarter", "Actual"], ["P1", "rev", "2026-Q1", 5]]
    assert classify(RawSheet("Sheet1", grid)).key == "actuals"
    assert classify(RawSheet("Sheet1", [["Name", "Colour"], ["x", "red"]])) is None


def test_csv_is_typed_by_header_only():
    grid = [["partner_id", "kpi_id", "period", "value"], ["P1", "rev", "2026-Q1", "5"]]
    assert classify(RawSheet("partners", grid), csv=True).key == "actuals"


def test_header_below_title_rows_with_line_breaks_spaces_and_margin():
    grid = [
        ["Acme partnership", None, None],
        ["updated monthly"],
        [],
        [None, "Partner\nID ", "  partner name", "Tier", "Our comments"],
        [None, "P1", "Acme", "Gold", "x"],
        [None, None, None, None, None],
        [None, "P2", "Globex", None, None],
    ]
    table, problems = read_table(RawSheet("Partners", grid, first_row=2, first_col=3), PARTNERS, "a.xlsx")
    assert problems == []
    assert table.header_row == 5
    assert table.fields == ["partner_id", "partner_name", "tier"]
    assert table.headers["partner_id"] == "Partner ID"
    assert [(r, v) for r, v, _ in table.records] == [(6, ["P1", "Acme", "Gold"]), (8, ["P2", "Globex", None])]
    r, vals, cols = table.records[1]
    assert table.cell(r, 1, cols) == "E8"  # partner_name: grid column 2 + first_col 3 -> E


def test_duplicate_column_warns_and_keeps_the_first():
    grid = [["partner_id", "partner_name", "Partner ID"], ["P1", "Acme", "P9"]]
    table, problems = read_table(RawSheet("Partners", grid), PARTNERS, "a.xlsx")
    assert [(p.code, p.cell, p.column) for p in problems] == [("SHEET_DUPLICATE_COLUMN", "C1", "Partner ID")]
    assert "A1" in problems[0].message
    assert table.records[0][1][0] == "P1"


def test_a_weaker_alias_next_to_the_real_column_is_just_an_extra_column():
    grid = [["Partner ID", "Partner", "KPI ID", "Quarter", "Target"], ["P1", "Acme", "rev", "2026-Q1", 5]]
    table, problems = read_table(RawSheet("Targets", grid), TARGETS, "t.xlsx")
    assert problems == []
    assert table.records[0][1][:2] == ["P1", "rev"]


def test_missing_required_column_excludes_the_sheet_and_names_the_column():
    grid = [["commitment_id", "partner_id", "description"], ["C1", "P1", "x"]]
    table, problems = read_table(RawSheet("Commitments", grid), COMMITMENTS, "c.xlsx")
    assert table is None
    assert [(p.code, p.column, p.sheet, p.file, p.cell) for p in problems] == [
        ("SHEET_MISSING_COLUMN", "party", "Commitments", "c.xlsx", "A1")]


def test_no_header_at_all():
    table, problems = read_table(RawSheet("Actuals", [["hello"], [1, 2, 3]]), ACTUALS, "a.xlsx")
    assert table is None and [p.code for p in problems] == ["SHEET_NO_HEADER"]


def test_blank_rows_are_not_data_but_a_formula_without_value_is():
    grid = [["partner_id", "kpi_id", "period", "value"], ["P1", "rev", "2026-Q1", 1], ["", "  ", None, None],
            [None, None, None, None], ["P1", "rev", "2026-Q2", 2]]
    sheet = RawSheet("Actuals", grid, formulas_without_value={(4, 4): "=B2*2"})
    table, _ = read_table(sheet, ACTUALS, "a.xlsx")
    assert [r for r, _, _ in table.records] == [2, 4, 5]
    assert table.data_rows == [2, 4, 5]


def test_wide_layout_one_record_per_filled_period():
    grid = [
        ["Targets FY2026"],
        ["Partner ID", "KPI ID", "2026-Q1", "Q2 2026", "Jan 2027", dt.datetime(2027, 2, 1), "Comment"],
        ["P1", "rev", 10, None, 30, 40, "ok"],
        ["P2", "rev", None, None, None, None, None],
    ]
    table, problems = read_table(RawSheet("Targets", grid), TARGETS, "t.xlsx")
    assert problems == [] and table.wide
    assert table.fields == ["partner_id", "kpi_id", "period", "target"]
    got = [(r, v[2], v[3], table.cell(r, 2, c), table.cell(r, 3, c), table.header(3, c)) for r, v, c in table.records]
    assert got[:3] == [(3, "2026-Q1", 10, "C2", "C3", "2026-Q1"), (3, "Jan 2027", 30, "E2", "E3", "Jan 2027"),
                       (3, dt.datetime(2027, 2, 1), 40, "F2", "F3", "2027-02-01")]
    # a row with no value in any period is kept (as a blank value) so it is reported, not lost
    assert got[3][0] == 4 and got[3][2] is None


def test_wide_header_that_is_not_a_period_is_reported_not_dropped():
    from pipeline.read.raw import RawSheet
    from pipeline.core.schema import ACTUALS
    from pipeline.reconcile.sheets import read_table

    grid = [["partner_id", "kpi_id", "2026-Q1", "2026-Q5", "Region"],
            ["ACME", "revenue", 10, 11, "EMEA"],
            ["ACME", "deals", 3, None, "EMEA"]]
    table, problems = read_table(RawSheet("Actuals", grid), ACTUALS, "a.xlsx")
    assert table is not None and table.wide
    assert [(p.code, p.cell, p.value) for p in problems] == [("WIDE_BAD_PERIOD_HEADER", "D1", "2026-Q5")]
    assert "1 values" in problems[0].message or "1 value" in problems[0].message
