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
    for rel in requests.values():
        assert rel.startswith("requests/") and rel.endswith(f"_{NEXT}_data-request.xlsx")
        assert (out / Q / rel).is_file()
    assert sorted(p.name for p in (out / Q / "requests").iterdir()) == sorted(Path(r).name for r in requests.values())


def test_a_request_holds_its_partners_data_alone_in_every_part_of_the_file(run):
    _inp, out, manifest = run
    other = {"ACME": ("GLOBEX", "Globex", "77777.25", "Gus Lead", "co-sell"),
             "GLOBEX": ("ACME", "Acme Corp", "123457.5", "Ana Lead", "roadmap")}
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
    assert [(r[0], r[2], r[5], r[8]) for r in commitments] == [("A-1", "partner", "in progress", None)]  # open, theirs
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
    for title, column, kind in (("Actuals", "D", "decimal"), ("Actuals", "E", "list"), ("Commitments", "I", "list"),
                                ("Commitments", "K", "date"), ("Commitments", "J", "decimal"), ("Pulse", "E", "list")):
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
        assert "Please send it back by 10 Jul 2026" in body and NEXT in body


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


# --- read back next quarter ------------------------------------------------------------------------------

def _fill_acme(path: Path, target: Path) -> None:
    """Fill ACME's request as a partner would, with one row edited outside its cells."""
    wb = load_workbook(path)
    ws = wb["Actuals"]
    for row in ws.iter_rows(min_row=2):
        if row[1].value == "revenue":
            row[3].value = 130000
        elif row[1].value == "deals":
            row[3].value, row[5].value = 12, "two late bookings"
        elif row[1].value == "win_rate":
            row[0].value, row[3].value = "GLOBEX", 0.5          # edited outside its cells: another partner
    cm = wb["Commitments"]
    for row in cm.iter_rows(min_row=2):
        if row[0].value == "A-1":
            row[8].value, row[9].value, row[11].value = "done", 1, "all ten trained"
    pulse = wb["Pulse"]
    for row, score in zip(pulse.iter_rows(min_row=2), (4, 5, 3, None, 2)):
        row[4].value = score
        row[5].value = "R&D <urgent>" if score == 2 else None
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)


def test_a_returned_request_is_read_next_quarter_for_its_partner_alone(run, tmp_path):
    from pipeline.reconcile.load import load

    inp0, out, manifest = run
    inp = tmp_path / "in"
    shutil.copytree(inp0, inp)
    W.write_xlsx(inp / "q2.xlsx", {"Actuals": [["partner_id", "kpi_id", "period", "value"],
                                               ["ACME", "revenue", NEXT, 128000], ["GLOBEX", "revenue", NEXT, 60000]]})
    paths = {m["partner_id"]: out / Q / m["request"] for m in manifest["partners"]}
    _fill_acme(paths["ACME"], inp / "returns" / paths["ACME"].name)
    shutil.copy(paths["GLOBEX"], inp / "returns" / paths["GLOBEX"].name)   # returned untouched
    rec = load(inp)
    acme_file = f"returns/{paths['ACME'].name}"
    kv = rec.kpi_values[rec.kpi_values["file"] == acme_file]
    assert sorted(zip(kv["partner_id"], kv["kpi_id"], kv["quarter"], kv["source"], kv["value"])) == [
        ("ACME", "deals", NEXT, "partner", 12.0), ("ACME", "revenue", NEXT, "partner", 130000.0)]
    # the reference columns we pre-filled (our target, last quarter's figure) are read as nothing at all
    assert not (rec.targets["file"] == acme_file).any()
    # the row edited to another partner is reported in ACME's own problems, never given to GLOBEX
    other = [p for p in rec.problems if p.code == "REQUEST_OTHER_PARTNER"]
    assert [(p.file, p.cell, p.partner_id, p.value) for p in other] == [(acme_file, "A4", "ACME", "GLOBEX")]
    assert not ((rec.kpi_values["partner_id"] == "GLOBEX") & (rec.kpi_values["file"] == acme_file)).any()
    # the commitment update applies, with its provenance
    a1 = rec.commitments.set_index("commitment_id").loc["A-1"]
    assert (a1["status"], a1["percent_complete"], a1["note"], a1["file"]) == ("done", 1.0, "all ten trained", acme_file)
    assert any(p.code == "REQUEST_UPDATED" and p.partner_id == "ACME" for p in rec.problems)
    assert not rec.problems.actionable or all(p.code == "REQUEST_OTHER_PARTNER" or p.file != acme_file
                                              for p in rec.problems.actionable)
    # the pulse, ACME's as typed; GLOBEX's untouched request: nothing answered, and its blanks only noted
    pulse = rec.pulse[rec.pulse["partner_id"] == "ACME"].sort_values("question_id")
    assert dict(zip(pulse["question_id"], pulse["score"].fillna(-1))) == {
        "communication": 4, "value": 5, "responsiveness": 3, "figures": -1, "planning": 2}
    assert "R&D <urgent>" in set(pulse["comment"])
    globex_file = f"returns/{paths['GLOBEX'].name}"
    assert rec.pulse.loc[rec.pulse["partner_id"] == "GLOBEX", "score"].isna().all()
    assert [p.code for p in rec.problems if p.file == globex_file] == ["REQUEST_BLANKS"]

    # the next quarter's reviews: ACME's figures and notes in ACME's review and nobody else's
    result = CliRunner().invoke(cli, ["report", "--input", str(inp), "--output", str(tmp_path / "out"),
                                      "--quarter", NEXT, "--as-of", "2026-07-05", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    from pypdf import PdfReader

    m2 = json.loads((tmp_path / "out" / NEXT / "manifest.json").read_text())
    texts = {m["partner_id"]: " ".join(" ".join(p.extract_text() for p in
                                                PdfReader(tmp_path / "out" / NEXT / m["pdf"]).pages).split())
             for m in m2["partners"]}
    assert "all ten trained" in texts["ACME"] and "all ten trained" not in texts["GLOBEX"]
    assert paths["ACME"].name not in texts["GLOBEX"] and "Acme" not in texts["GLOBEX"]
    # their view beside ours: ACME's ratings and comment as typed; GLOBEX, who answered nothing, has none
    rated = "You rated the partnership 3.5 of 5 for 2026-Q2 (4 of 5 questions answered)."
    assert "How you rated the partnership" in texts["ACME"] and rated in texts["ACME"]
    assert "R&D <urgent>" in texts["ACME"] and "R&D <urgent>" not in texts["GLOBEX"]
    assert "We have no rating from Globex yet" in texts["GLOBEX"], texts["GLOBEX"][texts["GLOBEX"].find("How you rated"):][:400]
    assert "You rated the partnership" not in texts["GLOBEX"]
    entries = {m["partner_id"]: m for m in m2["partners"]}
    assert rated in entries["ACME"]["summary"] and "rated" not in entries["GLOBEX"]["summary"]


def test_the_portfolio_sets_their_rating_beside_our_health_and_lists_who_did_not_return(run, tmp_path):
    from pypdf import PdfReader

    inp0, out0, manifest = run
    inp = tmp_path / "in"
    shutil.copytree(inp0, inp)
    W.write_xlsx(inp / "q2.xlsx", {"Actuals": [["partner_id", "kpi_id", "period", "value"],
                                               ["ACME", "revenue", NEXT, 128000], ["GLOBEX", "revenue", NEXT, 60000]]})
    acme = next(m for m in manifest["partners"] if m["partner_id"] == "ACME")
    _fill_acme(out0 / Q / acme["request"], inp / "returns" / Path(acme["request"]).name)   # GLOBEX returns nothing
    out = tmp_path / "out"
    shutil.copytree(out0, out)    # the Q1 run's history: one request asked of each partner
    result = CliRunner().invoke(cli, ["report", "--input", str(inp), "--output", str(out), "--quarter", NEXT,
                                      "--as-of", "2026-07-05", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    m2 = json.loads((out / NEXT / "manifest.json").read_text())
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(out / NEXT / m2["portfolio_pdf"]).pages).split())
    assert "The partners' view beside ours" in text
    assert "Not returned for 2026-Q2: Globex." in text
    i = text.find("The partners' view beside ours")
    section = text[i:i + 900]
    assert "Acme Corp" in section and "3.5" in section and "1 of 1" in section and "0 of 1" in section


def test_a_request_returned_untouched_never_puts_back_an_older_state(run, tmp_path):
    from pipeline.reconcile.load import load

    inp0, out, manifest = run
    inp = tmp_path / "in"
    shutil.copytree(inp0, inp)
    wb = load_workbook(inp / "plan.xlsx")
    for row in wb["Commitments"].iter_rows(min_row=2):
        if row[0].value == "G-1":   # the log moved on after the request went out
            row[7].value, row[8].value = "Done", 1
    wb.save(inp / "plan.xlsx")
    globex = next(m for m in manifest["partners"] if m["partner_id"] == "GLOBEX")
    (inp / "returns").mkdir()
    shutil.copy(out / Q / globex["request"], inp / "returns" / "globex.xlsx")   # returned as it was sent
    rec = load(inp)
    g1 = rec.commitments.set_index("commitment_id").loc["G-1"]
    assert (g1["status"], g1["percent_complete"], g1["file"]) == ("done", 1.0, "plan.xlsx")
    assert not [p for p in rec.problems if p.file == "returns/globex.xlsx" and p.code != "REQUEST_BLANKS"]


def test_the_pulse_questions_are_ours_to_set(tmp_path):
    from pipeline.analyse.analysis import analyse
    from pipeline.analyse.requests import data_request
    from pipeline.core.periods import Quarter
    from pipeline.reconcile.load import load

    inp = _inputs(tmp_path / "in")
    (inp / "partner-review.toml").write_text('[organisation]\nname = "Us & Co"\n[report]\n'
                                             'pulse_questions = ["speed: How fast do we answer?", "fun: Is it fun?"]\n')
    rec = load(inp)
    assert not [p for p in rec.problems if p.code == "CONFIG_INVALID"]
    assert data_request(analyse(rec, Quarter.parse(Q), None), "ACME").questions == (
        ("speed", "How fast do we answer?"), ("fun", "Is it fun?"))
    for bad in ('["no id here"]', '["a: one", "a: twice"]', '[]', '"not a list"'):
        (inp / "partner-review.toml").write_text(f'[report]\npulse_questions = {bad}\n')
        rec = load(inp)
        assert [p.code for p in rec.problems if p.code == "CONFIG_INVALID"] == ["CONFIG_INVALID"], bad
        assert len(data_request(analyse(rec, Quarter.parse(Q), None), "ACME").questions) == 5   # the defaults


def test_every_request_filled_in_goes_back_to_its_own_partner_only(run, tmp_path):
    """Two quarters end to end: each partner fills its own request (figures, a commitment update, the
    pulse, a comment only it wrote); next quarter each one's words are in its own review and nobody else's."""
    from pypdf import PdfReader

    inp0, out0, manifest = run
    inp = tmp_path / "in"
    shutil.copytree(inp0, inp)
    W.write_xlsx(inp / "q2.xlsx", {"Actuals": [["partner_id", "kpi_id", "period", "value"],
                                               ["ACME", "revenue", NEXT, 128000], ["GLOBEX", "revenue", NEXT, 60000]]})
    marks = {"ACME": ("acme-pulse-words", "acme-commitment-words", 4),
             "GLOBEX": ("globex-pulse-words", "globex-commitment-words", 2)}
    for m in manifest["partners"]:
        pulse_words, note, score = marks[m["partner_id"]]
        wb = load_workbook(out0 / Q / m["request"])
        for row in wb["Actuals"].iter_rows(min_row=2):
            if row[1].value == "revenue":
                row[3].value = 1000 if m["partner_id"] == "ACME" else 2000
        for row in wb["Commitments"].iter_rows(min_row=2):
            row[8].value, row[11].value = "done", note
        for row in wb["Pulse"].iter_rows(min_row=2):
            row[4].value, row[5].value = score, pulse_words
        (inp / "returns").mkdir(exist_ok=True)
        wb.save(inp / "returns" / Path(m["request"]).name)
    out = tmp_path / "out"
    shutil.copytree(out0, out)
    result = CliRunner().invoke(cli, ["report", "--input", str(inp), "--output", str(out), "--quarter", NEXT,
                                      "--as-of", "2026-07-05", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    m2 = json.loads((out / NEXT / "manifest.json").read_text())
    texts = {m["partner_id"]: " ".join(" ".join(p.extract_text() for p in PdfReader(out / NEXT / m["pdf"]).pages).split())
             for m in m2["partners"]}
    for pid, (pulse_words, note, score) in marks.items():
        other = "GLOBEX" if pid == "ACME" else "ACME"
        assert pulse_words in texts[pid] and note in texts[pid], pid
        assert pulse_words not in texts[other] and note not in texts[other], pid
        assert f"rated the partnership {score}.0 of 5" in texts[pid]
    portfolio = " ".join(" ".join(p.extract_text() for p in PdfReader(out / NEXT / m2["portfolio_pdf"]).pages).split())
    assert "Every partner returned its data request for 2026-Q2." in portfolio
    assert portfolio.count("1 of 1") >= 2
