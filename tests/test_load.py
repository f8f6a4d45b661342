"""Reconciliation on raw grids built in code: frames, references, expansion, FX, and no row lost."""
from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.core.settings import Config
from pipeline.reconcile.load import reconcile
from pipeline.read.raw import CellError, RawSheet, RawWorkbook
from pipeline.core.schema import FRAMES, PROVENANCE
from workbook_builders import ACTUALS, COMMITMENTS, KPIS, PARTNERS, TARGETS, wide


def wb(path: str = "book.xlsx", **sheets) -> RawWorkbook:
    return RawWorkbook(path, "xlsx", [RawSheet(name.replace("_", " "), rows) for name, rows in sheets.items()])


def registry() -> RawWorkbook:
    return wb("registry.xlsx", Partners=PARTNERS, KPIs=KPIS)


def codes(rec) -> list[tuple[str, str, str]]:
    return [(p.code, p.sheet, p.cell) for p in rec.problems]


def test_frames_have_exactly_the_documented_columns():
    rec = reconcile([registry(), wb(Targets=TARGETS, Actuals=ACTUALS, Commitments=COMMITMENTS)])
    assert list(rec.problems) == []
    for name, frame in rec.frames().items():
        assert list(frame.columns) == list(FRAMES[name]) + list(PROVENANCE), name
    assert len(rec.partners) == 3 and len(rec.kpis) == 3 and len(rec.kpi_values) == 4
    assert pd.api.types.is_datetime64_any_dtype(rec.commitments["due_date"])
    assert rec.partners.set_index("partner_id").loc["GLOBEX", "recipients"] == "gus@globex.example; ops@globex.example"


def test_wide_and_long_layouts_give_identical_frames():
    long = reconcile([registry(), wb(Targets=TARGETS, Actuals=ACTUALS)])
    wide_rec = reconcile([registry(), wb(Targets=wide(TARGETS, "target"), Actuals=wide(ACTUALS, "value"))])
    assert list(wide_rec.problems) == []
    ignore = ["cell", "row", "note", "source"]  # wide sheets carry no per-period note/source columns
    for name, keys in (("targets", ["partner_id", "kpi_id", "period"]), ("kpi_values", ["partner_id", "kpi_id", "period"])):
        a = long.frames()[name].drop(columns=ignore, errors="ignore").sort_values(keys).reset_index(drop=True)
        b = wide_rec.frames()[name].drop(columns=ignore, errors="ignore").sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)


def test_star_targets_fill_only_partners_without_their_own():
    targets = [["partner_id", "kpi_id", "period", "target"], ["*", "deals", "2026-Q1", 5], ["ACME", "deals", "2026-Q1", 12]]
    rec = reconcile([registry(), wb(Targets=targets)])
    got = {(r.partner_id, r.target, r.from_default) for r in rec.targets.itertuples()}
    assert got == {("ACME", 12.0, False), ("GLOBEX", 5.0, True), ("INITECH", 5.0, True)}
    assert set(rec.targets.loc[rec.targets["from_default"], "cell"]) == {"D2"}


def test_references_by_name_and_case_insensitive_id_and_unknown_ones_with_suggestions():
    actuals = [["Partner", "KPI", "Month", "Actual"],
               ["acme", "revenue", "2026-01", 1], ["Globex", "Deals closed", "2026-02", 2],
               ["Acme Crop", "revenue", "2026-01", 3], ["ACME", "revenu", "2026-01", 4]]
    rec = reconcile([registry(), wb("a/acme.xlsx", Actuals=actuals)])
    assert list(zip(rec.kpi_values["partner_id"], rec.kpi_values["kpi_id"])) == [("ACME", "revenue"), ("GLOBEX", "deals")]
    unknown_partner, unknown_kpi = rec.problems
    assert (unknown_partner.code, unknown_partner.cell, unknown_partner.column, unknown_partner.value) == \
        ("REF_UNKNOWN_PARTNER", "A4", "Partner", "Acme Crop")
    assert "did you mean 'Acme Corp'" in unknown_partner.message and unknown_partner.partner_id == ""
    assert (unknown_kpi.code, unknown_kpi.cell, unknown_kpi.file) == ("REF_UNKNOWN_KPI", "B5", "a/acme.xlsx")
    assert "'revenue'" in unknown_kpi.message and unknown_kpi.partner_id == "ACME"


def test_duplicate_keys_keep_the_first():
    partners = PARTNERS + [["acme", "Acme Again", None, None, None, None, None, None]]
    commitments = COMMITMENTS + [["C-001", "GLOBEX", "us", "again", None, None, None, None, None, None, None, None, None, None]]
    rec = reconcile([wb(Partners=partners, KPIs=KPIS + [["deals", "Deals", None, None, None, None]], Commitments=commitments)])
    assert codes(rec) == [("DUPLICATE_KEY", "Partners", "A5"), ("DUPLICATE_KEY", "KPIs", "A5"),
                          ("DUPLICATE_KEY", "Commitments", "A5")]
    assert [p.partner_id for p in rec.problems] == ["ACME", "", "GLOBEX"]
    assert len(rec.partners) == 3 and len(rec.commitments) == 3


def test_values_blanks_errors_and_formulas_are_reported_with_their_cells():
    actuals = [["partner_id", "kpi_id", "period", "value"],
               ["ACME", "revenue", "2026-Q1", "1,234.5"],    # text number: read
               ["ACME", "revenue", "2026-Q2", "$12k"],       # not a number
               ["ACME", "win_rate", "2026-Q1", "15%"],       # percent KPI
               ["ACME", "deals", "2026-Q1", "15%"],          # percent sign on a count: refused
               ["ACME", "deals", "2026-Q2", None],           # blank: missing, not zero
               ["ACME", "deals", "2026-Q3", None],           # formula without a value
               ["ACME", "deals", "2026-Q4", CellError("#N/A")],
               ["ACME", "deals", "someday", 1],
               [None, None, None, None]]                     # blank row: not data
    sheet = RawSheet("Actuals", actuals, formulas_without_value={(7, 4): "=SUM(X1:X9)"})
    rec = reconcile([registry(), RawWorkbook("a.xlsx", "xlsx", [sheet])])
    assert rec.kpi_values["value"].tolist() == [1234.5, pytest.approx(0.15)]
    assert [(p.code, p.cell) for p in rec.problems] == [
        ("VALUE_NOT_NUMBER", "D3"), ("VALUE_NOT_NUMBER", "D5"), ("ROW_MISSING_REQUIRED", "D6"),
        ("VALUE_FORMULA_NO_VALUE", "D7"), ("VALUE_ERROR_CELL", "D8"), ("VALUE_BAD_PERIOD", "C9")]
    assert all(p.partner_id == "ACME" and p.file == "a.xlsx" and p.sheet == "Actuals" for p in rec.problems)
    assert rec.problems.items[3].value == "=SUM(X1:X9)" and "open and save" in rec.problems.items[3].fix


def test_fx_conversion_month_rate_then_quarter_rate_else_reported():
    fx = [["period", "currency", "rate"], ["2026-02", "eur", 1.2], ["2026-Q1", "EUR", 1.1]]
    actuals = [["partner_id", "kpi_id", "period", "value", "currency"],
               ["ACME", "revenue", "2026-02", 100, "EUR"], ["ACME", "revenue", "2026-03", 100, "eur"],
               ["ACME", "revenue", "2026-03", 100, "GBP"], ["ACME", "revenue", "2026-03", 100, "USD"]]
    rec = reconcile([registry(), wb(**{"FX_Rates": fx}, Actuals=actuals)])
    assert rec.kpi_values["value"].tolist() == pytest.approx([120.0, 110.0, 100.0])
    assert rec.kpi_values["original_value"].tolist() == [100.0, 100.0, 100.0]
    assert rec.kpi_values["currency"].tolist() == ["EUR", "EUR", "USD"]
    assert [(p.code, p.cell, p.value, p.partner_id) for p in rec.problems] == [("FX_MISSING_RATE", "E4", "GBP", "ACME")]


def test_no_registry_is_one_error_and_load_still_returns():
    rec = reconcile([wb(KPIs=KPIS)])
    assert codes(rec) == [("NO_PARTNERS", "", "")] and rec.partners.empty


def test_commitments_states_choices_dates_and_percent():
    head = COMMITMENTS[0]
    rows = [head,
            ["C1", "ACME", "Joint", "a", None, "2026-05-31", None, "Done ✓", "60", "deals", None, None, "n", "secret"],
            ["C2", "ACME", "them", "b", None, "31/05/2026", None, "ask Bob", "50%", "nope", None, None, None, None],
            ["C3", "ACME", "nobody", "c", None, None, None, None, None, None, None, None, None, None],
            ["C4", "Nobody Inc", "us", "d", None, None, None, None, None, None, None, None, None, None]]
    rec = reconcile([registry(), wb(Commitments=rows)])
    c = rec.commitments.set_index("commitment_id")
    assert list(c.index) == ["C1", "C2"]
    assert (c.loc["C1", "party"], c.loc["C1", "status"], c.loc["C1", "status_raw"]) == ("joint", "done", "Done ✓")
    assert c.loc["C1", "due_date"] == pd.Timestamp("2026-05-31") and pd.isna(c.loc["C2", "due_date"])
    assert c.loc["C1", "percent_complete"] == pytest.approx(0.6) and c.loc["C2", "percent_complete"] == pytest.approx(0.5)
    assert (c.loc["C2", "party"], c.loc["C2", "status"], c.loc["C2", "linked_kpi_id"]) == ("partner", "in_progress", "")
    assert c.loc["C1", "internal_note"] == "secret"
    assert [(p.code, p.cell, p.severity) for p in rec.problems] == [
        ("VALUE_UNMAPPED_STATUS", "H3", "warning"), ("REF_UNKNOWN_LINKED_KPI", "J3", "warning"),
        ("VALUE_BAD_DATE", "F3", "error"), ("VALUE_BAD_CHOICE", "C4", "error"), ("REF_UNKNOWN_PARTNER", "B5", "error")]
    day_first = Config()
    day_first.values["organisation"]["day_first_dates"] = True
    rec = reconcile([registry(), wb(Commitments=rows)], day_first)
    assert rec.commitments.set_index("commitment_id").loc["C2", "due_date"] == pd.Timestamp("2026-05-31")


def test_checkins_fall_in_their_fiscal_quarter():
    config = Config()
    config.values["organisation"]["fiscal_year_start_month"] = 4
    checkins = [["Partner ID", "Meeting Date", "Type"], ["ACME", dt.datetime(2026, 5, 3), "QBR"], ["GLOBEX", "2026-03-31", None]]
    rec = reconcile([registry(), wb(Meetings=checkins)], config)
    assert rec.has_checkins_sheet
    assert rec.checkins["quarter"].tolist() == ["2027-Q1", "2026-Q4"]


def test_sheets_of_no_known_type_are_notes_and_a_workbook_with_none_is_a_warning():
    rec = reconcile([registry(), wb("notes.xlsx", Scratch=[["hello"]])])
    assert [(p.code, p.severity, p.file) for p in rec.problems] == [
        ("SHEET_IGNORED", "note", "notes.xlsx"), ("FILE_NO_SHEETS", "warning", "notes.xlsx")]


# ---- no row lost ---------------------------------------------------------------------------------
CELL_ROW = re.compile(r"^[A-Z]+(\d+)$")
GOOD = {"partner_id": ["ACME", "GLOBEX", "Acme Corp", "acme"], "kpi_id": ["revenue", "deals", "win_rate"],
        "period": ["2026-Q1", "Q2 2026", "2026-05", "May 2026", dt.date(2026, 7, 31)],
        "value": [1, 2.5, "1,234.5", "12,5", "7"]}
BAD = {"partner_id": ["Nobody", CellError("#REF!")], "kpi_id": ["nps", 42], "period": ["later", "Q5 2026"],
       "value": ["$12k", "n/a", CellError("#DIV/0!"), "1 2"]}


@st.composite
def actuals_sheets(draw):
    rows = [["partner_id", "kpi_id", "period", "value"]]
    for _ in range(draw(st.integers(0, 25))):
        row = []
        for col in rows[0]:
            kind = draw(st.sampled_from(["good", "good", "good", "blank", "bad"]))
            row.append(None if kind == "blank" else draw(st.sampled_from(GOOD[col] if kind == "good" else BAD[col])))
        rows.append(row)
    return rows


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=actuals_sheets(), layout=st.sampled_from(["long", "wide"]))
def test_no_row_lost(rows, layout):
    if layout == "wide":
        try:
            grid = wide(rows, "value")
        except TypeError:
            return
        grid[0] = ["partner_id", "kpi_id"] + [p if p is not None else "2026-Q1" for p in grid[0][2:]]
    else:
        grid = rows
    sheet = RawSheet("Actuals", grid)
    rec = reconcile([registry(), RawWorkbook("a.xlsx", "xlsx", [sheet])])
    in_frame = set(rec.kpi_values["row"])
    reported = {int(CELL_ROW.match(p.cell).group(1)) for p in rec.problems if CELL_ROW.match(p.cell or "")}
    data_rows = {i + 1 for i, row in enumerate(grid) if i > 0 and any(v is not None for v in row)}
    if any(p.code in ("SHEET_MISSING_COLUMN", "SHEET_NO_HEADER") for p in rec.problems):
        assert in_frame == set(), "a sheet reported as unreadable must not feed a frame"
        return  # the whole sheet is excluded, and the problem says so
    assert data_rows <= in_frame | reported
    assert in_frame <= data_rows
    # a row both kept and reported would be a contradiction for the long layout (one value per row)
    if layout == "long":
        errors = {int(CELL_ROW.match(p.cell).group(1)) for p in rec.problems if p.severity == "error"}
        assert not (errors & in_frame)


def test_a_large_actuals_sheet_loses_nothing():
    """200,000 rows through the bulk path: every value kept, the one bad cell reported (speed: `make bench`)."""
    partners = [["partner_id", "partner_name"]] + [[f"P{i}", f"Partner {i}"] for i in range(200)]
    periods = [f"{y}-{m:02d}" for y in range(2020, 2027) for m in range(1, 13)]
    rows = [["partner_id", "kpi_id", "period", "value", "source", "currency", "note"]]
    rows += [[f"P{i % 200}", ("revenue", "deals")[i % 2], periods[i % len(periods)], float(i) if i % 4 else str(i),
              "internal" if i % 3 else None, None, None] for i in range(200_000)]
    rows[500][3] = "$12k"
    sheets = [RawSheet("Partners", partners), RawSheet("KPIs", KPIS), RawSheet("Actuals", rows)]
    rec = reconcile([RawWorkbook("big.xlsx", "xlsx", sheets)])
    assert len(rec.kpi_values) == 199_999
    assert [(p.code, p.cell) for p in rec.problems] == [("VALUE_NOT_NUMBER", "D501")]


TARGET_VALUES = {"partner_id": ["ACME", "acme", "Globex", " * ", "*", "Nobody", CellError("#N/A")],
                 "kpi_id": ["revenue", "deals", "win_rate", "nps", "Deals closed"],
                 "period": ["2026-Q1", "2026-02", "Q2 2026", dt.date(2026, 3, 1), "later", "  "],
                 "target": [1, 2.5, "7", " 8 ", "1,234.5", "15%", "12,5", float("inf"), True, "$12k",
                            CellError("#DIV/0!"), "1e3"]}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries({c: st.sampled_from(v + [None]) for c, v in TARGET_VALUES.items()}),
                     max_size=20),
       sheet=st.sampled_from(["Targets", "Actuals"]))
@example(rows=[{"partner_id": pid, "kpi_id": kid, "period": "2026-Q1", "target": v}
               for pid in ("ACME", " * ") for kid in ("revenue", "win_rate") for v in TARGET_VALUES["target"]],
         sheet="Targets")
@example(rows=[{"partner_id": "acme", "kpi_id": kid, "period": p, "target": v}
               for kid in ("deals", "win_rate") for p in TARGET_VALUES["period"] for v in TARGET_VALUES["target"]],
         sheet="Actuals")
def test_bulk_and_careful_paths_agree(monkeypatch, rows, sheet):
    """Clean target and actual records are added in bulk; the result must be exactly what the row-by-row
    path (which also reports what is wrong) gives for the same sheet."""
    from pipeline.reconcile import figures

    value = "target" if sheet == "Targets" else "value"
    grid = [["partner_id", "kpi_id", "period", value]] + [[r["partner_id"], r["kpi_id"], r["period"], r["target"]]
                                                          for r in rows]
    books = [registry(), RawWorkbook("t.xlsx", "xlsx", [RawSheet(sheet, grid)])]
    fast = reconcile(books)
    with monkeypatch.context() as m:
        m.setattr(figures, "fast_targets", lambda ctx, table: set())
        m.setattr(figures, "fast_actuals", lambda ctx, table, reporting: set())
        careful = reconcile(books)
    for name in ("targets", "kpi_values"):
        keys = ["row", "partner_id"]
        pd.testing.assert_frame_equal(fast.frames()[name].sort_values(keys).reset_index(drop=True),
                                      careful.frames()[name].sort_values(keys).reset_index(drop=True))
    assert sorted(map(repr, fast.problems)) == sorted(map(repr, careful.problems))
