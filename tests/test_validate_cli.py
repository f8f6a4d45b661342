"""`partner-review validate` end to end over workbooks written with openpyxl, as people lay them out."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.reconcile.load import load
from workbook_builders import (CHECKINS, COMMITMENTS, KPIS, PARTNERS, TARGETS, clean_portfolio, shift_right,
                               wide, with_title, write_csv, write_xlsx)


def validate(folder: Path, *args: str):
    return CliRunner().invoke(cli, ["validate", "--input", str(folder), *args])


def as_json(folder: Path) -> dict:
    result = validate(folder, "--format", "json")
    payload = json.loads(result.output)
    payload["exit_code"] = result.exit_code
    return payload


def found(payload: dict) -> list[tuple[str, str, str, str]]:
    return [(p["code"], p["file"], p["sheet"], p["cell"]) for p in payload["problems"] if p["severity"] != "note"]


def test_clean_folder_exits_0(tmp_path):
    clean_portfolio(tmp_path)
    result = validate(tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("clean: 0 errors, 0 warnings")


def test_lock_file_and_ignored_sheet_are_notes_only(tmp_path):
    clean_portfolio(tmp_path)
    (tmp_path / "~$registry.xlsx").write_bytes(b"\x00lock")
    write_xlsx(tmp_path / "scratch.xlsx", {"Partners": PARTNERS[:1] + [["ZED", "Zed Ltd"]], "Pivot": [["sum", 3]]})
    payload = as_json(tmp_path)
    assert payload["exit_code"] == 0
    notes = {(p["code"], p["file"]) for p in payload["problems"]}
    assert ("FILE_LOCK", "~$registry.xlsx") in notes and ("SHEET_IGNORED", "scratch.xlsx") in notes
    scratch = next(f for f in payload["inputs"] if f["path"] == "scratch.xlsx")
    assert scratch["sheets"] == [{"name": "Partners", "type": "partners"}, {"name": "Pivot", "type": "ignored"}]
    assert payload["summary"]["error"] == 0 and payload["summary"]["note"] >= 2


def test_messy_layouts_read_like_clean_ones(tmp_path):
    """Title rows, a blank margin column, alias headers with line breaks, hidden rows and a hidden sheet,
    numbers typed as text with NBSP groups and decimal commas, the wide layout."""
    clean = clean_portfolio(tmp_path / "clean")
    messy = tmp_path / "messy"
    partners = [["Partner\nID", "Partner Name ", "Tier", "Partner Contact", "Contact Email", "Alliance Manager",
                 "internal_owner_email", "Status"]] + PARTNERS[1:]
    write_xlsx(messy / "Registry 2026.xlsx",
               {"Partner Registry": with_title(shift_right(partners), "Partner registry", "owner: alliances", gap=2),
                "Metrics": [["KPI ID", "Metric", "Unit", "Direction", "Aggregation", "Weight"]] + KPIS[1:]},
               hidden_rows={"Partner Registry": [6]}, merged={"Partner Registry": ["A1:D1"]})
    actuals = [["Partner", "KPI", "Quarter", "Actual", "Source", "Currency", "Note"],
               ["ACME", "revenue", "2026-Q1", "95\u00a0000", "Internal ", None, None],
               ["acme", "Deals closed", "Q1 2026", "11", None, None, None],
               ["Acme Corp", "win_rate", "2026Q1", "30%", "PARTNER", None, "their CRM"],
               [None, None, None, None, None, None, None],
               ["GLOBEX", "revenue", "FY2026 Q1", "52000,5", None, None, None]]
    write_xlsx(messy / "q1" / "KPI results.xlsx", {"KPI Actuals": with_title(actuals, "Q1 actuals")})
    write_xlsx(messy / "plan.xlsx", {"Targets": with_title(wide(TARGETS, "target"), "Targets FY2026"),
                                     "Commitment Log": COMMITMENTS, "Cadence": CHECKINS},
               hidden_sheets=["Cadence"])
    payload = as_json(messy)
    assert found(payload) == [] and payload["exit_code"] == 0, payload["problems"]
    a, b = load(clean), load(messy)
    for name in ("partners", "kpis", "kpi_values", "targets", "commitments", "checkins"):
        drop = ["file", "sheet", "row", "cell"]
        x = a.frames()[name].drop(columns=drop, errors="ignore").sort_values(list(a.frames()[name].columns[:3])).reset_index(drop=True)
        y = b.frames()[name].drop(columns=drop, errors="ignore").sort_values(list(b.frames()[name].columns[:3])).reset_index(drop=True)
        pd.testing.assert_frame_equal(x, y, obj=name)
    assert b.partners["row"].tolist() == [6, 7, 8]  # header on row 5 below the titles; the hidden row 6 is data
    assert b.kpi_values.set_index("partner_id")["cell"].to_dict()["GLOBEX"] == "D8"  # title, blank, header, 4 rows, blank row


def test_problems_with_exact_codes_and_cells(tmp_path):
    clean_portfolio(tmp_path)
    actuals = [["partner_id", "kpi_id", "period", "value"],
               ["ACME", "revenue", "2026-Q2", "$12k"],
               ["Acme Crop", "deals", "2026-Q2", 3],
               ["ACME", "deals", "2026-Q2", "=B2*2"],
               ["ACME", "deals", None, 4],
               ["ACME", "nps", "2026-Q2", 4]]
    write_xlsx(tmp_path / "actuals" / "acme_q2.xlsx", {"Actuals": actuals})
    result = validate(tmp_path)
    assert result.exit_code == 1
    assert "did you mean 'Acme Corp'" in result.output
    assert "open and save it in Excel or LibreOffice" in result.output
    payload = as_json(tmp_path)
    where = "actuals/acme_q2.xlsx"
    assert found(payload) == [("VALUE_NOT_NUMBER", where, "Actuals", "D2"), ("REF_UNKNOWN_PARTNER", where, "Actuals", "A3"),
                              ("VALUE_FORMULA_NO_VALUE", where, "Actuals", "D4"),
                              ("ROW_MISSING_REQUIRED", where, "Actuals", "C5"), ("REF_UNKNOWN_KPI", where, "Actuals", "B6")]
    by_code = {p["code"]: p for p in payload["problems"]}
    assert by_code["VALUE_NOT_NUMBER"]["value"] == "$12k" and by_code["VALUE_NOT_NUMBER"]["partner_id"] == "ACME"
    assert by_code["VALUE_FORMULA_NO_VALUE"]["value"] == "=B2*2"
    assert by_code["ROW_MISSING_REQUIRED"]["column"] == "period"
    assert payload["summary"]["error"] == 5


def test_missing_column_duplicate_column_and_no_registry(tmp_path):
    write_xlsx(tmp_path / "kpis.xlsx", {"KPIs": KPIS, "Targets": [["partner_id", "period", "target"], ["ACME", "2026-Q1", 1]],
                                        "Actuals": [["partner_id", "kpi_id", "period", "value", "Value"]]})
    payload = as_json(tmp_path)
    assert payload["exit_code"] == 1
    got = [(p["code"], p["sheet"], p["column"]) for p in payload["problems"] if p["severity"] != "note"]
    assert got == [("SHEET_MISSING_COLUMN", "Targets", "kpi_id"), ("SHEET_DUPLICATE_COLUMN", "Actuals", "Value"),
                   ("NO_PARTNERS", "", "")]


def test_csv_typed_by_header(tmp_path):
    clean_portfolio(tmp_path)
    write_csv(tmp_path / "export.csv", [["Partner ID", "KPI ID", "Month", "Actual"], ["GLOBEX", "deals", "2026-02", "1,200"],
                                        ["GLOBEX", "deals", "2026-03", "n/a"]])
    write_csv(tmp_path / "other.csv", [["colour", "size"], ["red", "3"]])
    payload = as_json(tmp_path)
    assert found(payload) == [("VALUE_NOT_NUMBER", "export.csv", "export", "D3")]
    assert ("CSV_UNKNOWN", "other.csv") in {(p["code"], p["file"]) for p in payload["problems"]}
    rec = load(tmp_path)
    assert rec.kpi_values.set_index("file").loc["export.csv", "value"] == 1200.0


def test_text_output_lists_where_and_the_fix(tmp_path):
    clean_portfolio(tmp_path)
    write_xlsx(tmp_path / "more.xlsx", {"Actuals": [["partner_id", "kpi_id", "period", "value"], ["ACME", "deals", "2026-Q3", "n/a"]]})
    result = validate(tmp_path)
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if "VALUE_NOT_NUMBER" in line)
    assert "more.xlsx › Actuals › D2" in line and "partner ACME, KPI deals, 2026-Q3: 'n/a' is not a number" in line
    assert "leave the cell blank when there is no figure yet" in line  # the hint fits the value
    assert "problems found: 1 error" in result.output


@pytest.mark.parametrize("args", [[], ["--format", "json"]])
def test_missing_input_folder_is_a_usage_error(tmp_path, args):
    assert validate(tmp_path / "nope", *args).exit_code == 2


def test_several_sheets_of_one_type_in_one_workbook_are_all_read(tmp_path):
    """Excel's copied sheets ('Actuals (2)') and a renamed one are typed by their header: every row read once,
    with its own sheet; a copied registry repeats each partner_id: the first in path order is kept."""
    clean_portfolio(tmp_path)
    head = ["partner_id", "kpi_id", "period", "value"]
    write_xlsx(tmp_path / "updates" / "q2.xlsx", {"Actuals": [head, ["ACME", "deals", "2026-Q2", 4]],
                                      "Actuals (2)": [head, ["GLOBEX", "deals", "2026-Q2", 5]],
                                      "KPI Actuals": [head, ["ACME", "revenue", "2026-Q2", 7]],
                                      "Partners (2)": PARTNERS[:2]})
    payload = as_json(tmp_path)
    assert found(payload) == [("DUPLICATE_KEY", "updates/q2.xlsx", "Partners (2)", "A2")]
    [dup] = [p for p in payload["problems"] if p["code"] == "DUPLICATE_KEY"]
    assert "first at registry.xlsx › Partners › A2" in dup["message"]
    rows = load(tmp_path).kpi_values.query("file == 'updates/q2.xlsx'")
    assert sorted(zip(rows["sheet"], rows["partner_id"], rows["value"])) == [
        ("Actuals", "ACME", 4.0), ("Actuals (2)", "GLOBEX", 5.0), ("KPI Actuals", "ACME", 7.0)]


def test_merged_header_cells(tmp_path):
    """A header cell merged over two columns keeps its value in the first; the merged-away cell is no column."""
    clean_portfolio(tmp_path)
    rows = [["Q2 actuals (merged title)"], ["Partner ID", "KPI", "Period", "Actual", None, "Source"],
            ["GLOBEX", "deals", "2026-Q2", 3, None, "partner"]]
    write_xlsx(tmp_path / "merged.xlsx", {"Actuals": rows}, merged={"Actuals": ["A1:F1", "D2:E2"]})
    payload = as_json(tmp_path)
    assert found(payload) == [] and payload["exit_code"] == 0
    got = load(tmp_path).kpi_values.query("file == 'merged.xlsx'")
    assert list(zip(got["partner_id"], got["value"], got["source"], got["cell"])) == [("GLOBEX", 3.0, "partner", "D3")]
