"""reconciled.xlsx from either writer: the same cells, and a typed '=' never becomes a formula."""
from __future__ import annotations

import datetime as dt
import importlib.util
import io
import math
import zipfile

import pandas as pd
import pytest
from openpyxl import load_workbook

from pipeline.outputs import reconciled_xlsx_bytes

ENGINES = ["openpyxl", pytest.param("xlsxwriter", marks=pytest.mark.skipif(
    importlib.util.find_spec("xlsxwriter") is None, reason="xlsxwriter not installed yet (make install)"))]


def _frames() -> dict[str, pd.DataFrame]:
    values = pd.DataFrame({
        "partner_id": ["P1", "P2", "P3"],
        "text": ['=HYPERLINK("http://x","y")', "+1", ""],
        "value": [1.5, math.nan, math.inf],
        "count": pd.array([3, None, 7], dtype="Int64"),
        "flag": [True, False, None],
        "when": pd.to_datetime(["2026-09-30", None, "2026-07-01"]),
        "owners": [["a", "b"], [], None],
    })
    return {"kpi_values": values, "empty": pd.DataFrame(columns=["a", "b"]),
            "a_very_long_sheet_name_that_excel_would_refuse": pd.DataFrame({"x": [1]})}


@pytest.mark.parametrize("engine", ENGINES)
def test_cells_round_trip(engine):
    data = reconciled_xlsx_bytes(_frames(), engine=engine)
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["kpi_values", "empty", "a_very_long_sheet_name_that_exc"]
    ws = wb["kpi_values"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["partner_id", "text", "value", "count", "flag", "when", "owners"]
    assert rows[1][:5] == ["P1", '=HYPERLINK("http://x","y")', 1.5, 3, True]
    assert rows[1][5] == dt.datetime(2026, 9, 30) and rows[1][6] == "a; b"
    assert rows[2][1:6] == ["+1", None, None, False, None]
    assert rows[3][1:4] == [None, "inf", 7]
    assert ws.freeze_panes == "A2"
    assert [[c.value for c in row] for row in wb["empty"].iter_rows()] == [["a", "b"]]


@pytest.mark.parametrize("engine", ENGINES)
def test_text_that_looks_like_a_formula_is_stored_as_text(engine):
    data = reconciled_xlsx_bytes(_frames(), engine=engine)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in xml and "<f " not in xml
    cell = load_workbook(io.BytesIO(data))["kpi_values"]["B2"]
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")
