"""Every bad kind of input file at once, beside valid workbooks: `report` still writes every good
partner's review, `validate` gives each bad file one clear line, and both stay inside the limits."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from pypdf import PdfReader

import hostile_files as H
from pipeline.cli import cli
from workbook_builders import PARTNERS, clean_portfolio, write_xlsx

ROOT = Path(__file__).resolve().parent.parent
# small limits so the hostile set runs in seconds (the defaults are in docs/reading.md)
LIMITS = "[limits]\nfile_seconds = 20\nfile_memory_mb = 1024\nmax_inflated_mb = 2\n"
# clean_portfolio's active partners (INITECH is ended), plus P1 and P2, the registry rows that the
# readable hostile workbooks hold
ACTIVE = {"ACME", "GLOBEX", "P1", "P2"}
NAMES = {p[0]: p[1] for p in PARTNERS[1:]} | {"P1": "Acme", "P2": "Globex"}


def build_mixed(folder: Path) -> dict[str, Path]:
    """A valid portfolio, every hostile file under dropped/, a real .xls and a messy workbook."""
    clean_portfolio(folder)
    (folder / "partner-review.toml").write_text(LIMITS)
    files = H.build_all(folder / "dropped")
    files["inflating"] = H.inflating_sheet(folder / "dropped", megabytes=3)
    files["legacy"] = H.xls_with_zip(folder / "legacy", {
        "KPI Actuals": [["partner_id", "kpi_id", "period", "value", "source"], ["GLOBEX", "deals", "2026-Q1", 6, "internal"]],
        "Check-ins": [["partner_id", "date", "type", "summary"], ["GLOBEX", dt.date(2026, 3, 3), "monthly sync", "from the old xls"]],
    }, name="globex_q1.xls")
    files["messy"] = write_xlsx(folder / "messy" / "partner_reported.xlsx", {
        "Actuals": [["Partner\nID", "KPI", "Period", "Value", "Source", "Note", None],
                    ["GLOBEX", "win_rate", "2026-Q1", "0,35", "partner", "decimal comma"],
                    ["GLOBEX", "revenue", "2026-Q1", "52\u00a0000,5", "partner", "NBSP groups, hidden row"],
                    ["ACME", "deals", "2026-Q1", "=B2*2", "partner", "formula, no stored value"]],
        "Actuals (2)": [["partner_id", "kpi_id", "period", "value", "source"], ["ACME", "revenue", "2026-Q1", 95000, "partner"]],
    }, hidden_rows={"Actuals": [3]}, merged={"Actuals": ["F1:G1"]}, hidden_sheets=["Actuals (2)"])
    return files


def tree_digest(folder: Path) -> dict[str, tuple[str, int, int]]:
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir",
                                               p.stat().st_mtime_ns, p.stat().st_mode)
            for p in sorted(folder.rglob("*"))}


def expected_codes(files: dict[str, Path], folder: Path) -> dict[str, str]:
    """Relative path -> the file-level code each hostile file must give."""
    out = {files[name].relative_to(folder).as_posix(): code for name, (_, code) in H.HOSTILE.items() if code}
    out[files["inflating"].relative_to(folder).as_posix()] = "FILE_TOO_LARGE"
    return out


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    folder = root / "input"
    files = build_mixed(folder)
    before = tree_digest(folder)
    out = root / "out"
    result = CliRunner().invoke(cli, ["report", "--input", str(folder), "--output", str(out)])
    after = tree_digest(folder)
    return folder, files, result, out / "2026-Q1", before, after


def _problems(quarter_dir: Path) -> list[dict]:
    ws = load_workbook(quarter_dir / "reconciled.xlsx", read_only=True)["problems"]
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def _frame(quarter_dir: Path, name: str) -> list[dict]:
    ws = load_workbook(quarter_dir / "reconciled.xlsx", read_only=True)[name]
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def test_report_writes_every_good_partners_review(mixed):
    folder, files, result, quarter_dir, *_ = mixed
    assert result.exit_code == 0, result.output[-3000:]
    assert "Traceback" not in result.output
    manifest = json.loads((quarter_dir / "manifest.json").read_text())
    assert {p["partner_id"] for p in manifest["partners"]} == ACTIVE
    for p in manifest["partners"]:
        pdf = quarter_dir / p["pdf"]
        text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
        assert NAMES[p["partner_id"]] in text
    assert manifest["problems"] >= len(expected_codes(files, folder))


def test_every_bad_file_is_listed_with_its_code(mixed):
    folder, files, _, quarter_dir, *_ = mixed
    got: dict[str, set[str]] = {}
    for p in _problems(quarter_dir):
        got.setdefault(p["file"], set()).add(p["code"])
    for rel, code in expected_codes(files, folder).items():
        assert code in got.get(rel, set()), (rel, got.get(rel))


def test_old_xls_duplicate_sheets_merged_and_hidden_cells_and_odd_numbers_are_read(mixed):
    _, _, _, quarter_dir, *_ = mixed
    values = {(r["file"], r["sheet"], r["partner_id"], r["kpi_id"], r["source"]): r["value"] for r in _frame(quarter_dir, "kpi_values")}
    assert values[("legacy/globex_q1.xls", "KPI Actuals", "GLOBEX", "deals", "internal")] == 6
    messy = "messy/partner_reported.xlsx"
    assert values[(messy, "Actuals", "GLOBEX", "win_rate", "partner")] == 0.35
    assert values[(messy, "Actuals", "GLOBEX", "revenue", "partner")] == 52000.5        # the hidden row
    assert values[(messy, "Actuals (2)", "ACME", "revenue", "partner")] == 95000        # the hidden second sheet
    assert not any(k[0] == messy and k[3] == "deals" for k in values)                 # the formula is not a zero
    checkins = [r for r in _frame(quarter_dir, "checkins") if r["file"] == "legacy/globex_q1.xls"]
    assert [(r["partner_id"], r["summary"]) for r in checkins] == [("GLOBEX", "from the old xls")]
    [formula] = [p for p in _problems(quarter_dir) if p["code"] == "VALUE_FORMULA_NO_VALUE"]
    assert (formula["file"], formula["sheet"], formula["cell"], formula["value"]) == (messy, "Actuals", "D4", "=B2*2")
    assert "open and save it in Excel or LibreOffice" in formula["fix"]


def test_input_folder_untouched_and_outputs_whole(mixed):
    _, _, _, quarter_dir, before, after = mixed
    assert after == before
    leftovers = [p.name for p in quarter_dir.rglob("*") if p.name.startswith(".") or p.name.endswith(".part")]
    assert leftovers == []
    for pdf in quarter_dir.glob("*.pdf"):
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF"), pdf.name


def test_validate_gives_each_bad_file_one_clear_line(mixed):
    folder, files, *_ = mixed
    result = CliRunner().invoke(cli, ["validate", "--input", str(folder)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    for rel, code in expected_codes(files, folder).items():
        if code in ("FILE_LOCK", "FILE_HIDDEN"):
            continue  # notes: listed with --verbose only
        mine = [ln for ln in lines if "[FILE_" in ln and ln.split("  ")[1:2] and ln.split("  ")[1].split(" › ")[0].strip() == rel]
        assert len(mine) == 1, (rel, mine)  # one line for the file itself (a readable sheet's rows may add their own)
        assert f"[{code}]" in mine[0] and " -> " in mine[0], mine[0]


def test_validate_and_report_stay_inside_ulimit(mixed, tmp_path):
    """Both commands in a subprocess under a 3 GB address-space limit: they finish, with the right exit codes."""
    folder, *_ = mixed
    out = tmp_path / "out"
    script = ('ulimit -v 3000000 && "$0" -m pipeline validate --input "$1" --quiet; echo "validate=$?"; '
              '"$0" -m pipeline report --input "$1" --output "$2" --quiet; echo "report=$?"')
    proc = subprocess.run(["bash", "-c", script, sys.executable, str(folder), str(out)],
                          capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert "validate=1" in proc.stdout and "report=0" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    manifest = json.loads((out / "2026-Q1" / "manifest.json").read_text())
    assert {p["partner_id"] for p in manifest["partners"]} == ACTIVE
