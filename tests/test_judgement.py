"""Judgements a partnership manager trusts (issue 14): no confident reviews of empty quarters, no review for a
partner that had not begun, our organisation's name never invented, validation messages that say whose cell."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from pypdf import PdfReader

import workbook_builders as W
from pipeline.cli import cli


def _report(inp: Path, out: Path, *args: str):
    return CliRunner().invoke(cli, ["report", "--input", str(inp), "--output", str(out), "--jobs", "1",
                                    "--as-of", "2026-10-02", *args])


def test_a_quarter_with_no_figures_writes_no_reviews_and_names_the_latest_with_actuals(tmp_path):
    inp = W.clean_portfolio(tmp_path / "in")
    for quarter in ("2027-Q1", "2024-Q1"):
        out = tmp_path / f"out-{quarter}"
        result = _report(inp, out, "--quarter", quarter)
        assert result.exit_code == 1, result.output
        assert f"{quarter} has no figures" in result.output
        assert "latest quarter with actuals is 2026-Q1" in result.output
        assert not list(out.rglob("*.pdf")), "no review may be written for an empty quarter"


def test_a_partner_that_had_not_begun_gets_no_review(tmp_path):
    inp = tmp_path / "in"
    W.write_xlsx(inp / "registry.xlsx", {"Partners": W.PARTNERS, "KPIs": W.KPIS})
    targets = W.TARGETS + [["ACME", "revenue", "2025-Q4", 90000]]
    actuals = W.ACTUALS + [["ACME", "revenue", "2025-Q4", 91000, "internal", None, None]]
    W.write_xlsx(inp / "plan.xlsx", {"Targets": targets, "Actuals": actuals})
    out = tmp_path / "out"
    result = _report(inp, out, "--quarter", "2025-Q4")
    assert result.exit_code == 0, result.output
    assert "no review for GLOBEX: its first figures are in 2026-Q1, after 2025-Q4" in result.output
    manifest = json.loads((out / "2025-Q4" / "manifest.json").read_text())
    assert [m["partner_id"] for m in manifest["partners"]] == ["ACME"]
    portfolio = "\n".join(p.extract_text() for p in PdfReader(out / "2025-Q4" / manifest["portfolio_pdf"]).pages)
    assert "Acme Corp" in portfolio and "Globex" not in portfolio
    # the quarter after: both have begun, both are reviewed
    result = _report(inp, out, "--quarter", "2026-Q1")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "2026-Q1" / "manifest.json").read_text())
    assert sorted(m["partner_id"] for m in manifest["partners"]) == ["ACME", "GLOBEX"]


# --- validation messages: whose cell, and a hint that fits the value --------------------------------

def test_a_bad_cell_says_whose_it_is_and_the_hint_fits_what_was_typed(tmp_path):
    from pipeline.reconcile.load import load

    inp = W.clean_portfolio(tmp_path / "in")
    typed = ["50k", "1.2M", "$12,000", "n/a", "15%", "lots"]
    rows = [["partner_id", "kpi_id", "period", "value"]] + [["GLOBEX", "deals", f"2026-0{i + 1}", v] for i, v in enumerate(typed)]
    W.write_xlsx(inp / "more.xlsx", {"Actuals": rows})
    W.write_xlsx(inp / "plan2.xlsx", {"Commitments": [W.COMMITMENTS[0], ["C-009", "ACME", "us", "Demo", "Olga", None, None,
                                                                          "In progress", "half", None, None, None, None, None]]})
    rec = load(inp)
    bad = {p.value: p for p in rec.problems if p.code == "VALUE_NOT_NUMBER"}
    assert set(bad) == set(typed) | {"half"}
    assert bad["50k"].fix.startswith("write 50000 ")
    assert bad["1.2M"].fix.startswith("write 1200000 ")
    assert bad["$12,000"].fix.startswith("write 12000 without the currency sign")
    assert bad["n/a"].fix.startswith("leave the cell blank")
    assert "not a percentage" in bad["15%"].fix
    assert bad["lots"].fix == "type a plain number such as 1234.5"
    assert bad["50k"].message.startswith("partner GLOBEX, KPI deals, 2026-01: '50k' is not a number")
    assert bad["50k"].cell == "D2" and bad["50k"].partner_id == "GLOBEX"
    assert bad["half"].message.startswith("commitment C-009, partner ACME: 'half' is not a number")


# --- every excluded row in the right place ------------------------------------------------------------

def _text(pdf: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(pdf).pages)


def test_every_excluded_row_is_in_its_partners_review_or_the_portfolio(tmp_path):
    import datetime as dt

    inp = W.clean_portfolio(tmp_path / "in")
    W.write_xlsx(inp / "extra.xlsx", {
        "Actuals": [["partner_id", "kpi_id", "period", "value"], ["ACME", "deals", "2026-02", "lots"],
                    ["Acme Crop", "deals", "2026-02", 3]],
        "Targets": [["partner_id", "kpi_id", "period", "target"], ["ACME", "deals", "2026-Q5", 4]],
        "Commitments": [W.COMMITMENTS[0],
                        ["C-010", "ACME", "us", "Demo day", "Olga", "not a date", None, "In progress"] + [None] * 6,
                        ["C-011", "Acme Crop", "us", "Typo partner", "Olga", dt.date(2026, 3, 1), None, "In progress"]
                        + [None] * 6],
        "Check-ins": [["partner_id", "date", "type"], ["ACME", "yesterday", "QBR"]],
    })
    out = tmp_path / "out"
    assert _report(inp, out, "--quarter", "2026-Q1").exit_code == 0
    manifest = json.loads((out / "2026-Q1" / "manifest.json").read_text())
    pdfs = {m["partner_id"]: _text(out / "2026-Q1" / m["pdf"]) for m in manifest["partners"]}
    acme, globex = pdfs["ACME"], pdfs["GLOBEX"]
    portfolio = _text(out / "2026-Q1" / manifest["portfolio_pdf"])
    for cell in ("Targets › C2", "Actuals › D2", "Commitments › F2", "Check-ins › B2"):   # ACME's own rows
        assert f"our records › {cell}" in acme, cell          # in our file: cited by a neutral label (issue 15)
        assert f"our records › {cell}" not in globex
    assert all("extra.xlsx" not in text for text in pdfs.values())
    # rows in our records are ours to fix: the partner is told we correct them, never asked to
    flat = " ".join(acme.split())
    assert "We are correcting it in our records." in flat and "which we are correcting" in flat
    acme_entry = next(m for m in manifest["partners"] if m["partner_id"] == "ACME")
    assert "Data excluded: we are correcting our records (see the data notes)." in acme_entry["agenda"]
    for cell in ("Actuals › A3", "Commitments › B3"):   # rows whose partner could not be told
        assert f"extra.xlsx › {cell}" in portfolio, cell
        assert all(f"extra.xlsx › {cell}" not in text for text in pdfs.values())
    assert "did you mean 'Acme" in portfolio.replace("\n", " ")
    assert "4 rows or values of the data for this review were excluded" in " ".join(acme.split())
    assert "Acme Crop" not in acme and "Acme Crop" not in globex


# --- our name is never invented -----------------------------------------------------------------------

def test_without_our_name_nothing_invents_one_and_send_refuses(tmp_path):
    from smtp_server import smtp_server

    inp = W.clean_portfolio(tmp_path / "in")
    validate = CliRunner().invoke(cli, ["validate", "--input", str(inp)])
    assert "organisation.name is not set" in validate.output
    out = tmp_path / "out"
    result = _report(inp, out, "--quarter", "2026-Q1")
    assert result.exit_code == 0 and "organisation.name is not set" in result.output
    qdir = out / "2026-Q1"
    manifest = json.loads((qdir / "manifest.json").read_text())
    assert manifest["organisation"] == ""
    for m in manifest["partners"]:
        text = _text(qdir / m["pdf"])
        assert "Our Company" not in text and "Olga Owner" in text   # prepared by our internal owner, by name
    drafts = CliRunner().invoke(cli, ["email", "--reviews", str(qdir)])
    assert drafts.exit_code == 0 and list((qdir / "email").glob("*.eml"))
    assert all("Our Company" not in p.read_text() for p in (qdir / "email").glob("*.eml"))
    with smtp_server() as (port, handler):
        sent = CliRunner().invoke(cli, ["email", "--reviews", str(qdir), "--send", "--no-starttls",
                                        "--smtp-host", "127.0.0.1", "--smtp-port", str(port)])
        assert sent.exit_code == 1 and "nothing sent: organisation.name is not set" in sent.output
        assert handler.received == []
    # with the name set: no warning, the name on the review, and the send goes out
    (inp / "partner-review.toml").write_text('[organisation]\nname = "Us & Co"\n')
    result = _report(inp, out, "--quarter", "2026-Q1")
    assert result.exit_code == 0 and "organisation.name is not set" not in result.output
    assert "Us & Co" in _text(qdir / manifest["partners"][0]["pdf"])
    with smtp_server() as (port, handler):
        sent = CliRunner().invoke(cli, ["email", "--reviews", str(qdir), "--send", "--no-starttls",
                                        "--smtp-host", "127.0.0.1", "--smtp-port", str(port)])
        assert sent.exit_code == 0, sent.output
        assert len(handler.received) == 2
