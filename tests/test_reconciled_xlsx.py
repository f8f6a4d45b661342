"""reconciled.xlsx: every cell reads back as the frame holds it, in openpyxl and in python-calamine, and text
that looks like a formula or a number stays text."""
from __future__ import annotations

import datetime as dt
import decimal
import io
import math
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import python_calamine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from pipeline.write.outputs import reconciled_xlsx_bytes
from pipeline.read.raw import column_letter
from pipeline.write.xlsx import escape_text, frames_xlsx_bytes, sheet_titles


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


def _openpyxl(data: bytes):
    """Load with openpyxl; any warning it raises (a malformed part, an unknown style) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_workbook(io.BytesIO(data))


def _openpyxl_rows(data: bytes) -> dict[str, list[list]]:
    wb = _openpyxl(data)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def _calamine_rows(data: bytes) -> dict[str, list[list]]:
    wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {name: wb.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in wb.sheet_names}


def _expected(value):
    """What a reader must get back for a frame value: blanks as None, +-inf as text, lists joined."""
    if isinstance(value, (list, tuple, set)):
        return "; ".join(str(v) for v in value) or None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.tz_localize(None).to_pydatetime() if value.tz else value.to_pydatetime()
    if isinstance(value, (dt.date, dt.time)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) else (str(value) if math.isinf(value) else value)
    return str(value)


def _same(expected, got, *, reader: str) -> bool:
    """A read-back cell equals the expected value, with the right type (a bool is not the number 1)."""
    if reader == "calamine" and got == "":
        got = None                                  # calamine reads a blank cell as ""
    if expected is None or got is None:
        return expected is got
    if isinstance(expected, bool):
        return isinstance(got, bool) and got == expected
    if isinstance(expected, str):
        return isinstance(got, str) and got == expected
    if isinstance(expected, (int, float)):
        return isinstance(got, (int, float)) and not isinstance(got, bool) and got == expected
    if isinstance(expected, dt.datetime):           # calamine reads a date-time at midnight as a date
        return isinstance(got, dt.date) and pd.Timestamp(got) == pd.Timestamp(expected)
    if isinstance(expected, dt.date):
        return isinstance(got, dt.date) and pd.Timestamp(got) == pd.Timestamp(expected)
    return got == expected


def _assert_round_trip(frames: dict[str, pd.DataFrame], data: bytes, *, openpyxl_text=lambda s: True) -> None:
    """Every cell of every frame, in both readers. `openpyxl_text` says which strings openpyxl can be asked
    about: it leaves Excel's _xHHHH_ escapes undecoded (Excel and calamine decode them)."""
    readers = {"openpyxl": _openpyxl_rows(data), "calamine": _calamine_rows(data)}
    titles = [t[:31] for t in frames]
    for reader, sheets in readers.items():
        assert list(sheets) == titles, reader
        for title, frame in zip(titles, frames.values()):
            rows = sheets[title]
            assert [str(c) for c in frame.columns] == rows[0], (reader, title)
            assert len(rows) - 1 <= len(frame), (reader, title)   # trailing blank rows may be left off
            for i, record in enumerate(frame.itertuples(index=False)):
                got_row = rows[i + 1] if i + 1 < len(rows) else []
                for j, value in enumerate(record):
                    want = _expected(value)
                    if reader == "openpyxl" and isinstance(want, str) and not openpyxl_text(want):
                        continue
                    got = got_row[j] if j < len(got_row) else None
                    assert _same(want, got, reader=reader), (reader, title, i, frame.columns[j], value, got)


def test_cells_round_trip():
    data = reconciled_xlsx_bytes(_frames())
    wb = _openpyxl(data)
    assert wb.sheetnames == ["kpi_values", "empty", "a_very_long_sheet_name_that_exc"]
    ws = wb["kpi_values"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["partner_id", "text", "value", "count", "flag", "when", "owners"]
    assert rows[1][:5] == ["P1", '=HYPERLINK("http://x","y")', 1.5, 3, True]
    assert rows[1][5] == dt.datetime(2026, 9, 30) and rows[1][6] == "a; b"
    assert rows[2][1:6] == ["+1", None, None, False, None]
    assert rows[3][1:4] == [None, "inf", 7]
    assert [[c.value for c in row] for row in wb["empty"].iter_rows()] == [["a", "b"]]
    _assert_round_trip(_frames(), data)
    assert reconciled_xlsx_bytes(_frames()) == data           # no clock in the file: same frames, same bytes


def test_header_bold_and_frozen_dates_formatted():
    data = reconciled_xlsx_bytes(_frames() | {"dates": pd.DataFrame({"day": [dt.date(2026, 2, 28)]})})
    wb = _openpyxl(data)
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert all(c.font.b for c in ws[1]), ws.title
    ws = wb["kpi_values"]
    assert not ws["A2"].font.b
    assert ws["F2"].number_format == "yyyy-mm-dd hh:mm:ss" and ws["F2"].is_date
    day = wb["dates"]["A2"]
    assert day.number_format == "yyyy-mm-dd" and day.value == dt.datetime(2026, 2, 28)


def test_text_that_looks_like_a_formula_or_number_is_stored_as_text():
    frame = pd.DataFrame({"t": ['=HYPERLINK("http://x","y")', "+1", "0012", "=1+1", "-3", "1e5", "TRUE",
                                "@SUM(A1)", "http://example.com"]})
    frames = {"kpi_values": _frames()["kpi_values"], "t": frame}
    data = reconciled_xlsx_bytes(frames)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in xml and "<f " not in xml and "hyperlink" not in xml.lower()
    wb = _openpyxl(data)
    cell = wb["kpi_values"]["B2"]
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")
    assert [c.value for c in wb["t"]["A"][1:]] == frame["t"].tolist()
    assert all(c.data_type == "s" for c in wb["t"]["A"][1:])
    _assert_round_trip(frames, data)


def test_xml_specials_unicode_and_control_characters():
    texts = ['a & b < c > d "q" \'s\'', "<r>rich?</r>", "]]>", "Zürich — 東京 🚀", "tab\there",
             "two\nlines", "cr\r\nlf", " lead and trail ", "bell\x07", "nul\x00", "_x0041_ stays", "x005F_x",
             "\u00a0nbsp", "right-to-left \u05d0\u05d1"]
    frame = pd.DataFrame({"text": texts})
    data = frames_xlsx_bytes({"t": frame})
    _assert_round_trip({"t": frame}, data, openpyxl_text=lambda s: "_x" not in s and "x005F_" not in s
                       and not re.search(r"[\x00-\x08\x0b-\x1f]", s))


def test_numbers_are_exact_and_typed():
    floats = [0.1 + 0.2, 1 / 3, -1e-300, 5e-324, 1.7976931348623157e308, 123456789.123456789, 1e16, 3.0, -0.0]
    frame = pd.DataFrame({
        "f": floats,
        "i": np.array([0, -1, 2**53, 10**15, 7, 8, 9, 10, 11], dtype=np.int64),
        "f32": np.array(floats[:2] + [0.5] * 7, dtype=np.float32),
        "b": [True, False] * 4 + [True],
    })
    data = frames_xlsx_bytes({"n": frame})
    _assert_round_trip({"n": frame}, data)
    rows = _openpyxl_rows(data)["n"]
    assert [r[0] for r in rows[1:]] == floats          # bit for bit, not to 15 digits
    assert all(type(r[3]) is bool for r in rows[1:])


def test_mixed_object_columns_and_extension_dtypes():
    frame = pd.DataFrame({
        "mixed": ["text", 4, 2.5, True, dt.date(2026, 1, 31), dt.datetime(2026, 1, 31, 13, 30), None,
                  decimal.Decimal("1.25"), ["x", "y"]],
        "ts_tz": pd.to_datetime(["2026-06-30 23:00"] * 9).tz_localize("Europe/Berlin"),
        "nullable_bool": pd.array([True, None, False] * 3, dtype="boolean"),
        "nullable_int": pd.array([None, 1, 2] * 3, dtype="Int64"),
        "float_inf": [math.inf, -math.inf, math.nan, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "category": pd.Categorical(["a", "b", None] * 3),
    })
    data = frames_xlsx_bytes({"m": frame})
    _assert_round_trip({"m": frame}, data)
    ws = _openpyxl(data)["m"]
    assert ws["A6"].number_format == "yyyy-mm-dd" and ws["A7"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert ws["B2"].value == dt.datetime(2026, 6, 30, 23, 0)        # the wall time, as before


def test_a_string_longer_than_excel_allows_is_cut():
    frame = pd.DataFrame({"t": ["x" * 40_000, "🚀" * 20_000, "short"]})
    rows = _calamine_rows(frames_xlsx_bytes({"t": frame}))["t"]
    assert rows[1][0] == "x" * 32_767 and rows[2][0] == "🚀" * 16_383 and rows[3][0] == "short"


def test_sheet_titles_and_columns():
    assert sheet_titles({"a" * 40: 1, "b": 2}) == ["a" * 31, "b"]
    for bad in ({"a/b": 1}, {"'quoted'": 1}, {"Same": 1, "same": 2}, {"": 1}):
        with pytest.raises(ValueError):
            sheet_titles(bad)
    assert [column_letter(i + 1) for i in (0, 25, 26, 51, 52, 701, 702, 16383)] == \
        ["A", "Z", "AA", "AZ", "BA", "ZZ", "AAA", "XFD"]
    assert escape_text("a\x01_x0041_&<>") == "a_x0001__x005F_x0041_&amp;&lt;&gt;"


def test_wide_and_chunked_frames(monkeypatch):
    import pipeline.write.xlsx as xw

    monkeypatch.setattr(xw, "CHUNK_ROWS", 7)        # rows written in several pieces
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({f"c{j}": rng.normal(size=30) for j in range(30)})
    frame.iloc[::4, 3] = np.nan
    frame.iloc[:, 5] = np.nan                          # an all-blank column
    frame.loc[29, :] = np.nan                          # an all-blank last row
    data = frames_xlsx_bytes({"w": frame})
    _assert_round_trip({"w": frame}, data)
    assert _openpyxl(data)["w"]["AD1"].value == "c29"


def test_a_real_portfolio_round_trips(tmp_path: Path):
    from pipeline.analyse.analysis import analyse, default_quarter
    from pipeline.analyse.history import History
    from pipeline.reconcile.load import load
    from pipeline.run.report import _audit_sheets
    from pipeline.write.synthetic import write_portfolio

    write_portfolio(tmp_path / "in", partners=3)
    rec = load(tmp_path / "in")
    with History(tmp_path / "h.sqlite") as history:
        analysis = analyse(rec, default_quarter(rec), history)
    sheets = _audit_sheets(analysis)
    assert sum(f.size for f in sheets.values()) > 1_000
    _assert_round_trip(sheets, reconciled_xlsx_bytes(sheets))


_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\ufffe\uffff"), max_size=12) | \
    st.sampled_from(["=1+1", "+1", "0012", "_x0041_", " x ", "&amp;", "<v>", "=A1"])
_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
_INT = st.integers(min_value=-(2**53), max_value=2**53)
_DATETIME = st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2262, 4, 1)).map(
    lambda d: d.replace(microsecond=0))


@st.composite
def _frames_strategy(draw) -> dict[str, pd.DataFrame]:
    n = draw(st.integers(0, 8))
    kinds = draw(st.lists(st.sampled_from(["text", "float", "int", "bool", "datetime"]), min_size=1, max_size=6))
    columns = {}
    for j, kind in enumerate(kinds):
        if kind == "text":
            columns[f"c{j}"] = pd.Series(draw(st.lists(_TEXT | st.none(), min_size=n, max_size=n)), dtype="str")
        elif kind == "float":
            columns[f"c{j}"] = pd.Series(draw(st.lists(_FLOAT, min_size=n, max_size=n)), dtype="float64")
        elif kind == "int":
            columns[f"c{j}"] = pd.Series(draw(st.lists(_INT, min_size=n, max_size=n)), dtype="int64")
        elif kind == "bool":
            columns[f"c{j}"] = pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype="bool")
        else:
            days = draw(st.lists(_DATETIME | st.none(), min_size=n, max_size=n))
            columns[f"c{j}"] = pd.Series(pd.to_datetime(days), dtype="datetime64[ns]")
    return {"random": pd.DataFrame(columns, index=range(n))}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frames_strategy())
def test_random_frames_round_trip(frames):
    data = frames_xlsx_bytes(frames)
    _assert_round_trip(frames, data, openpyxl_text=lambda s: "_x" not in s and "x005F_" not in s
                       and not re.search(r"[\x00-\x08\x0b-\x1f]", s))


@pytest.mark.parametrize("text", ["_x0041_", "_x005F_x0041_", "__x0041__", "_x0041__x0042_", "a_x12_b", "\x01_x0001_"])
def test_excel_escapes_decode_back_to_the_text(text):
    """Excel reads ``_xHHHH_`` left to right as one character; what we write must read back as typed,
    overlapping sequences included."""
    import re

    from pipeline.write.xlsx import escape_text

    decoded = re.sub(r"_x([0-9a-fA-F]{4})_", lambda m: chr(int(m.group(1), 16)), escape_text(text))
    assert decoded == text
