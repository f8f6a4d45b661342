"""The normal path: discovery, workbooks with several sheets, title rows, dates, numbers, CSV."""
from __future__ import annotations

import datetime as dt
import hashlib

import openpyxl
import pytest

import hostile_files as H
from pipeline.core.settings import Config
from pipeline.read.discover import discover
from pipeline.read.raw import CellError
from pipeline.read.reader import read_file, read_input, sniff_delimiter


def _book(result, path):
    return next(w for w in result.workbooks if w.path == path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("input")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "KPIs"
    ws["B2"] = "KPI definitions, FY2026"          # a title row, then a blank row, then the table from B4
    ws["B4"], ws["C4"], ws["D4"] = "kpi_id", "kpi_name", "weight"
    ws.append([None, "K1", "Revenue", 2])
    ws.append([None, "K2", "Pipeline", 0.5])
    ws.row_dimensions[6].hidden = True
    actuals = wb.create_sheet("Actuals")
    actuals.append(["partner_id", "kpi_id", "period", "value", "when", "ok"])
    actuals.append(["P1", "K1", "2026-Q1", 1234.5, dt.datetime(2026, 3, 31, 17, 30), True])
    actuals.append(["P2", "K1", dt.date(2026, 2, 1), -3, dt.date(2026, 2, 1), False])
    secret = wb.create_sheet("Lookups")
    secret.sheet_state = "hidden"
    secret["A1"] = "x"
    (root / "2026").mkdir()
    wb.save(root / "2026" / "kpis.xlsx")
    wb.save(root / "macro.xlsm")
    (root / "a_semicolon.csv").write_bytes("partner_id;partner_name;note\nP1;Société Générale;\"a;b\"\nP2;;\n".encode("cp1252"))
    (root / "b_bom.csv").write_bytes("\ufeffpartner_id,value\nP1,\"1,234.5\"\n".encode("utf-8"))
    (root / "c_tab.csv").write_text("partner_id\tvalue\nP1\t15%\n", encoding="utf-8")
    (root / "partner-review.toml").write_text('[organisation]\nname = "Us"\n')
    (root / "README.md").write_text("what this folder is")
    (root / "notes.docx").write_bytes(b"PK\x03\x04 not really")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("x")
    (root / "2026" / "~$kpis.xlsx").write_bytes(b"lock")
    return root


@pytest.fixture(scope="module")
def result(folder):
    return read_input(folder, Config())


def test_discovery_order_paths_and_notes(folder, result):
    assert [i.path for i in result.inputs] == [
        "2026/kpis.xlsx", "2026/~$kpis.xlsx", "a_semicolon.csv", "b_bom.csv", "c_tab.csv", "macro.xlsm", "notes.docx"]
    assert [(p.code, p.file) for p in result.problems] == [
        ("FILE_HIDDEN", ".git/"), ("FILE_LOCK", "2026/~$kpis.xlsx"), ("FILE_UNSUPPORTED", "notes.docx")]
    assert all(p.severity == "note" for p in result.problems)
    status = {i.path: (i.status, i.kind) for i in result.inputs}
    assert status["2026/~$kpis.xlsx"] == ("skipped", "") and status["macro.xlsm"] == ("read", "xlsm")
    found, skipped = discover(folder)
    assert [f.path for f in found] == sorted(f.path for f in found)


def test_sha256_of_each_input(folder, result):
    for item in result.inputs:
        if item.status == "read":
            assert item.sha256 == hashlib.sha256((folder / item.path).read_bytes()).hexdigest()


def test_sheets_title_rows_and_coordinates(result):
    book = _book(result, "2026/kpis.xlsx")
    assert book.kind == "xlsx"
    assert [s.name for s in book.sheets] == ["KPIs", "Actuals", "Lookups"]
    kpis = book.sheets[0]
    assert (kpis.first_row, kpis.first_col) == (2, 2)  # rows[0][0] is B2
    assert kpis.rows[0][0] == "KPI definitions, FY2026"
    assert kpis.rows[1] == [None, None, None]
    assert kpis.rows[2] == ["kpi_id", "kpi_name", "weight"]
    assert kpis.rows[3] == ["K1", "Revenue", 2] and kpis.rows[4] == ["K2", "Pipeline", 0.5]
    assert isinstance(kpis.rows[3][2], int)
    assert kpis.hidden_rows == {6} and not kpis.hidden
    assert book.sheets[2].hidden


def test_dates_numbers_bools(result):
    rows = _book(result, "2026/kpis.xlsx").sheets[1].rows
    assert rows[1] == ["P1", "K1", "2026-Q1", 1234.5, dt.datetime(2026, 3, 31, 17, 30), True]
    assert rows[2][2] == dt.date(2026, 2, 1) and rows[2][3] == -3 and rows[2][5] is False


def test_xlsm_reads_like_xlsx(result):
    assert [s.rows for s in _book(result, "macro.xlsm").sheets] == [s.rows for s in _book(result, "2026/kpis.xlsx").sheets]


def test_csv_encodings_and_delimiters(result):
    semi = _book(result, "a_semicolon.csv")
    assert semi.kind == "csv" and [s.name for s in semi.sheets] == ["a_semicolon"]
    assert semi.sheets[0].rows == [["partner_id", "partner_name", "note"], ["P1", "Société Générale", "a;b"], ["P2", None, None]]
    assert _book(result, "b_bom.csv").sheets[0].rows == [["partner_id", "value"], ["P1", "1,234.5"]]
    assert _book(result, "c_tab.csv").sheets[0].rows == [["partner_id", "value"], ["P1", "15%"]]


def test_csv_utf16_tab_export(tmp_path):
    """Excel's "Unicode Text" export: UTF-16 with a BOM, tab separated."""
    (tmp_path / "export.csv").write_bytes("partner_id\tpartner_name\r\nP1\tZürich AG\r\n".encode("utf-16"))
    result = read_input(tmp_path, Config())
    assert result.problems == []
    assert result.workbooks[0].sheets[0].rows == [["partner_id", "partner_name"], ["P1", "Zürich AG"]]


def test_sniff_delimiter():
    assert sniff_delimiter("a;b;c\n1;2;3") == ";"
    assert sniff_delimiter("a\tb\n") == "\t"
    assert sniff_delimiter('"x;y",b\n') == ","
    assert sniff_delimiter("single\n") == ","


def test_formulas_with_and_without_cached_values(tmp_path):
    """Only formulas with no stored value are listed; cached values and errors read normally."""
    body = ('<row r="1"><c r="A1"><f>1+1</f><v>2</v></c><c r="B1" t="str"><f>"a"&amp;"b"</f><v>ab</v></c>'
            '<c r="C1" t="str"><f>X1&amp;""</f><v></v></c><c r="D1"><f>A1*3</f></c></row>'
            '<row r="2"><c r="A2" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="B2"><f t="shared" si="0"/></c></row>')
    path = H.raw_xlsx(tmp_path / "f.xlsx", {"Calc": body})
    sheet = read_file(str(path), "f.xlsx", "xlsx", path.stat().st_size, dict(Config().values["limits"])).workbook.sheets[0]
    assert sheet.formulas_without_value == {(1, 3): '=X1&""', (1, 4): "=A1*3", (2, 2): "(shared formula)"}
    assert sheet.rows[0][:2] == [2, "ab"] and sheet.rows[0][2:] == [None, None]
    assert sheet.rows[1][0] == CellError("#DIV/0!") and sheet.rows[1][1] is None


def test_sheet_of_only_formulas_gets_a_grid(tmp_path):
    wb = openpyxl.Workbook()
    wb.active["C3"] = "=1+2"
    wb.active["D5"] = "=C3*2"
    wb.save(tmp_path / "calc.xlsx")
    sheet = _book(read_input(tmp_path, Config()), "calc.xlsx").sheets[0]
    assert sheet.formulas_without_value == {(3, 3): "=1+2", (5, 4): "=C3*2"}
    # the grid covers the formula cells so the sheet parser meets them where they are
    r, c = 5 - sheet.first_row, 4 - sheet.first_col
    assert sheet.rows[r][c] is None and len(sheet.rows) >= r + 1


def test_prefixed_namespace_sheet(tmp_path):
    """Some generators write <x:c> with a namespace prefix; formulas are still found."""
    path = H.raw_xlsx(tmp_path / "p.xlsx", {"S": '<row r="1"><c r="A1"><v>5</v></c><c r="B1"><f>A1+1</f></c></row>'})
    import zipfile

    fixed = tmp_path / "prefixed.xlsx"

    def data(n: str, d: bytes) -> bytes:
        if "worksheets/" not in n:
            return d
        d = d.replace(b'<worksheet xmlns="', b'<x:worksheet xmlns:x="').replace(b"</worksheet>", b"</x:worksheet>")
        for tag in (b"sheetData", b"row", b"c", b"v", b"f"):
            d = d.replace(b"<" + tag + b">", b"<x:" + tag + b">").replace(b"<" + tag + b" ", b"<x:" + tag + b" ")
            d = d.replace(b"</" + tag + b">", b"</x:" + tag + b">")
        return d
    H.rewrite_zip(path, fixed, data=data)
    path.unlink()
    assert b"<x:c " in zipfile.ZipFile(fixed).read("xl/worksheets/sheet1.xml")
    sheet = _book(read_input(tmp_path, Config()), "prefixed.xlsx").sheets[0]
    assert sheet.rows[0][0] == 5
    assert sheet.formulas_without_value == {(1, 2): "=A1+1"}


def test_large_sheet_reads_every_row(tmp_path):
    H.big_sheet(tmp_path, rows=20_000)
    sheet = _book(read_input(tmp_path, Config()), "big.xlsx").sheets[0]
    assert len(sheet.rows) == 20_000
    assert sheet.rows[-1] == ["P20000", 20000.5]
