"""The read cache: a re-run takes unchanged workbooks from OUTPUT/.cache/read, exactly as they were read."""
from __future__ import annotations

import datetime as dt
import hashlib

import openpyxl
import pytest

import hostile_files as H
from pipeline.read import cache as readcache
from pipeline.core.settings import Config
from pipeline.read.reader import read_input


def _inputs(root):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Actuals"
    ws["B2"] = "Actuals, FY2026"
    ws.append([None, "partner_id", "kpi_id", "period", "value", "when", "at", "ok"])
    ws.append([None, "P1", "K1", "2026-Q1", 1234.5, dt.datetime(2026, 3, 31, 17, 30), dt.time(9, 15), True])
    ws.append([None, "P2", "K1", dt.date(2026, 2, 1), -3, dt.date(2026, 2, 1), None, False])
    ws.append([None, "P3", "K2", "2026-02", "12,5", "Ünïcödé ✓", 2**60, None])
    ws.row_dimensions[4].hidden = True
    hidden = wb.create_sheet("Lookups")
    hidden.sheet_state = "hidden"
    hidden["A1"] = "x"
    wb.save(root / "book.xlsx")
    body = ('<row r="1"><c r="A1"><f>1+1</f><v>2</v></c><c r="D1"><f>A1*3</f></c></row>'
            '<row r="2"><c r="A2" t="e"><f>1/0</f><v>#DIV/0!</v></c></row>')
    H.raw_xlsx(root / "calc.xlsx", {"Calc": body})
    (root / "table.csv").write_bytes("partner_id;value\nP1;1,5\n".encode("utf-8"))
    (root / "broken.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook")
    return root


@pytest.fixture()
def folders(tmp_path):
    root = tmp_path / "input"
    root.mkdir()
    return _inputs(root), tmp_path / "cache"


def _snapshot(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_second_read_comes_from_the_cache_and_is_identical(folders):
    root, cache = folders
    before = _snapshot(root)
    first = read_input(root, Config(), cache)
    assert first.cached == []
    second = read_input(root, Config(), cache)
    assert second.cached == ["book.xlsx", "calc.xlsx", "table.csv"]     # the refused file is read again
    assert second.workbooks == first.workbooks == read_input(root, Config()).workbooks
    assert second.problems == first.problems and any(p.code == "FILE_CORRUPT" for p in second.problems)
    assert [(f.path, f.sha256, f.status) for f in second.inputs] == [(f.path, f.sha256, f.status) for f in first.inputs]
    assert len(list(cache.glob("*.bin"))) == 3
    assert _snapshot(root) == before        # the input folder is never written to
    # the values that do not marshal came back as what they were
    sheet = next(w for w in second.workbooks if w.path == "book.xlsx").sheets[0]
    values = [v for row in sheet.rows for v in row]
    assert dt.datetime(2026, 3, 31, 17, 30) in values and dt.time(9, 15) in values and dt.date(2026, 2, 1) in values
    assert 4 in sheet.hidden_rows
    calc = next(w for w in second.workbooks if w.path == "calc.xlsx").sheets[0]
    assert calc.formulas_without_value == {(1, 4): "=A1*3"} and str(calc.rows[1][0]) == "#DIV/0!"


def test_a_changed_file_is_read_again_and_its_old_entry_pruned(folders):
    root, cache = folders
    read_input(root, Config(), cache)
    (root / "table.csv").write_bytes("partner_id;value\nP1;2,5\n".encode("utf-8"))
    result = read_input(root, Config(), cache)
    assert result.cached == ["book.xlsx", "calc.xlsx"]
    csv = next(w for w in result.workbooks if w.path == "table.csv")
    assert csv.sheets[0].rows[1] == ["P1", "2,5"]
    assert len(list(cache.glob("*.bin"))) == 3


def test_other_limits_read_again(folders):
    root, cache = folders
    read_input(root, Config(), cache)
    config = Config()
    config.values["limits"] = dict(config.values["limits"], max_cells=5)
    result = read_input(root, config, cache)
    assert result.cached == []
    assert ("FILE_TOO_LARGE", "book.xlsx", "Actuals") in [(p.code, p.file, p.sheet) for p in result.problems]


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "shape"])
def test_a_damaged_entry_is_removed_and_the_file_read_again(folders, damage):
    root, cache = folders
    first = read_input(root, Config(), cache)
    entry = max(cache.glob("*.bin"), key=lambda p: p.stat().st_size)
    data = bytearray(entry.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[:len(data) // 3]
    elif damage == "garbage":
        data = bytearray(b"\x00\xff" * 100)
    else:  # a valid checksum over a body of the wrong shape
        import marshal
        body = marshal.dumps(("xlsx", "book.xlsx", "xlsx", [("S", 1, 1, [], False, [])], [], [], []))
        data = bytearray(readcache.FORMAT + b" " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    entry.write_bytes(bytes(data))
    again = read_input(root, Config(), cache)
    assert len(again.cached) == 2
    assert again.workbooks == first.workbooks
    assert len(list(cache.glob("*.bin"))) == 3   # stored again, whole


def test_a_new_version_of_a_reading_library_reads_again(monkeypatch):
    from importlib import metadata

    from pipeline.write import cache

    real = metadata.version
    key = readcache.entry_key("ab" * 32, "book.xlsx", {"max_cells": 5})
    cache.code_fingerprint.cache_clear()
    monkeypatch.setattr(metadata, "version", lambda name: "99.0" if name == "python-calamine" else real(name))
    try:
        assert readcache.entry_key("ab" * 32, "book.xlsx", {"max_cells": 5}) != key
    finally:
        cache.code_fingerprint.cache_clear()


def test_a_file_that_changes_while_it_is_read_is_not_stored(folders, monkeypatch):
    from pipeline.read import reader as read

    root, cache = folders
    seen: set = set()
    real = readcache.stamp_of

    def moving(path):  # the second look at a file (after reading it) sees other bytes than the first
        dev, ino, size, mtime = real(path)
        if path.name in seen:
            return dev, ino, size + 1, mtime
        seen.add(path.name)
        return dev, ino, size, mtime

    monkeypatch.setattr(readcache, "stamp_of", moving)
    read_input(root, Config(), cache)
    assert list(cache.glob("*.bin")) == []
    monkeypatch.setattr(readcache, "stamp_of", real)
    read_input(root, Config(), cache)
    assert len(list(cache.glob("*.bin"))) == 3


def _jobs_sent(monkeypatch):
    """The files `read_input` hands to worker processes, run after run."""
    from pipeline.read import reader as read

    sent: list[list[str]] = []
    real = read.run_isolated

    def counting(fn, jobs, **kw):
        sent.append(sorted(path for path, _ in jobs))
        return real(fn, jobs, **kw)

    monkeypatch.setattr(read, "run_isolated", counting)
    return sent


def _age(root, seconds: float = 10) -> None:
    """Date every input file `seconds` back, as files dropped before the run are."""
    import os
    import time

    for p in root.iterdir():
        t = time.time() - seconds
        os.utime(p, (t, t))


def test_unchanged_files_are_known_by_their_stamp_and_not_even_hashed_again(folders, monkeypatch):
    root, cache = folders
    _age(root)
    sent = _jobs_sent(monkeypatch)
    first = read_input(root, Config(), cache)
    again = read_input(root, Config(), cache)
    assert sent[0] == ["book.xlsx", "broken.xlsx", "calc.xlsx", "table.csv"]
    assert sent[1:] in ([["broken.xlsx"]], [])   # a refused file is never cached: tried again every run
    assert again.workbooks == first.workbooks and again.cached == ["book.xlsx", "calc.xlsx", "table.csv"]
    assert [f.sha256 for f in again.inputs] == [f.sha256 for f in first.inputs]
    (root / "table.csv").write_bytes("partner_id;value\nP1;2,5\n".encode("utf-8"))  # same size, new bytes
    _age(root, 5)
    third = read_input(root, Config(), cache)
    assert "table.csv" in sent[-1] and "table.csv" not in third.cached
    assert third.workbooks[-1].sheets[0].rows[1] == ["P1", "2,5"]


def test_a_file_changed_just_before_its_stamp_was_taken_is_hashed_again(folders, monkeypatch):
    """git's racy rule: a change in the same clock tick as the stamp could hide, so such a file is read
    (and hashed) again; its bytes still come from the cache when they did not change."""
    root, cache = folders
    sent = _jobs_sent(monkeypatch)
    read_input(root, Config(), cache)          # the files were written just now
    again = read_input(root, Config(), cache)
    assert "book.xlsx" in sent[1] and again.cached == ["book.xlsx", "calc.xlsx", "table.csv"]
