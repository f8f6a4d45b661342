"""End to end: `partner-review report` over a generated portfolio, read back as its readers would."""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from pypdf import PdfReader

from pipeline.cli import cli
from pipeline.write.synthetic import partner_name, write_portfolio

GREEK = "Αθηνά Data Systems"
CYRILLIC = "Северный Ветер Cloud"
LITERAL = "R&D <urgent> & review"
QUARTER = "2026-Q3"


def _tree_digest(folder: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("portfolio") / "input"
    write_portfolio(folder, partners=5, kpis=4, quarters=8, commitments=6, seed=3)
    wb = load_workbook(folder / "registry.xlsx")
    ws = wb["Partners"]
    for row in ws.iter_rows():
        if row[0].value == "P0001":
            row[1].value = GREEK
        if row[0].value == "P0002":
            row[1].value = CYRILLIC
    wb.save(folder / "registry.xlsx")
    wb = load_workbook(folder / "commitments.xlsx")
    ws = wb["Joint Business Plan"]
    ws.cell(row=2, column=4).value = LITERAL          # first commitment of P0001
    wb.save(folder / "commitments.xlsx")
    return folder


@pytest.fixture(scope="module")
def report_run(portfolio, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    before = _tree_digest(portfolio)
    result = CliRunner().invoke(cli, ["report", "--input", str(portfolio), "--output", str(out), "--jobs", "2"])
    assert _tree_digest(portfolio) == before, "the input folder was modified"
    return result, out


def _names() -> dict[str, str]:
    names = {f"P{i + 1:04d}": partner_name(i) for i in range(5)}
    names.update({"P0001": GREEK, "P0002": CYRILLIC})
    return names


def _text(pdf: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(pdf).pages)


def test_report_writes_every_output(report_run):
    result, out = report_run
    assert result.exit_code == 0, result.output
    qdir = out / QUARTER
    manifest = json.loads((qdir / "manifest.json").read_text(encoding="utf-8"))
    assert {"quarter", "generated_at", "inputs", "portfolio_pdf", "partners", "problems"} <= set(manifest)
    assert manifest["quarter"] == QUARTER
    assert (qdir / manifest["portfolio_pdf"]).is_file()
    assert sorted(p["partner_id"] for p in manifest["partners"]) == sorted(_names())
    for entry in manifest["partners"]:
        assert {"partner_id", "partner_name", "pdf", "recipients", "cc", "health_score", "health_status",
                "flag_count"} <= set(entry)
        pdf = qdir / entry["pdf"]
        assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
        assert pdf.stat().st_size < 1_000_000
        assert entry["recipients"] and all("@" in a for a in entry["recipients"])
        assert 0 <= entry["health_score"] <= 100 and entry["health_status"] in ("green", "amber", "red")
    for item in manifest["inputs"]:
        assert len(item["sha256"]) == 64
    header = (qdir / "flags.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header == "quarter,partner_id,code,severity,subject,message"
    flag_rows = (qdir / "flags.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    assert sum(p["flag_count"] for p in manifest["partners"]) == len(flag_rows)
    wb = load_workbook(qdir / "reconciled.xlsx", read_only=True)
    assert {"partners", "kpis", "kpi_values", "targets", "commitments", "problems", "flags"} <= set(wb.sheetnames)
    assert (out / "history.sqlite").is_file()


def test_manifest_input_hashes_match_files(report_run, portfolio):
    _, out = report_run
    manifest = json.loads((out / QUARTER / "manifest.json").read_text(encoding="utf-8"))
    for item in manifest["inputs"]:
        assert hashlib.sha256((portfolio / item["path"]).read_bytes()).hexdigest() == item["sha256"]


def test_partner_pdfs_are_isolated_and_literal(report_run):
    _, out = report_run
    qdir = out / QUARTER
    manifest = json.loads((qdir / "manifest.json").read_text(encoding="utf-8"))
    names = _names()
    for entry in manifest["partners"]:
        text = _text(qdir / entry["pdf"])
        pid = entry["partner_id"]
        assert names[pid] in text.replace("\n", " "), f"{pid}'s own name missing from its review"
        assert "INTERNAL" not in text, f"an internal_note leaked into {pid}'s review"
        for other, other_name in names.items():
            if other != pid:
                assert other not in text, f"{other} appears in {pid}'s review"
                assert other_name not in text, f"{other_name} appears in {pid}'s review"
    greek = next(e for e in manifest["partners"] if e["partner_id"] == "P0001")
    assert LITERAL in _text(qdir / greek["pdf"]).replace("\n", " ")


def test_every_font_is_embedded(report_run):
    _, out = report_run
    for pdf in (out / QUARTER).glob("*.pdf"):
        for page in PdfReader(pdf).pages:
            fonts = page.get("/Resources", {}).get("/Font", {})
            for ref in fonts.values():
                font = ref.get_object()
                if font.get("/Subtype") == "/Type0":
                    font = font["/DescendantFonts"][0].get_object()
                desc = font.get("/FontDescriptor")
                assert desc is not None, f"{pdf.name}: {font.get('/BaseFont')} is not embedded"
                desc = desc.get_object()
                assert any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3")), font.get("/BaseFont")


def test_portfolio_has_every_partner(report_run):
    _, out = report_run
    manifest = json.loads((out / QUARTER / "manifest.json").read_text(encoding="utf-8"))
    text = _text(out / QUARTER / manifest["portfolio_pdf"]).replace("\n", " ")
    for name in _names().values():
        assert name in text


def test_rerun_replaces_one_quarter_only(portfolio, tmp_path):
    out = tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(cli, ["report", "-i", str(portfolio), "-o", str(out), "-Q", "2026-Q2", "-j", "1"]).exit_code == 0
    assert runner.invoke(cli, ["report", "-i", str(portfolio), "-o", str(out), "-j", "1"]).exit_code == 0
    q2 = _tree_digest(out / "2026-Q2")
    q3 = _tree_digest(out / QUARTER)
    time.sleep(0.01)
    result = runner.invoke(cli, ["report", "-i", str(portfolio), "-o", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert _tree_digest(out / "2026-Q2") == q2, "re-running Q3 touched Q2"
    after = _tree_digest(out / QUARTER)
    assert set(after) == set(q3)
    assert all(after[k][1] != q3[k][1] for k in after if k.endswith(".pdf")), "Q3 PDFs were not replaced"


def test_crash_mid_run_leaves_no_partial_file(portfolio, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipeline", "report", "-i", str(portfolio), "-o", str(out), "-j", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list((out / QUARTER).glob("*.pdf")):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for path in (out / QUARTER).glob("*"):
        if path.name.startswith("."):
            continue  # a temp file being written: never under a final name
        data = path.read_bytes()
        if path.suffix == ".pdf":
            assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF"), f"half-written {path.name}"
        if path.suffix == ".json":
            json.loads(data)


def test_no_registry_is_a_clear_error(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    result = CliRunner().invoke(cli, ["report", "-i", str(folder), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "registry" in result.output


def test_a_run_that_stops_before_drawing_releases_its_workers(tmp_path):
    """The worker processes are forked before the workbooks are read; a run that ends there (no partner
    registry) must release them and exit, not wait for an analysis that never comes."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "actuals.csv").write_text("partner_id,kpi_id,period,value\nP1,K1,2026-Q1,3\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "pipeline", "report", "-i", str(folder), "-o", str(tmp_path / "out"), "-j", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "registry" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_output_inside_input_is_refused(portfolio):
    result = CliRunner().invoke(cli, ["report", "-i", str(portfolio), "-o", str(portfolio / "out")])
    assert result.exit_code == 2 and "input" in result.output
    assert not (portfolio / "out").exists()


def test_report_writes_feedback_for_workbooks_with_problems(portfolio, tmp_path):
    import shutil

    folder = tmp_path / "in"
    shutil.copytree(portfolio, folder)
    wb = load_workbook(folder / "actuals" / "internal_actuals.xlsx")
    ws = wb["Actuals"]
    ws.cell(row=5, column=4).value = "12k"
    wb.save(folder / "actuals" / "internal_actuals.xlsx")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["report", "-i", str(folder), "-o", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    copy = out / QUARTER / "feedback" / "actuals" / "internal_actuals_feedback.xlsx"
    assert copy.is_file()
    comment = load_workbook(copy)["Actuals"]["D5"].comment
    assert comment is not None and "12k" in comment.text
    # fixed and re-run: the stale feedback copy is gone
    wb = load_workbook(folder / "actuals" / "internal_actuals.xlsx")
    wb["Actuals"].cell(row=5, column=4).value = 100.0
    wb.save(folder / "actuals" / "internal_actuals.xlsx")
    assert CliRunner().invoke(cli, ["report", "-i", str(folder), "-o", str(out), "-j", "1"]).exit_code == 0
    assert not copy.exists()


def test_email_drafts_from_a_real_report(report_run):
    import email
    import email.policy

    _, out = report_run
    qdir = out / QUARTER
    result = CliRunner().invoke(cli, ["email", "--reviews", str(qdir)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((qdir / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["partners"]:
        assert entry["summary"] and "KPIs" in entry["summary"]
        draft = qdir / "email" / (Path(entry["pdf"]).stem + ".eml")
        raw = draft.read_bytes()
        assert re.search(rb"\r\nSubject: \S", raw), "subject folded right after its colon"
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert not msg["Subject"].startswith(" ") and entry["partner_name"] in msg["Subject"]
        assert msg["To"] and entry["recipients"][0] in msg["To"]
        attachments = list(msg.iter_attachments())
        assert len(attachments) == 2   # the review and its own data request, nothing else
        assert attachments[0].get_content() == (qdir / entry["pdf"]).read_bytes()
        assert attachments[1].get_filename() == Path(entry["request"]).name
        assert attachments[1].get_content() == (qdir / entry["request"]).read_bytes()
        body = msg.get_body(("plain",)).get_content()
        assert f"health score {entry['health_score']} out of 100" in body
        for other in manifest["partners"]:
            if other["partner_id"] != entry["partner_id"]:
                assert other["partner_name"] not in body


_DYING: dict = {}  # marker file and the real function, set by a test before the workers fork


def _die_first(*args):
    """Stands in for a worker function: the first worker process to reach it dies on the spot."""
    try:
        os.close(os.open(_DYING["marker"], os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return _DYING["original"](*args)
    os._exit(3)


def _first_worker_dies(marker: Path, original):
    _DYING.update(marker=marker, original=original)
    return _die_first


def test_a_worker_killed_before_the_work_starts_the_reviews_are_drawn_here(portfolio, tmp_path, monkeypatch):
    from pipeline.run import report, workers

    monkeypatch.setattr(workers, "warm_up", _first_worker_dies(tmp_path / "died", workers.warm_up))
    result = report.run_report(portfolio, tmp_path / "out", jobs=2)
    assert (tmp_path / "died").exists()
    assert result.ok and len(result.written) == len(result.expected) > 1
    manifest = json.loads((tmp_path / "out" / QUARTER / "manifest.json").read_text())
    assert sorted(m["partner_id"] for m in manifest["partners"]) == sorted(result.expected)


def test_a_worker_dying_mid_run_fails_the_reviews_it_took_not_the_run(portfolio, tmp_path, monkeypatch):
    from pipeline.run import report

    monkeypatch.setattr(report, "_render_partner", _first_worker_dies(tmp_path / "died", report._render_partner))
    result = report.run_report(portfolio, tmp_path / "out", jobs=2, cache=False)
    qdir = tmp_path / "out" / QUARTER
    assert result.failed and not result.ok
    assert all("worker process died" in why for why in result.failed.values())
    assert set(result.failed) | set(result.written) == set(result.expected)
    assert not set(result.failed) & set(result.written)
    manifest = json.loads((qdir / "manifest.json").read_text())
    assert sorted(m["partner_id"] for m in manifest["partners"]) == sorted(result.written)
    for name in result.written.values():
        assert PdfReader(qdir / name).pages
    assert (qdir / "reconciled.xlsx").exists() and list(qdir.glob("portfolio_*.pdf"))


def _children(pid: int) -> list[int]:
    kids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            kids.append(int(status.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_killing_a_run_leaves_no_worker_behind(portfolio, tmp_path):
    cmd = [sys.executable, "-m", "pipeline", "report", "-i", str(portfolio), "-o", str(tmp_path / "out"), "-j", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(_children(proc.pid)) < 2:
        time.sleep(0.01)
    workers = _children(proc.pid)
    assert len(workers) >= 2, "the worker processes did not start"
    proc.kill()
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(Path(f"/proc/{w}").exists() and "zombie" not in
                                         Path(f"/proc/{w}/status").read_text() for w in workers):
        time.sleep(0.05)
    alive = [w for w in workers if Path(f"/proc/{w}").exists() and "zombie" not in Path(f"/proc/{w}/status").read_text()]
    assert alive == []


def test_the_analysis_handed_to_the_workers_is_removed_and_a_stale_one_cleared(portfolio, tmp_path):
    from pipeline.run.report import run_report

    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".run-999999999-abc.analysis"          # left by a killed run (no such process)
    stale.write_bytes(b"old")
    result = run_report(portfolio, out, jobs=2)
    assert result.ok
    assert list(out.glob(".run-*.analysis")) == []


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file systems refuse names that are not UTF-8")
def test_a_file_name_that_is_not_utf8_is_reported_and_the_run_goes_on(portfolio, tmp_path):
    import shutil

    folder = tmp_path / "in"
    shutil.copytree(portfolio, folder)
    bad = os.path.join(os.fsencode(folder), b"P0001_donn\xe9es.xlsx")   # Latin-1 bytes, as an old share leaves them
    with open(bad, "wb") as fh:
        fh.write((folder / "registry.xlsx").read_bytes())
    before = _tree_digest(folder)
    result = CliRunner().invoke(cli, ["report", "-i", str(folder), "-o", str(tmp_path / "out"), "-j", "1"])
    assert "Traceback" not in result.output, result.output
    assert "FILE_BAD_NAME" in result.output and "P0001_donn\ufffdes.xlsx" in result.output
    manifest = json.loads((tmp_path / "out" / QUARTER / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["partners"]) == 5
    assert load_workbook(tmp_path / "out" / QUARTER / "reconciled.xlsx", read_only=True)["problems"].max_row >= 2
    assert _tree_digest(folder) == before


def test_reviews_from_the_cache_are_kept_when_a_worker_dies(portfolio, tmp_path, monkeypatch):
    from pipeline.write import cache
    from pipeline.run import report

    out = tmp_path / "out"
    assert report.run_report(portfolio, out, jobs=1).ok
    entries = sorted(cache.cache_dir(out, QUARTER).glob("*.pdf"))
    for entry in entries[:2]:          # two reviews to draw again, the others come from the cache
        entry.unlink()
    monkeypatch.setattr(report, "_render_partner", _first_worker_dies(tmp_path / "died", report._render_partner))
    result = report.run_report(portfolio, out, jobs=2)
    assert len(result.reused) == len(result.expected) - 2
    assert set(result.reused) <= set(result.written)
    assert result.failed and not set(result.failed) & set(result.written)
    assert set(result.failed) | set(result.written) == set(result.expected)
