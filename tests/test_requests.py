"""The data request sent with each review (issue 18): that partner's rows alone, in every part of the file,
what we ask for next quarter, validated cells, and a workbook a real spreadsheet program opens."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

import workbook_builders as W
from pipeline.cli import cli

Q, NEXT = "2026-Q1", "2026-Q2"
SECRETS = ("acme-secret-budget", "globex-secret-exit-plan")


def _inputs(folder: Path) -> Path:
    inp = W.clean_portfolio(folder)
    commitments = [W.COMMITMENTS[0],
                   ["A-1", "ACME", "partner", "Train 10 sellers", "Ana Lead", dt.date(2026, 6, 30), None, "In progress",
                    0.4, None, dt.date(2026, 3, 1), None, "on its way", SECRETS[0]],
                   ["A-2", "ACME", "us", "Give roadmap access", "Olga Owner", dt.date(2026, 5, 1), None, "Not started",
                    None, None, None, None, None, SECRETS[0]],
                   ["A-3", "ACME", "partner", "Old webinar", "Ana Lead", dt.date(2026, 1, 5), None, "Done", 1, None,
                    None, dt.date(2026, 1, 5), None, None],
                   ["G-1", "GLOBEX", "joint", "Globex co-sell plan", "Gus Lead", dt.date(2026, 6, 1), None, "In progress",
                    0.2, None, dt.date(2026, 3, 2), None, "Globex only", SECRETS[1]]]
    W.write_xlsx(inp / "plan.xlsx", {"Targets": W.TARGETS + [["ACME", "revenue", NEXT, 123457.5],
                                                              ["GLOBEX", "revenue", NEXT, 77777.25]],
                                     "Commitments": commitments, "Check-ins": W.CHECKINS})
    W.write_xlsx(inp / "monthly.xlsx", {"Actuals": [["partner_id", "kpi_id", "period", "value", "source"],
                                                    ["GLOBEX", "deals", "2026-01", 3, "partner"],
                                                    ["GLOBEX", "deals", "2026-02", 4, "partner"]]})
    (inp / "partner-review.toml").write_text('[organisation]\nname = "Us & Co"\n')
    return inp


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("requests")
    inp, out = _inputs(tmp / "in"), tmp / "out"
    result = CliRunner().invoke(cli, ["report", "--input", str(inp), "--output", str(out), "--quarter", Q,
                                      "--as-of", "2026-04-02", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / Q / "manifest.json").read_text())
    return inp, out, manifest


def _everything(path: Path) -> str:
    """Every part of the xlsx package as text: cells, shared strings, names, properties, validations."""
    with zipfile.ZipFile(path) as z:
        return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


def test_each_partner_gets_its_own_request_named_in_the_manifest(run):
    _inp, out, manifest = run
    requests = {m["partner_id"]: m["request"] for m in manifest["partners"]}
    assert set(requests) == {"ACME", "GLOBEX"} and len(set(requests.values())) == 2
    for pid, rel in requests.items():
        assert rel.startswith("requests/") and rel.endswith(f"_{NEXT}_data-request.xlsx")
        assert (out / Q / rel).is_file()
    assert sorted(p.name for p in (out / Q / "requests").iterdir()) == sorted(Path(r).name for r in requests.values())


def test_a_request_holds_its_partners_data_alone_in_every_part_of_the_file(run):
    _inp, out, manifest = run
    other = {"ACME": ("GLOBEX", "Globex", "77777.25", "Gus Lead", "co-sell"), "GLOBEX": ("ACME", "Acme Corp", "123457.5", "Ana Lead", "roadmap")}
    for m in manifest["partners"]:
        text = _everything(out / Q / m["request"])
        assert m["partner_id"] in text and m["partner_name"] in text
        for foreign in other[m["partner_id"]]:
            assert foreign not in text, (m["partner_id"], foreign)
        for secret in SECRETS + ("budget from Q4",):   # internal notes, ours and theirs
            assert secret not in text


def test_the_request_asks_for_next_quarter_and_their_open_commitments(run):
    _inp, out, manifest = run
    paths = {m["partner_id"]: out / Q / m["request"] for m in manifest["partners"]}
    wb = load_workbook(paths["ACME"])
    assert wb.sheetnames == ["Instructions", "Actuals", "Commitments", "Our commitments", "Pulse"]
    rows = list(wb["Actuals"].iter_rows(values_only=True))
    head = rows[0]
    got = {(r[1], r[2]): dict(zip(head, r)) for r in rows[1:]}
    assert set(got) == {("revenue", NEXT), ("deals", NEXT), ("win_rate", NEXT)}
    assert all(r["value"] is None and r["source"] == "partner" and r["partner_id"] == "ACME" for r in got.values())
    assert got[("revenue", NEXT)]["our target for the quarter (reference)"] == 123457.5
    assert got[("revenue", NEXT)][f"last quarter, {Q} (reference)"] == 95000
    commitments = [r for r in wb["Commitments"].iter_rows(min_row=2, values_only=True)]
    assert [(r[0], r[2], r[6]) for r in commitments] == [("A-1", "partner", "in_progress")]   # open, theirs
    assert [r[0] for r in wb["Our commitments"].iter_rows(min_row=2, values_only=True)] == ["A-2"]
    pulse = [r for r in wb["Pulse"].iter_rows(min_row=2, values_only=True)]
    assert len(pulse) == 5 and all(r[0] == "ACME" and r[1] == NEXT and r[4] is None for r in pulse)
    instructions = "\n".join(str(c) for c in wb["Instructions"]["A"] if c.value for c in [c.value])
    assert "10 July 2026" in instructions and "Olga Owner <olga@us.example>" in instructions
    # a KPI the partner reports by month is asked for by month
    globex = load_workbook(paths["GLOBEX"])
    periods = sorted(r[2] for r in globex["Actuals"].iter_rows(min_row=2, values_only=True) if r[1] == "deals")
    assert periods == ["2026-04", "2026-05", "2026-06"]


def test_the_cells_they_fill_are_validated_and_the_rest_protected(run):
    _inp, out, manifest = run
    wb = load_workbook(out / Q / manifest["partners"][0]["request"])
    for title, column, kind in (("Actuals", "D", "decimal"), ("Actuals", "E", "list"), ("Commitments", "G", "list"),
                                ("Commitments", "F", "date"), ("Commitments", "H", "decimal"), ("Pulse", "E", "list")):
        ws = wb[title]
        assert ws.protection.sheet, title
        kinds = {dv.type for dv in ws.data_validations.dataValidation if f"{column}2" in dv.sqref}
        assert kinds == {kind}, (title, column, kinds)
    pulse = wb["Pulse"]
    (score,) = [dv for dv in pulse.data_validations.dataValidation if "E2" in dv.sqref]
    assert score.formula1 == '"1,2,3,4,5"'
    assert wb["Actuals"].column_dimensions["D"].protection.locked is False    # value: theirs
    assert wb["Actuals"]["A2"].protection.locked is True                       # partner_id: reference


def test_the_same_inputs_give_the_same_request_bytes(run, tmp_path):
    inp, out, manifest = run
    again = tmp_path / "again"
    result = CliRunner().invoke(cli, ["report", "--input", str(inp), "--output", str(again), "--quarter", Q,
                                      "--as-of", "2026-04-02", "--jobs", "1"])
    assert result.exit_code == 0
    for m in manifest["partners"]:
        assert (again / Q / m["request"]).read_bytes() == (out / Q / m["request"]).read_bytes()


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (libreoffice-calc-nogui) is not installed")
def test_a_request_opens_in_libreoffice_with_every_sheet(run, tmp_path):
    _inp, out, manifest = run
    src = out / Q / manifest["partners"][0]["request"]
    shutil.copy(src, tmp_path / "request.xlsx")
    proc = subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo-profile",
                           "--convert-to", 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1',
                           "request.xlsx"], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    sheets = {p.stem.removeprefix("request-"): p.read_text(encoding="utf-8") for p in tmp_path.glob("request-*.csv")}
    assert set(sheets) == {"Instructions", "Actuals", "Commitments", "Our commitments", "Pulse"}
    assert sheets["Actuals"].splitlines()[0].startswith("partner_id,kpi_id,period,value,source")
    assert "ACME,revenue,2026-Q2,,partner" in sheets["Actuals"]
    assert sheets["Pulse"].count("ACME,2026-Q2,") == 5


# --- the e-mail: the review and its own request, nothing else -------------------------------------------

def test_the_email_attaches_the_partners_own_request_and_says_by_when(run, tmp_path):
    import email
    import email.policy

    _inp, out0, _manifest = run
    out = tmp_path / "out"
    shutil.copytree(out0, out)
    qdir = out / Q
    result = CliRunner().invoke(cli, ["email", "--reviews", str(qdir)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((qdir / "manifest.json").read_text())
    for entry in manifest["partners"]:
        msg = email.message_from_bytes((qdir / "email" / (Path(entry["pdf"]).stem + ".eml")).read_bytes(),
                                       policy=email.policy.default)
        names = [a.get_filename() for a in msg.iter_attachments()]
        assert names == [Path(entry["pdf"]).name, Path(entry["request"]).name]
        body = msg.get_body(("plain",)).get_content()
        assert "Please send it back by 10 July 2026" in body and NEXT in body


def test_a_request_that_is_not_the_partners_own_is_never_attached(run, tmp_path):
    _inp, out0, _manifest = run
    out = tmp_path / "out"
    shutil.copytree(out0, out)
    qdir = out / Q
    manifest = json.loads((qdir / "manifest.json").read_text())
    acme, globex = sorted(manifest["partners"], key=lambda m: m["partner_id"])
    # the two requests' files swapped on disk: each name now holds the other partner's workbook
    a, g = qdir / acme["request"], qdir / globex["request"]
    a_bytes, g_bytes = a.read_bytes(), g.read_bytes()
    a.write_bytes(g_bytes)
    g.write_bytes(a_bytes)
    result = CliRunner().invoke(cli, ["email", "--reviews", str(qdir)])
    assert result.exit_code == 1
    assert result.output.count("REQUEST_NOT_PARTNERS") == 2, result.output
    assert not list((qdir / "email").glob("*.eml"))
    # and one that is gone is reported, never sent without a word
    a.unlink()
    g.write_bytes(g_bytes)
    result = CliRunner().invoke(cli, ["email", "--reviews", str(qdir)])
    assert "REQUEST_MISSING" in result.output
    assert [p.stem for p in (qdir / "email").glob("*.eml")] == [Path(globex["pdf"]).stem]
