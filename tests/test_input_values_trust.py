"""Values read as the workbook means them (issue 12, items 6 and 7).

6. A workbook saved with the 1904 date system (older Mac Excel: ``<workbookPr date1904="1"/>``) counts
   its serial dates from 1904-01-01: a serial typed as a number is read in the workbook's own system, so
   its months land in the right quarter. Dates before (March) 1900 are reported, never shifted a day.
7. A figure or quarterly roll-up that is not finite (three months of 1e308 sum to infinity, a value
   times its FX rate overflows) is an error on each row behind it; the review is still written and the
   KPI is missing for that quarter: never zero, never infinite in the health, the portfolio or history.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.core.settings import Config
from pipeline.reconcile.load import load, reconcile
from pipeline.read.reader import read_input
from workbook_builders import ACTUALS, CHECKINS, COMMITMENTS, KPIS, PARTNERS, TARGETS, write_xlsx

MAC_EPOCH = dt.date(1904, 1, 1)
WIN_EPOCH = dt.date(1899, 12, 30)


def serial_1904(day: dt.date) -> int:
    return (day - MAC_EPOCH).days


def serial_1900(day: dt.date) -> int:
    return (day - WIN_EPOCH).days


def write_1904(path: Path, sheets: dict[str, list[list]]) -> Path:
    """`write_xlsx` in the 1904 date system."""
    return write_xlsx(path, sheets, date1904=True)


def registry(folder: Path) -> None:
    write_xlsx(folder / "registry.xlsx", {"Partners": PARTNERS, "KPIs": KPIS})


def problems(rec, code: str) -> list[tuple[str, str, str]]:
    return sorted((p.file, p.sheet, p.cell) for p in rec.problems if p.code == code)


HEAD = ACTUALS[0]   # partner_id, kpi_id, period, value, source, currency, note


# --------------------------------------------------------------------------------------------------
# 6. the 1904 date system

def mac_actuals() -> list[list]:
    """ACME deals: Jan and Feb 2026 as plain 1904 serials (cells holding numbers), Mar 2026 as a real date."""
    return [HEAD,
            ["ACME", "deals", serial_1904(dt.date(2026, 1, 15)), 3, "internal", None, None],
            ["ACME", "deals", serial_1904(dt.date(2026, 2, 1)), 4, "internal", None, None],
            ["ACME", "deals", dt.date(2026, 3, 31), 5, "internal", None, None],
            ["GLOBEX", "deals", serial_1904(dt.date(2026, 4, 1)), 7, "internal", None, None]]


def test_a_1904_workbook_is_really_in_the_1904_system():
    """The fixture is what old Mac Excel writes: the flag in xl/workbook.xml and 1904 serials in the cells."""
    import zipfile
    from io import BytesIO

    from openpyxl import Workbook
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    wb = Workbook()
    wb.epoch = CALENDAR_MAC_1904
    wb.active["A1"] = dt.date(2026, 3, 31)
    buf = BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf) as z:
        assert b'date1904="1"' in z.read("xl/workbook.xml")
        assert f"<v>{serial_1904(dt.date(2026, 3, 31))}</v>".encode() in z.read("xl/worksheets/sheet1.xml")


def test_serials_of_a_1904_workbook_land_in_their_months_and_quarters(tmp_path):
    folder = tmp_path / "in"
    registry(folder)
    write_1904(folder / "mac.xlsx", {"Actuals": mac_actuals()})
    rec = load(folder)
    assert problems(rec, "VALUE_BAD_PERIOD") == []
    got = sorted(zip(rec.kpi_values["partner_id"], rec.kpi_values["period"], rec.kpi_values["quarter"],
                     rec.kpi_values["value"]))
    assert got == [("ACME", "2026-01", "2026-Q1", 3.0), ("ACME", "2026-02", "2026-Q1", 4.0),
                   ("ACME", "2026-03", "2026-Q1", 5.0), ("GLOBEX", "2026-04", "2026-Q2", 7.0)]


def test_dates_of_a_1904_workbook_as_serials_and_real_dates(tmp_path):
    folder = tmp_path / "in"
    registry(folder)
    head = COMMITMENTS[0]
    row = dict(zip(head, COMMITMENTS[1]))
    row.update(due_date=serial_1904(dt.date(2026, 3, 15)), baseline_due_date=dt.date(2026, 3, 1),
               last_updated=serial_1904(dt.date(2026, 3, 20)), completed_date=dt.date(2026, 3, 14))
    checkins = [CHECKINS[0], ["ACME", serial_1904(dt.date(2026, 2, 10)), "QBR", "Ana, Olga", "pipeline"]]
    write_1904(folder / "mac.xlsx", {"Commitments": [head, [row[c] for c in head]], "Check-ins": checkins})
    rec = load(folder)
    assert problems(rec, "VALUE_BAD_DATE") == []
    c = rec.commitments.iloc[0]
    assert (c["due_date"], c["baseline_due_date"], c["last_updated"], c["completed_date"]) == (
        pd.Timestamp("2026-03-15"), pd.Timestamp("2026-03-01"), pd.Timestamp("2026-03-20"), pd.Timestamp("2026-03-14"))
    assert list(rec.checkins["date"]) == [pd.Timestamp("2026-02-10")]
    assert list(rec.checkins["quarter"]) == ["2026-Q1"]


def test_a_1900_workbook_next_to_a_1904_one_keeps_its_own_system(tmp_path):
    folder = tmp_path / "in"
    registry(folder)
    write_1904(folder / "mac.xlsx", {"Actuals": [HEAD, ["ACME", "deals", serial_1904(dt.date(2026, 5, 1)), 1,
                                                        "internal", None, None]]})
    write_xlsx(folder / "win.xlsx", {"Actuals": [HEAD, ["GLOBEX", "deals", serial_1900(dt.date(2026, 5, 1)), 2,
                                                        "internal", None, None]]})
    rec = load(folder)
    assert dict(zip(rec.kpi_values["partner_id"], rec.kpi_values["period"])) == {"ACME": "2026-05", "GLOBEX": "2026-05"}


def test_the_read_cache_keeps_the_date_system(tmp_path):
    folder, cache = tmp_path / "in", tmp_path / "cache"
    registry(folder)
    write_1904(folder / "mac.xlsx", {"Actuals": mac_actuals()})
    first = read_input(folder, Config(), cache)
    second = read_input(folder, Config(), cache)
    assert second.cached == ["mac.xlsx", "registry.xlsx"]
    assert [w.date1904 for w in second.workbooks] == [True, False]
    a, b = (reconcile(r.workbooks).kpi_values for r in (first, second))
    pd.testing.assert_frame_equal(a, b)
    assert sorted(set(b["quarter"])) == ["2026-Q1", "2026-Q2"]


def test_an_xls_saved_in_the_1904_system(tmp_path):
    import xlwt

    folder = tmp_path / "in"
    registry(folder)
    book = xlwt.Workbook()
    book.dates_1904 = True
    ws = book.add_sheet("Actuals")
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for r, row in enumerate(mac_actuals()):
        for c, v in enumerate(row):
            if isinstance(v, dt.date):
                ws.write(r, c, v, date_style)
            elif v is not None:
                ws.write(r, c, v)
    book.save(str(folder / "old-mac.xls"))
    rec = load(folder)
    assert problems(rec, "VALUE_BAD_PERIOD") == []
    assert sorted(zip(rec.kpi_values["period"], rec.kpi_values["quarter"])) == [
        ("2026-01", "2026-Q1"), ("2026-02", "2026-Q1"), ("2026-03", "2026-Q1"), ("2026-04", "2026-Q2")]


def test_validate_is_clean_on_a_1904_portfolio(tmp_path):
    folder = tmp_path / "in"
    registry(folder)
    targets = [TARGETS[0], ["ACME", "deals", "2026-Q1", 10]]
    write_1904(folder / "mac.xlsx", {"Actuals": mac_actuals(), "Targets": targets})
    result = CliRunner().invoke(cli, ["validate", "--input", str(folder), "--format", "json"])
    payload = json.loads(result.output)
    assert [p["code"] for p in payload["problems"]] == [], payload["problems"]
    assert result.exit_code == 0


def test_dates_before_1900_are_reported_never_shifted(tmp_path):
    folder = tmp_path / "in"
    registry(folder)
    head = COMMITMENTS[0]
    row = dict(zip(head, COMMITMENTS[1]))
    row.update(due_date="1899-12-31", baseline_due_date=None, last_updated=dt.date(1900, 1, 15), completed_date=None,
               status="In progress")
    actuals = [HEAD, ["ACME", "deals", dt.date(1900, 2, 10), 3, "internal", None, None],
               ["ACME", "deals", "1899-06-30", 4, "internal", None, None],
               ["ACME", "deals", "2026-03", 5, "internal", None, None]]
    write_xlsx(folder / "old.xlsx", {"Commitments": [head, [row[c] for c in head]], "Actuals": actuals,
                                     "Check-ins": [CHECKINS[0], ["ACME", "1899-12-01", "QBR", None, None]]})
    rec = load(folder)
    assert problems(rec, "VALUE_DATE_BEFORE_1900") == [
        ("old.xlsx", "Actuals", "C2"), ("old.xlsx", "Actuals", "C3"), ("old.xlsx", "Check-ins", "B2"),
        ("old.xlsx", "Commitments", "F2"), ("old.xlsx", "Commitments", "K2")]
    assert list(rec.kpi_values["period"]) == ["2026-03"]
    assert rec.commitments["due_date"].isna().all() and rec.commitments["last_updated"].isna().all()
    assert len(rec.checkins) == 0


# --------------------------------------------------------------------------------------------------
# 7. overflow and non-finite figures

def overflow_portfolio(folder: Path) -> Path:
    """ACME's revenue for 2026-Q1 is three months of 1e308 (their sum is infinite); the rest is clean."""
    registry(folder)
    write_xlsx(folder / "plan.xlsx", {"Targets": TARGETS, "Commitments": COMMITMENTS, "Check-ins": CHECKINS})
    write_xlsx(folder / "acme.xlsx", {"Actuals": [HEAD] + [
        ["ACME", "revenue", f"2026-0{m}", 1e308, "internal", None, None] for m in (1, 2, 3)] + [
        ["ACME", "deals", "2026-Q1", 11, "internal", None, None],
        ["ACME", "win_rate", "2026-Q1", 0.3, "partner", None, None]]})
    write_xlsx(folder / "globex.xlsx", {"Actuals": [HEAD, ["GLOBEX", "revenue", "2026-Q1", 52000.5, "internal", None, None]]})
    return folder


def test_a_sum_that_overflows_is_an_error_on_each_row_behind_it(tmp_path):
    rec = load(overflow_portfolio(tmp_path / "in"))
    assert problems(rec, "ROLLUP_OVERFLOW") == [("acme.xlsx", "Actuals", f"D{r}") for r in (2, 3, 4)]
    assert {p.partner_id for p in rec.problems if p.code == "ROLLUP_OVERFLOW"} == {"ACME"}
    assert {p.severity for p in rec.problems if p.code == "ROLLUP_OVERFLOW"} == {"error"}
    acme = rec.kpi_values[rec.kpi_values["partner_id"] == "ACME"]
    assert "revenue" not in set(acme["kpi_id"])           # excluded, so the quarter has no revenue figure


def test_the_review_is_written_and_the_kpi_is_missing_not_infinite(tmp_path):
    folder, out = overflow_portfolio(tmp_path / "in"), tmp_path / "out"
    result = CliRunner().invoke(cli, ["report", "--input", str(folder), "--output", str(out), "--quarter", "2026-Q1",
                                      "--jobs", "1"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "2026-Q1" / "manifest.json").read_text(encoding="utf-8"))
    acme = next(p for p in manifest["partners"] if p["partner_id"] == "ACME")
    assert (out / "2026-Q1" / acme["pdf"]).is_file()
    assert 0 <= acme["health_score"] <= 100
    assert isinstance(acme["health_score"], int)
    with sqlite3.connect(out / "history.sqlite") as conn:
        recorded = dict(conn.execute("SELECT partner_id, score FROM health").fetchall())
        values = [v for (v,) in conn.execute("SELECT value FROM kpi_value")]
    assert recorded["ACME"] == acme["health_score"]
    assert all(math.isfinite(v) for v in values)


def test_the_analysis_treats_the_overflowing_quarter_as_missing(tmp_path):
    from pipeline.analyse.analysis import analyse
    from pipeline.core.periods import Quarter

    rec = load(overflow_portfolio(tmp_path / "in"))
    a = analyse(rec, Quarter.parse("2026-Q1"))
    kq = a.kpi_quarterly.set_index(["partner_id", "kpi_id"])
    assert pd.isna(kq.loc[("ACME", "revenue"), "actual"])
    assert kq.loc[("ACME", "revenue"), "status"] == "missing"
    numbers = a.kpi_quarterly[["target", "internal", "partner", "actual", "attainment"]].to_numpy(dtype=float)
    assert not np.isinf(numbers).any()
    h = a.health.set_index("partner_id")
    # three excluded rows and a KPI not reported: the confidence beside the score says so (issue 14: they
    # are no longer points inside it)
    assert h.loc["ACME", "confidence"] == "based on 2 of 3 KPIs measured; 1 not reported; 3 rows excluded"
    assert 0 <= h.loc["ACME", "score"] <= 100
    assert np.isfinite(a.health_breakdown["value"].dropna().to_numpy(dtype=float)).all()


def test_monthly_targets_that_overflow_are_reported(tmp_path):
    folder = tmp_path / "in"
    registry(folder)
    targets = [TARGETS[0]] + [["ACME", "deals", f"2026-0{m}", 1e308] for m in (1, 2, 3)]
    write_xlsx(folder / "plan.xlsx", {"Targets": targets})
    rec = load(folder)
    assert problems(rec, "ROLLUP_OVERFLOW") == [("plan.xlsx", "Targets", f"D{r}") for r in (2, 3, 4)]
    assert len(rec.targets) == 0


def test_a_star_target_that_overflows_is_reported_once_per_cell(tmp_path):
    folder = tmp_path / "in"
    registry(folder)
    targets = [TARGETS[0]] + [["*", "deals", f"2026-0{m}", 1e308] for m in (1, 2)]
    write_xlsx(folder / "plan.xlsx", {"Targets": targets})
    rec = load(folder)
    assert problems(rec, "ROLLUP_OVERFLOW") == [("plan.xlsx", "Targets", "D2"), ("plan.xlsx", "Targets", "D3")]
    assert len(rec.targets) == 0


def test_what_does_not_overflow_is_kept(tmp_path):
    """A quarterly figure wins over its months (they are never added up); `last` adds nothing up; a
    less favourable duplicate of one month is not added to it."""
    folder = tmp_path / "in"
    registry(folder)
    kpis = KPIS + [["stock", "Stock", "count", "higher", "last", 1]]
    write_xlsx(folder / "registry.xlsx", {"Partners": PARTNERS, "KPIs": kpis})
    rows = [HEAD, ["ACME", "deals", "2026-Q1", 9, "internal", None, None]]
    rows += [["ACME", "deals", f"2026-0{m}", 1e308, "internal", None, None] for m in (1, 2, 3)]
    rows += [["ACME", "stock", f"2026-0{m}", 1e308, "internal", None, None] for m in (1, 2, 3)]
    rows += [["GLOBEX", "deals", "2026-01", 1e308, "internal", None, None],
             ["GLOBEX", "deals", "2026-01", 1e308, "internal", None, None]]
    write_xlsx(folder / "acme.xlsx", {"Actuals": rows})
    rec = load(folder)
    assert problems(rec, "ROLLUP_OVERFLOW") == []
    assert len(rec.kpi_values) == 9


def test_an_fx_conversion_that_overflows_is_reported(tmp_path):
    folder = tmp_path / "in"
    registry(folder)
    fx = [["period", "currency", "rate"], ["2026-Q1", "EUR", 10]]
    rows = [HEAD, ["ACME", "revenue", "2026-Q1", 1e308, "internal", "EUR", None],       # bulk path
            ["GLOBEX", "revenue", "2026-Q1", "1.5e308", "partner", "EUR", "typed"],      # careful path
            ["GLOBEX", "revenue", "2026-Q1", 100, "internal", "EUR", None]]
    write_xlsx(folder / "fx.xlsx", {"FX Rates": fx, "Actuals": rows})
    rec = load(folder)
    assert problems(rec, "FX_OVERFLOW") == [("fx.xlsx", "Actuals", "D2"), ("fx.xlsx", "Actuals", "D3")]
    assert list(rec.kpi_values["value"]) == [1000.0]


def test_text_that_is_not_a_finite_number_is_refused(tmp_path):
    folder = tmp_path / "in"
    registry(folder)
    rows = [HEAD, ["ACME", "deals", "2026-Q1", "1e999", "internal", None, None],
            ["ACME", "deals", "2026-Q2", "inf", "internal", None, None],
            ["ACME", "deals", "2026-Q3", "nan", "internal", None, None]]
    write_xlsx(folder / "a.xlsx", {"Actuals": rows})
    rec = load(folder)
    assert problems(rec, "VALUE_NOT_NUMBER") == [("a.xlsx", "Actuals", f"D{r}") for r in (2, 3, 4)]
    assert len(rec.kpi_values) == 0


def test_the_analysis_never_shows_an_infinite_figure():
    """Frames handed to the analysis directly (or figures recorded before this fix): a roll-up that is
    not finite is missing, an attainment that overflows is capped like a degenerate one, a change that
    overflows is unknown, and an infinite discrepancy (our figure 0, theirs not) only counts as 'bad'."""
    from pipeline.analyse.health import health_scores
    from pipeline.analyse.kpis import kpi_definitions, kpi_quarterly
    from pipeline.core.periods import Quarter

    config = Config()
    kpis = pd.DataFrame(KPIS[1:], columns=KPIS[0])
    cols = ["partner_id", "kpi_id", "period", "period_kind", "quarter", "value", "source"]
    values = pd.DataFrame([["ACME", "revenue", f"2026-0{m}", "month", "2026-Q1", 1e308, "internal"] for m in (1, 2, 3)]
                          + [["ACME", "deals", "2026-Q1", "quarter", "2026-Q1", 1e300, "internal"],
                             ["ACME", "deals", "2025-Q4", "quarter", "2025-Q4", 1e-300, "internal"],
                             ["GLOBEX", "deals", "2026-Q1", "quarter", "2026-Q1", 0.0, "internal"],
                             ["GLOBEX", "deals", "2026-Q1", "quarter", "2026-Q1", 5.0, "partner"]], columns=cols)
    targets = pd.DataFrame([["ACME", "revenue", "2026-Q1", "quarter", "2026-Q1", 100.0],
                            ["ACME", "deals", "2026-Q1", "quarter", "2026-Q1", 1e-10],
                            ["GLOBEX", "deals", "2026-Q1", "quarter", "2026-Q1", 4.0]],
                           columns=["partner_id", "kpi_id", "period", "period_kind", "quarter", "target"])
    q = Quarter.parse("2026-Q1")
    kq = kpi_quarterly(values, targets, kpis, config, q.index)
    k = kq.set_index(["partner_id", "kpi_id", "quarter"])
    assert pd.isna(k.loc[("ACME", "revenue", "2026-Q1"), "actual"])
    assert k.loc[("ACME", "revenue", "2026-Q1"), "status"] == "missing"
    assert k.loc[("ACME", "deals", "2026-Q1"), "attainment"] == config["health.attainment_cap"]
    assert pd.isna(k.loc[("ACME", "deals", "2026-Q1"), "change_qoq"])
    assert k.loc[("GLOBEX", "deals", "2026-Q1"), "discrepancy"] == np.inf  # as documented: a gap over a zero base
    numbers = kq[["target", "internal", "partner", "actual", "attainment", "change_qoq", "change_yoy"]]
    assert not np.isinf(numbers.to_numpy(dtype=float)).any()
    from pipeline.core.frames import empty_analysis_frame

    commitments = empty_analysis_frame("commitment_status")
    health, breakdown = health_scores(q, config, ["ACME", "GLOBEX"], kq, kpi_definitions(kpis), commitments)
    assert health["score"].astype(float).between(0, 100).all()
    assert np.isfinite(breakdown["value"].dropna().to_numpy(dtype=float)).all()
    globex = health.set_index("partner_id").loc["GLOBEX", "confidence"]
    assert globex == "based on 1 of 1 KPI measured; 1 where our figures and yours differ"  # beside the score, nothing more


def test_a_wide_period_header_before_1900_is_reported_not_lost(tmp_path):
    folder = tmp_path / "in"
    registry(folder)
    rows = [["partner_id", "kpi_id", dt.date(1900, 1, 31), dt.date(2026, 1, 31)], ["ACME", "deals", 3, 4]]
    write_xlsx(folder / "wide.xlsx", {"Actuals": rows})
    rec = load(folder)
    assert problems(rec, "WIDE_BAD_PERIOD_HEADER") == [("wide.xlsx", "Actuals", "C1")]
    assert list(rec.kpi_values["period"]) == ["2026-01"]
