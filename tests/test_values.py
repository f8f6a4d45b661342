"""Single values as people type them: periods, numbers, percents, dates, choices, states, addresses."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.core.periods import Quarter
from pipeline.core.schema import COMMITMENT_STATES
from pipeline.reconcile.values import (map_status, parse_choice, parse_date, parse_number, parse_percent, parse_period,
                             parse_quarter_option, split_emails)

MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December"]


@pytest.mark.parametrize("text", ["2026-Q2", "Q2 2026", "2026Q2", "FY2026 Q2", "fy2026-q2", "Q2-2026", "2026 Q2",
                                  "Q2 FY2026", "FY26 Q2", " 2026-q2 "])
def test_quarter_forms_name_the_same_fiscal_quarter(text):
    p = parse_period(text, fy_start=4)  # quarter text is already fiscal: fy_start does not move it
    assert (p.kind, p.label, p.quarter) == ("quarter", "2026-Q2", Quarter(2026, 2))


@pytest.mark.parametrize("value", ["2026-05", "2026/5", "05/2026", "May 2026", "may-2026", "May-26", "2026 May",
                                   "2026-05-31", dt.date(2026, 5, 31), dt.datetime(2026, 5, 1, 12, 0), 46143])
def test_month_forms(value):
    p = parse_period(value)
    assert (p.kind, p.label, p.quarter.label) == ("month", "2026-05", "2026-Q2")


@pytest.mark.parametrize("value", ["2026", "Q5 2026", "2026-13", "Mayo 2026", "next quarter", "", None, True, 12.5,
                                   "2026-Q2x", dt.time(10, 0)])
def test_not_periods(value):
    with pytest.raises(ValueError):
        parse_period(value)


@settings(max_examples=300, deadline=None)
@given(year=st.integers(1990, 2100), month=st.integers(1, 12), fy_start=st.integers(1, 12),
       form=st.sampled_from(["iso", "name", "abbr", "date", "serial", "slash"]))
def test_every_month_falls_in_the_fiscal_quarter_containing_it(year, month, fy_start, form):
    value = {"iso": f"{year}-{month:02d}", "name": f"{MONTH_NAMES[month - 1]} {year}",
             "abbr": f"{MONTH_NAMES[month - 1][:3]} {year}", "date": dt.date(year, month, 28),
             "serial": (dt.date(year, month, 15) - dt.date(1899, 12, 30)).days, "slash": f"{month}/{year}"}[form]
    p = parse_period(value, fy_start)
    assert p.label == f"{year}-{month:02d}"
    assert (year, month) in p.quarter.months(fy_start)
    start, end = p.quarter.start_date(fy_start), p.quarter.end_date(fy_start)
    assert start <= dt.date(year, month, 1) <= end


def test_april_fiscal_year_is_named_by_the_year_it_ends():
    assert parse_period("2026-05", fy_start=4).quarter == Quarter(2027, 1)
    assert parse_period("March 2027", fy_start=4).quarter == Quarter(2027, 4)


@pytest.mark.parametrize("text", ["2026-Q3", "Q3 2026", "2026Q3", "FY2026 Q3", "q3 fy2026"])
def test_quarter_option(text):
    assert parse_quarter_option(text) == Quarter(2026, 3)


@pytest.mark.parametrize("text", ["2026-07", "2026", "Q3", "July 2026", ""])
def test_quarter_option_refuses_non_quarters(text):
    with pytest.raises(ValueError):
        parse_quarter_option(text)


@pytest.mark.parametrize("text,expected", [
    ("1234.5", 1234.5), ("1,234.5", 1234.5), ("1,234,567", 1234567), ("1,234", 1234), ("1.234", 1.234),
    (" 1 234,5 ", 1234.5), ("1\u00a0234,5", 1234.5), ("1\u202f234\u202f567", 1234567), ("1.234.567,89", 1234567.89),
    ("1.234.567", 1234567), ("12,5", 12.5), ("0,123", 0.123), ("-3", -3), ("\u22123", -3), ("+7", 7),
    ("(1,200)", -1200), (".5", 0.5), ("1e3", 1000), (42, 42.0), (0.1, 0.1),
])
def test_number_forms(text, expected):
    assert parse_number(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["$12k", "12k", "n/a", "N/A", "-", "", "  ", "1,23,4", "1.234.5", "12%", "€5", "1 2",
                                  "1,2,3", "0,123,456", "TBD", True, None, float("nan"), float("inf")])
def test_not_numbers_are_refused_never_zero(text):
    with pytest.raises(ValueError):
        parse_number(text)


@settings(max_examples=300, deadline=None)
@example(x=1234.0, decimals=0, style="euro").via("the ambiguous euro form")
@example(x=-1234567.891, decimals=2, style="nbsp").via("negative with groups")
@given(x=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), decimals=st.integers(0, 4),
       style=st.sampled_from(["plain", "comma", "space", "nbsp", "euro"]))
def test_formatted_numbers_round_trip(x, decimals, style):
    text = f"{x:,.{decimals}f}"
    if style == "plain":
        text = text.replace(",", "")
    elif style in ("space", "nbsp"):
        text = text.replace(",", " " if style == "space" else "\u00a0")
    elif style == "euro":
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
        if "," not in text and text.count(".") == 1:
            return  # '1.234' alone is one point two three four (documented): not a euro round trip
        if "." not in text and "," in text and len(text.split(",")[1]) == 3:
            return  # '1,234' alone is read the English way (documented): not a euro round trip
    expected = round(x, decimals)
    assert parse_number(text) == pytest.approx(expected, rel=1e-12, abs=10 ** -decimals)


def test_percent():
    assert parse_percent("15%") == pytest.approx(0.15)
    assert parse_percent(" 12,5 % ") == pytest.approx(0.125)
    assert parse_percent(0.15) == 0.15
    assert parse_percent("0.15") == 0.15
    with pytest.raises(ValueError):
        parse_percent("about 15%")


def test_dates():
    assert parse_date(dt.datetime(2026, 5, 31, 13, 0)) == dt.date(2026, 5, 31)
    assert parse_date("2026-05-31") == dt.date(2026, 5, 31)
    assert parse_date("2026-05-31T00:00:00") == dt.date(2026, 5, 31)
    assert parse_date(46173) == dt.date(2026, 5, 31)
    with pytest.raises(ValueError):
        parse_date("03/04/2026")  # ambiguous unless the config says day-first
    assert parse_date("03/04/2026", day_first=True) == dt.date(2026, 4, 3)
    assert parse_date("31.05.2026", day_first=True) == dt.date(2026, 5, 31)
    for bad in ("2026-02-30", "soon", "31/13/2026", 12):
        with pytest.raises(ValueError):
            parse_date(bad, day_first=True)


def test_choices():
    assert parse_choice(" Higher ", ("higher", "lower"), "direction") == "higher"
    assert parse_choice("Lower is better", ("higher", "lower"), "direction") == "lower"
    assert parse_choice("JOINT", ("us", "partner", "joint"), "party") == "joint"
    assert parse_choice(None, ("us",), "party") is None
    assert parse_choice("  ", ("us",), "party") is None
    with pytest.raises(ValueError):
        parse_choice("sometimes", ("us", "partner", "joint"), "party")


@pytest.mark.parametrize("text,state", [
    ("In progress", "in_progress"), ("Complete", "done"), ("Closed", "done"), ("WIP", "in_progress"),
    ("On hold", "blocked"), ("Not started", "not_started"), ("Done ✓", "done"), ("DONE!", "done"),
    ("in-progress", "in_progress"), ("Cancelled", "cancelled"), ("canceled", "cancelled"), ("Won't do", "cancelled"),
    ("blocked", "blocked"), ("not_started", "not_started"), ("To do", "not_started"), ("Completed 100%", "done"),
])
def test_status_mapping(text, state):
    assert map_status(text) == (state, True)


def test_unmapped_status_stays_open():
    state, mapped = map_status("ask Bob")
    assert not mapped and state in COMMITMENT_STATES and state != "done"
    assert map_status(None) == ("not_started", True)


def test_split_emails():
    valid, invalid = split_emails("ana@acme.example; Bob <bob@acme.example>,\ncarol@acme.example, not-an-address, x@y")
    assert valid == ["ana@acme.example", "bob@acme.example", "carol@acme.example"]
    assert invalid == ["not-an-address", "x@y"]
    assert split_emails(None) == ([], [])
    assert split_emails("a@b.example; a@b.example") == (["a@b.example"], [])
