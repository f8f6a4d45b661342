"""The blank templates: generated from the schema, equal to the committed input_templates/, and clean
when filled in as a user would."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from python_calamine import CalamineWorkbook

from pipeline.cli import cli
from pipeline.core.schema import SHEET_TYPE_BY_KEY, SHEET_TYPES, normalise
from pipeline.write.templates import TEMPLATE_FILES, write_templates

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "input_templates"
NAMES = ["partner_registry.xlsx", "kpi_plan.xlsx", "kpi_actuals.xlsx", "commitments.xlsx", "negotiation_canvas.xlsx"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    result = CliRunner().invoke(cli, ["templates", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(Path(line).name for line in result.output.split()) == sorted(NAMES)
    return out


def snapshot(path: Path) -> dict:
    """Everything a user sees in a workbook: cells and their look, widths, panes, validations, tables."""
    wb = openpyxl.load_workbook(path)
    out = {"sheets": wb.sheetnames, "active": wb.active.title}
    for ws in wb.worksheets:
        out[ws.title] = {
            "cells": [(c.coordinate, c.value, c.font.b, c.fill.fgColor.rgb) for row in ws.iter_rows() for c in row],
            "widths": {k: (d.width, d.number_format) for k, d in ws.column_dimensions.items()},
            "freeze": ws.freeze_panes,
            "validations": [(str(v.sqref), v.type, v.formula1, v.formula2, v.prompt, v.showErrorMessage)
                            for v in ws.data_validations.dataValidation],
            "tables": {t.name: (t.ref, [c.name for c in t.tableColumns]) for t in ws.tables.values()},
        }
    return out


def test_every_sheet_type_is_in_exactly_one_template():
    keys = [k for spec in TEMPLATE_FILES for k in spec.sheets]
    assert sorted(keys) == sorted(t.key for t in SHEET_TYPES)
    assert [spec.name for spec in TEMPLATE_FILES] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_committed_templates_equal_a_fresh_run(fresh, name):
    assert snapshot(COMMITTED / name) == snapshot(fresh / name)
    assert (COMMITTED / name).read_bytes() == (fresh / name).read_bytes(), "regenerate: partner-review templates -o input_templates"


def test_output_is_deterministic(tmp_path):
    a = write_templates(tmp_path / "a")
    b = write_templates(tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert openpyxl.load_workbook(a[0]).properties.modified == dt.datetime(2026, 1, 1)


@pytest.mark.parametrize("spec", TEMPLATE_FILES, ids=lambda s: s.name)
def test_data_sheets_follow_the_schema(fresh, spec):
    wb = openpyxl.load_workbook(fresh / spec.name)
    assert wb.sheetnames == ["Instructions"] + [SHEET_TYPE_BY_KEY[k].title for k in spec.sheets]
    assert wb.active.title == "Instructions"
    for key in spec.sheets:
        sheet = SHEET_TYPE_BY_KEY[key]
        ws = wb[sheet.title]
        header = [c for c in ws[1]]
        assert [c.value for c in header] == [c.name for c in sheet.columns]
        assert ws.max_row == 1, "no example rows in data sheets"
        assert ws.freeze_panes == "A2"
        for cell, col in zip(header, sheet.columns):
            assert bool(cell.font.b) == col.required, col.name
            assert ws.column_dimensions[cell.column_letter].width >= len(col.name)
        required_fills = {c.fill.fgColor.rgb for c, col in zip(header, sheet.columns) if col.required}
        optional_fills = {c.fill.fgColor.rgb for c, col in zip(header, sheet.columns) if not col.required}
        assert len(required_fills) == 1 and not (required_fills & optional_fills)
        (table,) = ws.tables.values()
        assert table.ref.startswith("A1:") and [c.name for c in table.tableColumns] == [c.name for c in sheet.columns]
        by_col = {}
        for dv in ws.data_validations.dataValidation:
            for rng in dv.sqref.ranges:
                assert rng.min_row == 2 and rng.max_row > 500
                by_col[rng.min_col] = dv
        for idx, col in enumerate(sheet.columns, start=1):
            dv = by_col[idx]
            assert dv.prompt, col.name
            if col.choices:
                assert dv.type == "list" and dv.formula1.strip('"').split(",") == list(col.choices)
            elif col.kind == "date":
                assert dv.type == "date"
            elif col.kind == "number":
                assert dv.type == "decimal"


@pytest.mark.parametrize("spec", TEMPLATE_FILES, ids=lambda s: s.name)
def test_instructions_explain_every_column_without_looking_like_data(fresh, spec):
    rows = CalamineWorkbook.from_path(str(fresh / spec.name)).get_sheet_by_name("Instructions").to_python()
    listed = {r[0]: r for r in rows if len(r) >= 6}
    for key in spec.sheets:
        sheet = SHEET_TYPE_BY_KEY[key]
        assert any(f"'{sheet.title}'" in str(r[0]) for r in rows)
        for col in sheet.columns:
            row = listed[col.name]
            assert (row[1] == "yes") == col.required
            assert row[3] and row[5], f"{key}.{col.name} needs a description and an example"
    # no row of the Instructions could pass for a header row of any sheet type
    for r in rows:
        cells = {normalise(v) for v in r if v}
        for t in SHEET_TYPES:
            assert sum(bool(set(c.keys) & cells) for c in t.required) < 2, (t.key, r)


def _fill(path: Path, sheet: str, rows: list[list]) -> None:
    """Type rows under the header as a user would; Excel grows the table to hold them."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            ws.cell(r, c, value)
    (table,) = ws.tables.values()
    table.ref = f"{table.ref.split(':')[0]}:{table.ref.split(':')[1].rstrip('0123456789')}{len(rows) + 1}"
    table.autoFilter.ref = table.ref
    wb.save(path)


def test_templates_filled_in_as_a_user_would_validate_clean(tmp_path):
    drop = tmp_path / "drop"
    files = {p.name: p for p in write_templates(drop)}
    d = dt.datetime
    _fill(files["partner_registry.xlsx"], "Partners", [
        ["P001", "Brightwave Analytics", "Gold", "Maya Okafor", "maya.okafor@example.com", "Jonas Weber",
         "jonas.weber@example.org", "active"],
        ["P002", "Nordlicht Systeme GmbH", "Silver", "Karl Brandt", "k.brandt@example.net; finance@example.net",
         "Priya Raman", "priya.raman@example.org", None],
    ])
    _fill(files["kpi_plan.xlsx"], "KPIs", [
        ["revenue", "Closed-won revenue", "currency", "higher", "sum", 2],
        ["nps", "Joint customer NPS", "score", "higher", "mean", 1],
    ])
    _fill(files["kpi_plan.xlsx"], "Targets", [
        ["P001", "revenue", "2026-Q2", 250000], ["P002", "revenue", "Q2 2026", 120000], ["*", "nps", "2026-Q2", 40],
    ])
    _fill(files["kpi_plan.xlsx"], "FX Rates", [["2026-Q2", "EUR", 1.08]])
    _fill(files["kpi_actuals.xlsx"], "Actuals", [
        ["P001", "revenue", "2026-Q2", 262000.5, "internal", None, None],
        ["P001", "nps", "2026-Q2", 44, None, None, None],
        ["P002", "revenue", "2026-Q2", 40000, "partner", "EUR", "as reported"],
        ["Nordlicht Systeme GmbH", "nps", d(2026, 6, 30), 38, None, None, None],
    ])
    _fill(files["commitments.xlsx"], "Commitments", [
        ["BW-01", "P001", "us", "Co-fund two joint events", "Jonas Weber", d(2026, 6, 30), d(2026, 6, 30),
         "done", 1, None, d(2026, 6, 28), d(2026, 6, 20), "both held", "INTERNAL: budget from Q3 pool"],
        ["NS-01", "P002", "partner", "Certify three consultants", "Karl Brandt", d(2026, 9, 30), d(2026, 8, 31),
         "in_progress", 0.5, "nps", d(2026, 6, 25), None, None, None],
    ])
    _fill(files["commitments.xlsx"], "Check-ins", [
        ["P001", d(2026, 5, 12), "QBR", "Maya Okafor, Jonas Weber", "Q1 review"],
        ["P002", d(2026, 6, 3), "monthly sync", None, None],
    ])
    result = CliRunner().invoke(cli, ["validate", "--input", str(drop), "--format", "json"])
    assert result.exit_code == 0, result.output
