"""Feedback workbooks: real workbooks written with openpyxl, annotated, and read back with openpyxl."""
from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table

from pipeline.write.feedback import (AUTHOR, FILLS, MARK, SHEET_TITLE, UNREADABLE_NAME, check_output_dir,
                               comment_size, write_feedback)
from pipeline.core.problems import make


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rich_actuals(path: Path) -> Path:
    """An Actuals workbook with a title row, a table, a formula, styles, a validation and a bad value in D4."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Actuals"
    ws["A1"] = "Acme actuals"
    ws["A1"].font = Font(bold=True, size=16)
    rows = [["partner_id", "kpi_id", "period", "value", "source"],
            ["ACME", "revenue", "2026-Q1", 95000, "internal"],
            ["ACME", "deals", "2026-Q1", "12k", "internal"],
            ["ACME", "win_rate", "2026-Q1", "=D3/100", "partner"]]
    for i, row in enumerate(rows, start=3):
        for j, v in enumerate(row, start=1):
            ws.cell(i, j, v)
    ws["D4"].font = Font(italic=True, color="FF0000FF")
    ws["D4"].number_format = "#,##0.00"
    ws.add_table(Table(displayName="ActualsTable", ref="A3:E6"))
    dv = DataValidation(type="list", formula1='"internal,partner"', allow_blank=True)
    dv.add("E4:E100")
    ws.add_data_validation(dv)
    ws.freeze_panes = "A4"
    ws.column_dimensions["D"].width = 18
    ws.merge_cells("G1:H2")
    ws["G1"] = "merged note"
    notes = wb.create_sheet("Notes")
    notes["B2"] = "=Actuals!D3*2"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


@pytest.fixture()
def folders(tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    rich_actuals(inp / "actuals" / "acme.xlsx")
    return inp, out


def _problems():
    f = "actuals/acme.xlsx"
    return [
        make("VALUE_NOT_NUMBER", file=f, sheet="Actuals", cell="D5", column="value", value="12k"),
        make("SHEET_MISSING_COLUMN", file=f, sheet="Actuals", column="currency", severity="warning"),
        make("REF_UNKNOWN_KPI", file=f, sheet="Actuals", cell="B4", column="kpi_id", value="revenue",
             detail=" (did you mean 'revenue2'?)"),
        make("SHEET_IGNORED", file=f, sheet="Notes"),  # a note: not feedback
    ]


def test_copy_has_comments_on_the_right_cells_and_keeps_the_workbook(folders):
    inp, out = folders
    src = inp / "actuals" / "acme.xlsx"
    before = _sha(src)
    written = write_feedback(inp, _problems(), out)

    assert written == [out / "actuals" / "acme_feedback.xlsx"]
    assert _sha(src) == before
    assert sorted(p.name for p in inp.rglob("*")) == ["acme.xlsx", "actuals"]

    wb = load_workbook(written[0])
    assert wb.sheetnames == [SHEET_TITLE, "Actuals", "Notes"]
    assert wb.active.title == SHEET_TITLE
    ws = wb["Actuals"]
    bad = ws["D5"]
    assert AUTHOR == bad.comment.author
    assert "'12k' is not a number" in bad.comment.text and "How to fix: type a plain number" in bad.comment.text
    assert bad.fill.fgColor.rgb == FILLS["error"]
    assert "KPI 'revenue' is not defined" in ws["B4"].comment.text
    commented = sorted(c.coordinate for row in ws.iter_rows() for c in row if c.comment)
    assert commented == ["B4", "D5"]
    with zipfile.ZipFile(written[0]) as z:  # openpyxl does not read the box size back: look at the VML
        vml = next(z.read(n).decode() for n in z.namelist() if n.endswith(".vml"))
    boxes = {(int(r), int(c)): int(h) for h, r, c in re.findall(
        r"height:(\d+)px.*?<\w+:Row>(\d+)</\w+:Row><\w+:Column>(\d+)</", vml, flags=re.S)}
    assert set(boxes) == {(3, 1), (4, 3)}   # B4 and D5, zero-based
    with zipfile.ZipFile(written[0]) as z:  # formulas lose their cached values: Excel must recalculate
        assert re.search(r'<calcPr[^>]*fullCalcOnLoad="1"', z.read("xl/workbook.xml").decode())
    assert min(boxes.values()) > 79  # sized to the text, not openpyxl's default 79px box
    assert comment_size("x" * 600)[1] > comment_size("x")[1]

    # the original's content survives
    assert ws["D6"].value == "=D3/100"
    assert wb["Notes"]["B2"].value == "=Actuals!D3*2"
    assert ws["D4"].font.italic and ws["D4"].number_format == "#,##0.00"
    assert ws["A1"].font.bold and ws["A1"].font.size == 16
    assert "ActualsTable" in ws.tables and ws.tables["ActualsTable"].ref == "A3:E6"
    dvs = ws.data_validations.dataValidation
    assert len(dvs) == 1 and dvs[0].formula1 == '"internal,partner"' and "E4:E100" in str(dvs[0].sqref)
    assert ws.freeze_panes == "A4"
    assert ws.column_dimensions["D"].width == 18
    assert "G1:H2" in {str(r) for r in ws.merged_cells.ranges}
    assert not ws.sheet_view.tabSelected


def test_problems_sheet_lists_each_problem_with_a_working_link(folders):
    inp, out = folders
    (path,) = write_feedback(inp, _problems(), out)
    wb = load_workbook(path)
    ws = wb[SHEET_TITLE]
    header_row = next(r for r in range(1, 10) if ws.cell(r, 1).value == "Sheet")
    headers = [ws.cell(header_row, j).value for j in range(1, 8)]
    assert headers == ["Sheet", "Cell", "Column", "Value", "What is wrong", "How to fix it", "Severity"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=header_row + 1) if row[0].value]
    assert len(rows) == 3  # the note is not listed
    by_cell = {r[1]: r for r in rows}
    assert by_cell["D5"][3] == "12k" and by_cell["D5"][6] == "error"
    assert by_cell[None][2] == "currency" and by_cell[None][6] == "warning"
    for row in ws.iter_rows(min_row=header_row + 1):
        if not row[0].value:
            continue
        link = row[0].hyperlink
        assert link is not None and link.target is None
        sheet, _, cell = link.location.rpartition("!")
        assert sheet == "'Actuals'"
        assert wb[sheet.strip("'")][cell] is not None
        if row[1].value:
            assert cell == row[1].value and row[1].hyperlink.location == link.location
        else:
            assert cell == "A1"


def test_existing_comment_is_kept_and_ours_appended(tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    src = rich_actuals(inp / "acme.xlsx")
    wb = load_workbook(src)
    wb["Actuals"]["D5"].comment = Comment("Ana: check this with finance", "Ana")
    wb.save(src)
    (path,) = write_feedback(inp, [make("VALUE_NOT_NUMBER", file="acme.xlsx", sheet="Actuals", cell="D5",
                                        value="12k")], out)
    c = load_workbook(path)["Actuals"]["D5"].comment
    assert c.text.startswith("Ana: check this with finance")
    assert MARK in c.text and "'12k' is not a number" in c.text
    assert c.author == "Ana"


def test_a_workbook_sent_back_loses_the_earlier_round_marks(folders, tmp_path):
    inp, out = folders
    (first,) = write_feedback(inp, _problems(), out)
    # the partner fixed D5 and sent the feedback copy back, keeping our sheet
    inp2 = tmp_path / "in2"
    inp2.mkdir()
    (inp2 / "acme.xlsx").write_bytes(first.read_bytes())
    (second,) = write_feedback(inp2, [make("VALUE_BAD_PERIOD", file="acme.xlsx", sheet="Actuals", cell="C6",
                                           value="Q5")], tmp_path / "out2")
    wb = load_workbook(second)
    assert wb.sheetnames == [SHEET_TITLE, "Actuals", "Notes"]
    ws = wb["Actuals"]
    assert ws["D5"].comment is None and ws["D5"].fill.fill_type is None
    assert "'Q5' is not a period" in ws["C6"].comment.text
    rows = [r for r in wb[SHEET_TITLE].iter_rows(min_row=5, values_only=True) if r[0]]
    assert [r[1] for r in rows] == ["C6"]


def test_merged_cell_problem_goes_on_the_top_left_cell(folders):
    inp, out = folders
    (path,) = write_feedback(inp, [make("VALUE_BAD_DATE", file="actuals/acme.xlsx", sheet="Actuals",
                                        cell="H2", value="x")], out)
    ws = load_workbook(path)["Actuals"]
    assert ws["G1"].comment is not None and "'x' is not a date" in ws["G1"].comment.text


def test_partner_text_is_written_as_text_not_as_a_formula(folders):
    inp, out = folders
    evil = '=HYPERLINK("http://evil.example","click")'
    (path,) = write_feedback(inp, [make("VALUE_NOT_NUMBER", file="actuals/acme.xlsx", sheet="Actuals",
                                        cell="D5", value=evil)], out)
    with zipfile.ZipFile(path) as z:
        sheet1 = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet1  # our list sheet holds no formula at all
    ws = load_workbook(path)[SHEET_TITLE]
    assert evil in [c.value for row in ws.iter_rows() for c in row]


def test_notes_only_writes_nothing(folders):
    inp, out = folders
    assert write_feedback(inp, [make("SHEET_IGNORED", file="actuals/acme.xlsx", sheet="Notes"),
                                make("NO_PARTNERS")], out) == []
    assert not out.exists()


def test_refuses_an_output_folder_inside_the_input(folders):
    inp, _ = folders
    with pytest.raises(ValueError, match="inside the input folder"):
        write_feedback(inp, _problems(), inp / "feedback")
    with pytest.raises(ValueError):
        check_output_dir(inp, inp)
    assert not (inp / "feedback").exists()


def test_csv_gets_a_list_and_unreadable_files_are_listed_not_opened(tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    (inp / "acme.csv").write_text("partner_id,kpi_id,period,value\nACME,revenue,2026-Q1,12k\n")
    (inp / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    problems = [make("VALUE_NOT_NUMBER", file="acme.csv", sheet="acme", cell="D2", value="12k"),
                make("FILE_CORRUPT", file="broken.xlsx", detail="bad zip"),
                make("VALUE_NOT_NUMBER", file="broken.xlsx", sheet="Actuals", cell="D2", value="x"),
                make("CONFIG_INVALID", file="partner-review.toml", detail="fy_start")]
    messages: list[str] = []
    written = write_feedback(inp, problems, out, echo=messages.append)
    assert sorted(p.relative_to(out).as_posix() for p in written) == [UNREADABLE_NAME, "acme_feedback.xlsx"]
    assert any("acme.csv" in m for m in messages)
    lst = load_workbook(out / "acme_feedback.xlsx")
    assert lst.sheetnames == [SHEET_TITLE]
    cells = [c.value for row in lst[SHEET_TITLE].iter_rows() for c in row]
    assert "D2" in cells and "12k" in cells
    bad = [r for r in load_workbook(out / UNREADABLE_NAME).active.iter_rows(min_row=5, values_only=True) if r[0]]
    assert len(bad) == 2 and {r[0] for r in bad} == {"broken.xlsx"}
    assert any("cannot be opened" in r[1] for r in bad)


def test_xlsm_keeps_its_macros(tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    plain = rich_actuals(tmp_path / "plain.xlsx")
    src = inp / "acme.xlsm"
    inp.mkdir()
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(src, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        zout.writestr("xl/vbaProject.bin", b"fake vba project bytes")
    (path,) = write_feedback(inp, [make("VALUE_NOT_NUMBER", file="acme.xlsm", sheet="Actuals", cell="D5",
                                        value="12k")], out)
    assert path.name == "acme_feedback.xlsm"
    with zipfile.ZipFile(path) as z:
        assert z.read("xl/vbaProject.bin") == b"fake vba project bytes"
    assert load_workbook(path, keep_vba=True)["Actuals"]["D5"].comment is not None


def test_cli_feedback_end_to_end(tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import cli
    from workbook_builders import clean_portfolio

    inp, out = clean_portfolio(tmp_path / "in"), tmp_path / "out"
    target = next(p for p in sorted(inp.rglob("*.xlsx")) if "Actuals" in load_workbook(p).sheetnames)
    wb = load_workbook(target)
    ws = wb["Actuals"]
    header = next(r for r in ws.iter_rows(min_row=1, max_row=10) if any(c.value == "value" for c in r))
    col = next(c for c in header if c.value == "value")
    bad = ws.cell(col.row + 1, col.column)
    bad.value = "12k"
    wb.save(target)
    before = _sha(target)

    result = CliRunner().invoke(cli, ["feedback", "--input", str(inp), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rel = target.relative_to(inp)
    copy = out / rel.parent / f"{rel.stem}_feedback.xlsx"
    assert str(copy) in result.output
    assert _sha(target) == before
    ws2 = load_workbook(copy)["Actuals"]
    commented = [c.coordinate for row in ws2.iter_rows() for c in row if c.comment]
    assert commented == [bad.coordinate]
    assert "'12k' is not a number" in ws2[bad.coordinate].comment.text

    clean = CliRunner().invoke(cli, ["feedback", "--input", str(clean_portfolio(tmp_path / "clean")),
                                     "--output", str(tmp_path / "x")])
    assert clean.exit_code == 0 and "nothing to write" in clean.output and not (tmp_path / "x").exists()
    inside = CliRunner().invoke(cli, ["feedback", "--input", str(inp), "--output", str(inp / "fb")])
    assert inside.exit_code == 2 and not (inp / "fb").exists()


def test_a_copy_that_passes_the_time_limit_falls_back_to_the_list(tmp_path):
    """Copies run isolated under the per-file limits, like every parse of an input."""
    from openpyxl import Workbook

    from pipeline.core.problems import make

    src = tmp_path / "in"
    src.mkdir()
    wb = Workbook()
    wb.active.title = "Actuals"
    wb.active["D5"] = "12k"
    wb.save(src / "a.xlsx")
    problem = make("VALUE_NOT_NUMBER", file="a.xlsx", sheet="Actuals", cell="D5", value="12k")
    notes: list[str] = []
    written = write_feedback(src, [problem], tmp_path / "out", echo=notes.append,
                             limits={"file_seconds": 0.0001, "file_memory_mb": 1024})
    assert [p.name for p in written] == ["a_feedback.xlsx"]
    assert any("time limit" in n for n in notes)
    # the list-only workbook names the cell and the problem
    from openpyxl import load_workbook

    ws = load_workbook(written[0]).worksheets[0]
    assert any("D5" in str(c.value) for row in ws.iter_rows() for c in row)
