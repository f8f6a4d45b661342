"""Hostile, broken and unusual files: each is refused with a clear problem or read correctly, and
no file can stop the others, allocate a dense grid, or change anything in the input folder."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.read import safety as S
from pipeline.core.sandbox import run_isolated
from pipeline.core.settings import Config
from pipeline.read.raw import CellError
from pipeline.read.reader import read_input
import hostile_files as H

ROOT = Path(__file__).resolve().parent.parent


def _config(**limits) -> Config:
    config = Config()
    config.values["limits"].update(limits)
    return config


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    files = H.build_all(folder)
    result = read_input(folder, Config())
    return folder, files, result


def _codes(result, path: str) -> list[str]:
    return [p.code for p in result.problems if p.file == path]


def _book(result, path: str):
    return next((w for w in result.workbooks if w.path == path), None)


@pytest.mark.parametrize("name", sorted(H.HOSTILE))
def test_each_file_gives_its_problem_or_is_read(hostile, name):
    folder, files, result = hostile
    _, expected = H.HOSTILE[name]
    rel = files[name].relative_to(folder).as_posix()
    codes = _codes(result, rel)
    if expected is None:
        assert codes == [], f"{rel}: {result.problems}"
        book = _book(result, rel)
        assert book is not None and book.sheets and any(any(row) for row in book.sheets[0].rows)
    else:
        assert expected in codes, f"{rel}: {codes}"


def test_every_file_accounted_for_once(hostile):
    folder, files, result = hostile
    paths = [i.path for i in result.inputs]
    assert paths == sorted(paths)
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert paths == on_disk
    statuses = {i.path: i.status for i in result.inputs}
    for name, (_, expected) in H.HOSTILE.items():
        rel = files[name].relative_to(folder).as_posix()
        want = "read" if expected is None or name == "far_cell" else ("skipped" if expected in ("FILE_LOCK", "FILE_HIDDEN") else "refused")
        assert statuses[rel] == want, rel
    assert all(len(i.sha256) == 64 for i in result.inputs if i.status != "skipped")


@pytest.mark.parametrize("name", ["backslash", "uppercase", "strict", "unknown_style", "absurd_dimension", "xlsx_named_xls",
                                  "xls_with_zip"])
def test_unusual_packages_read_the_same_cells(hostile, name):
    folder, files, result = hostile
    rows = _book(result, files[name].relative_to(folder).as_posix()).sheets[0].rows
    assert rows[2] == ["partner_id", "partner_name", "since", "score"]
    assert rows[3][0] == "P1" and rows[3][2].isoformat() == "2025-04-01" and rows[3][3] == 12.5
    assert rows[4][3] == 7


def test_far_cell_refuses_only_that_sheet_naming_the_cell(hostile):
    folder, files, result = hostile
    [p] = [p for p in result.problems if p.file == "far_cell.xlsx"]
    assert (p.code, p.sheet, p.cell) == ("FILE_TOO_LARGE", "Stray", "XFD1048576")
    assert "A1:XFD1048576" in p.message
    book = _book(result, "far_cell.xlsx")
    assert [s.name for s in book.sheets] == ["Partners"]


def test_far_cell_without_the_scan_is_stopped_by_the_memory_limit(tmp_path):
    """With the extent check out of the way the native reader tries the dense grid: the child's
    address-space limit stops it, the run goes on."""
    H.far_cell(tmp_path)
    H.basic_xlsx(tmp_path / "fine.xlsx")
    result = read_input(tmp_path, _config(max_cells=10**15, file_memory_mb=768))
    assert _codes(result, "far_cell.xlsx") == ["FILE_MEMORY"]
    assert _book(result, "fine.xlsx").sheets[0].rows[3][1] == "Acme"


def test_inflating_past_the_limit(tmp_path):
    H.inflating_sheet(tmp_path, megabytes=3)
    H.basic_xlsx(tmp_path / "fine.xlsx")
    result = read_input(tmp_path, _config(max_inflated_mb=1))
    [p] = result.problems
    assert (p.code, p.file) == ("FILE_TOO_LARGE", "inflating.xlsx")
    assert _book(result, "fine.xlsx") is not None
    assert read_input(tmp_path, _config(max_inflated_mb=10)).problems == []


def test_file_over_max_file_mb(tmp_path):
    H.big_sheet(tmp_path, rows=40_000)
    result = read_input(tmp_path, _config(max_file_mb=0))
    assert [p.code for p in result.problems] == ["FILE_TOO_LARGE"]


def test_formula_without_value_and_error_cells(hostile):
    folder, files, result = hostile
    sheet = _book(result, "formula.xlsx").sheets[0]
    assert sheet.formulas_without_value == {(4, 5): "=D4*2", (5, 5): "=SUM(D4:D5)"}
    assert sheet.rows[3][4] is None and sheet.rows[4][4] is None  # never a zero
    errors = _book(result, "errors.xlsx").sheets[0]
    assert errors.rows[4][3] == CellError("#DIV/0!") and errors.rows[3][4] == CellError("#N/A")
    assert errors.formulas_without_value == {}


def test_ods_written_by_hand(hostile):
    folder, files, result = hostile
    book = _book(result, "hand.ods")
    assert book.kind == "ods"
    assert book.sheets[0].name == "Actuals"
    assert book.sheets[0].rows[1][:2] == ["P1", 1234.5]
    assert book.sheets[0].rows[1][2].isoformat() == "2026-03-31"


def test_input_folder_is_never_modified(tmp_path):
    H.build_all(tmp_path)

    def snapshot():
        out = {}
        for p in sorted(tmp_path.rglob("*")):
            st = p.stat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            out[p.relative_to(tmp_path).as_posix()] = (digest, st.st_mtime_ns, st.st_mode)
        return out

    before = snapshot()
    read_input(tmp_path, Config())
    assert snapshot() == before


def test_sniff_by_content_not_extension():
    assert S.sniff(H.ole_file({"EncryptedPackage": b"x"})[:8]) == "ole"
    assert S.sniff(b"PK\x03\x04rest") == "zip"
    assert S.sniff(b"PK\x05\x06" + b"\0" * 18) == "zip"
    assert S.sniff(b"\x09\x00\x04\x00\x02\x00\x10\x00") == "biff"
    assert S.sniff(b"\xef\xbb\xbf<?xml version='1.0'?>") == "xml"
    assert S.sniff(b"partner_id,name\n") == "text"
    assert S.sniff(b"") == ""


def test_xls_holding_a_zip_is_read_as_xls_not_as_a_zip(hostile):
    """zipfile.is_zipfile says yes to many real .xls files (Excel embeds a small zip); the magic bytes decide."""
    import zipfile

    folder, files, result = hostile
    path = files["xls_with_zip"]
    assert zipfile.is_zipfile(path)
    assert S.sniff(path.read_bytes()[:4096]) == "ole"
    book = _book(result, "legacy.xls")
    assert book.kind == "xls" and [s.name for s in book.sheets] == ["Partners"]


def test_ole_streams_found_in_the_directory(tmp_path):
    path = tmp_path / "x.xls"
    path.write_bytes(H.ole_file({"Workbook": b"\x09\x08" + b"\0" * 50}))
    from pipeline.read.ole import ole_streams

    assert ole_streams(path) == {"Workbook"}


def test_ole_xls_the_reader_cannot_read_is_an_old_format(tmp_path):
    (tmp_path / "old.xls").write_bytes(H.ole_file({"Workbook": b"garbage" * 10}))
    (tmp_path / "memo.xls").write_bytes(H.ole_file({"WordDocument": b"x" * 60}))
    result = read_input(tmp_path, Config())
    assert [(p.code, p.file) for p in result.problems] == [("FILE_CORRUPT", "memo.xls"), ("FILE_OLD_FORMAT", "old.xls")]
    assert "97-2003" in result.problems[1].message


# --- isolation ------------------------------------------------------------------------------------

def test_misbehaving_jobs_do_not_stop_the_others():
    modes = ["ok1", "sleep", "ok2", "abort", "ok3", "alloc", "exit", "raise", "print", "ok4"]
    jobs = [(m, (m,)) for m in modes]
    started = time.monotonic()
    out = run_isolated(H.behave, jobs, seconds=2, memory_mb=512, workers=2)
    assert time.monotonic() - started < 20
    assert {m: out[m][0] for m in modes} == {
        "ok1": "ok", "sleep": "timeout", "ok2": "ok", "abort": "crash", "ok3": "ok", "alloc": "memory",
        "exit": "crash", "raise": "crash", "print": "ok", "ok4": "ok"}
    assert out["ok4"][1] == "done ok4" and out["print"][1] == "done print"
    assert "exit code 3" in out["exit"][1] and "boom" in out["raise"][1]


def test_a_file_over_the_time_limit_is_stopped_and_the_others_read(tmp_path):
    H.big_sheet(tmp_path, rows=300_000)
    for i in range(4):
        H.basic_xlsx(tmp_path / f"small{i}.xlsx")
    result = read_input(tmp_path, _config(file_seconds=0.5))
    assert [(p.code, p.file) for p in result.problems] == [("FILE_TIMEOUT", "big.xlsx")]
    assert [w.path for w in result.workbooks] == [f"small{i}.xlsx" for i in range(4)]
    assert {i.path: i.status for i in result.inputs}["big.xlsx"] == "refused"


def test_whole_run_under_ulimit_v(hostile):
    """read_input over every hostile file inside a 3 GB address space: it finishes, every file listed."""
    folder, files, _ = hostile
    script = ("import json, sys; from pipeline.read.reader import read_input; from pipeline.core.settings import Config; "
              "r = read_input(sys.argv[1], Config()); "
              "print(json.dumps({'inputs': {i.path: i.status for i in r.inputs}, 'codes': sorted({p.code for p in r.problems})}))")
    proc = subprocess.run(["bash", "-c", 'ulimit -v 3000000 && exec "$0" -c "$1" "$2"', sys.executable, script, str(folder)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(out["inputs"]) == sorted(p.relative_to(folder).as_posix() for p in files.values())
    assert {"FILE_HOSTILE", "FILE_TOO_LARGE", "FILE_ENCRYPTED", "FILE_CORRUPT", "FILE_EMPTY"} <= set(out["codes"])


@pytest.mark.parametrize("name", ["backslash", "uppercase"])
def test_normalised_copy_has_standard_names_and_reads_the_same(hostile, name):
    """The fallback when the reader cannot cope with odd part names: a repaired copy in memory."""
    import io
    import zipfile

    from pipeline.read.reader import _read_normalised

    folder, files, result = hostile
    pkg = S.Package(files[name])
    S.sheet_parts(pkg)
    assert pkg.odd_names
    buffer = io.BytesIO()
    pkg.normalised_copy(buffer)
    pkg.close()
    names = set(zipfile.ZipFile(buffer).namelist())
    assert {"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
            "xl/worksheets/sheet1.xml", "xl/styles.xml"} <= names
    rel = files[name].relative_to(folder).as_posix()
    again = _read_normalised(files[name], rel, "xlsx", {}, {}).resolve()
    assert again.workbook.sheets[0].rows == _book(result, rel).sheets[0].rows
    assert not S.Package(files["absurd_dimension"]).odd_names
