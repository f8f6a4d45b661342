"""The Canvas sheet (workbooks.md): our negotiation prep per partner, read like every sheet and kept like
internal_note: in no file the partner receives (reviews, data requests, e-mails, the manifest)."""
from __future__ import annotations

import email
import email.policy
import json
import math
import zipfile
from pathlib import Path

from click.testing import CliRunner
from pypdf import PdfReader

import workbook_builders as W
from pipeline.cli import cli
from pipeline.reconcile.load import load

HEAD = ["partner_id", "side", "kind", "text", "weight"]
SECRET = "canvas-secret-walkaway"


def _inputs(folder: Path) -> Path:
    inp = W.clean_portfolio(folder)
    W.write_xlsx(inp / "prep.xlsx", {"Negotiation Canvas": [
        HEAD,
        ["ACME", "us", "alternative", f"{SECRET}: a second distributor covers half the pipeline", 3],
        ["ACME", "partner", "interest", "ACME wants the 2027 roadmap early", None],
        ["GLOBEX", "us", "limit", "no discount over 15%", 2],
        ["ACME", "them", "goal", "a bad side", 1],
        ["GLOBEX", "us", "offer", "joint webinar", 7],
    ]})
    (inp / "partner-review.toml").write_text('[organisation]\nname = "Us & Co"\n')
    return inp


def test_canvas_entries_are_read_and_bad_rows_reported_for_us_only(tmp_path):
    rec = load(_inputs(tmp_path / "in"))
    got = sorted((r.partner_id, r.side, r.kind, None if math.isnan(r.weight) else r.weight)
                 for r in rec.canvas.itertuples())
    assert got == [("ACME", "partner", "interest", None), ("ACME", "us", "alternative", 3.0),
                   ("GLOBEX", "us", "limit", 2.0), ("GLOBEX", "us", "offer", None)]
    problems = [(p.code, p.cell, p.severity, p.partner_id) for p in rec.problems if p.sheet == "Negotiation Canvas"]
    assert sorted(problems) == [("VALUE_BAD_CHOICE", "B5", "error", ""), ("VALUE_OUT_OF_RANGE", "E6", "warning", "")]


def test_canvas_text_is_in_no_file_the_partner_receives(tmp_path):
    inp, out = _inputs(tmp_path / "in"), tmp_path / "out"
    result = CliRunner().invoke(cli, ["report", "--input", str(inp), "--output", str(out), "--quarter", "2026-Q1",
                                      "--as-of", "2026-04-02", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    qdir = out / "2026-Q1"
    assert CliRunner().invoke(cli, ["email", "--reviews", str(qdir)]).exit_code == 0
    manifest = (qdir / "manifest.json").read_text()
    words = (SECRET, "second distributor", "roadmap early", "no discount", "joint webinar")
    outward = [manifest]
    for m in json.loads(manifest)["partners"]:
        outward.append(" ".join(p.extract_text() for p in PdfReader(qdir / m["pdf"]).pages))
        with zipfile.ZipFile(qdir / m["request"]) as z:
            outward.append(" ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()))
        msg = email.message_from_bytes((qdir / "email" / (Path(m["pdf"]).stem + ".eml")).read_bytes(),
                                       policy=email.policy.default)
        outward.append(msg.get_body(("plain",)).get_content() + str(msg["Subject"]))
    for text in outward:
        for word in words:
            assert word not in text, word
    with zipfile.ZipFile(qdir / "reconciled.xlsx") as z:   # ours: the audit file has it
        assert any(SECRET in z.read(n).decode("utf-8", "replace") for n in z.namelist())
