"""Every decision is made once, in the analysis (STYLE.md, issue 13): a threshold set in partner-review.toml
is followed alike by the KPI status, the PDF's summary, the manifest and the e-mail; the renderers, the
charts and the e-mail read no threshold from the settings.
"""
from __future__ import annotations

import ast
import datetime as dt
import email
import json
import re
from email.policy import default as POLICY
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from pipeline.cli import cli
from pipeline.core.settings import DEFAULTS

try:  # tests/ is a plain folder (on sys.path) or, once it has an __init__.py, the package `tests`
    from workbook_builders import write_xlsx
except ImportError:  # pragma: no cover
    from tests.workbook_builders import write_xlsx

ROOT = Path(__file__).resolve().parents[1]
QUARTER, AS_OF = "2026-Q1", "2026-04-02"
CLEAN_ENV = {"PARTNER_REVIEW_SMTP_PASSWORD": None, "PARTNER_REVIEW_FROM": None, "PARTNER_REVIEW_SMTP_USER": None,
             "PARTNER_REVIEW_SMTP_HOST": None, "PARTNER_REVIEW_SMTP_PORT": None}


def _portfolio(folder: Path, ours: float, theirs: float, settings: str) -> Path:
    """One partner, one KPI (target 100,000): our figure `ours`, the partner's `theirs`."""
    write_xlsx(folder / "registry.xlsx", {
        "Partners": [["partner_id", "partner_name", "partner_lead", "partner_lead_email", "internal_owner",
                      "internal_owner_email", "status"],
                     ["ACME", "Acme Corp", "Ana Lead", "ana@acme.example", "Olga Owner", "olga@us.example", "active"]],
        "KPIs": [["kpi_id", "kpi_name", "unit", "direction", "aggregation", "weight"],
                 ["revenue", "Sourced revenue", "currency", "higher", "sum", 1]]})
    write_xlsx(folder / "plan.xlsx", {
        "Targets": [["partner_id", "kpi_id", "period", "target"], ["ACME", "revenue", QUARTER, 100000]],
        "Commitments": [["commitment_id", "partner_id", "party", "description", "due_date", "status"],
                        ["C-1", "ACME", "us", "Joint webinar", dt.date(2026, 6, 30), "In progress"]]})
    write_xlsx(folder / "actuals.xlsx", {
        "Actuals": [["partner_id", "kpi_id", "period", "value", "source"],
                    ["ACME", "revenue", QUARTER, ours, "internal"], ["ACME", "revenue", QUARTER, theirs, "partner"]]})
    (folder / "partner-review.toml").write_text(settings, encoding="utf-8")
    return folder


def _flat(s: str) -> str:
    return re.sub(r"\s+", " ", s)


# on track from 80% and 85% reached: "on track", nothing "furthest from target" (the PDF said so at 85% < 90%);
# on track from 95% and 92% reached: "at risk", and 92% is the furthest from target (the PDF said nothing)
CASES = [
    pytest.param(0.80, 0.60, 85000, "1 of 1 KPI is on track this quarter.", None, id="medium-0.80"),
    pytest.param(0.95, 0.75, 92000, "0 of 1 KPI is on track this quarter, 1 at risk.",
                 "Furthest from target: Sourced revenue at 92% of target.", id="medium-0.95"),
]
# the PDF's first page says the same in its verdict (issue 15: the summary's counts are not said twice there)
VERDICTS = {None: "every KPI on track", "Furthest": "the one KPI not on track"}


@pytest.mark.parametrize(("medium", "high", "ours", "kpi_sentence", "furthest"), CASES)
def test_summary_pdf_manifest_and_email_follow_the_attainment_setting(tmp_path, medium, high, ours, kpi_sentence,
                                                                       furthest):
    settings = f"[kpi]\nattainment_medium = {medium}\nattainment_high = {high}\ndiscrepancy_tolerance = 0.1\n"
    inp = _portfolio(tmp_path / "input", ours, ours * 0.94, settings)  # 6% apart: within the 10% tolerance set
    out = tmp_path / "out"
    runner = CliRunner(env=CLEAN_ENV)
    res = runner.invoke(cli, ["report", "--input", str(inp), "--output", str(out), "--as-of", AS_OF, "-q"])
    assert res.exit_code == 0, res.output
    qdir = out / QUARTER
    manifest = json.loads((qdir / "manifest.json").read_text(encoding="utf-8"))
    [entry] = manifest["partners"]
    pdf = _flat(" ".join(p.extract_text() or "" for p in PdfReader(str(qdir / entry["pdf"])).pages))
    res = runner.invoke(cli, ["email", "--reviews", str(qdir)])
    assert res.exit_code == 0, res.output
    [eml] = (qdir / "email").glob("*.eml")
    mail = _flat(email.message_from_bytes(eml.read_bytes(), policy=POLICY).get_body(("plain",)).get_content())

    for where in (_flat(entry["summary"]), mail):
        assert kpi_sentence in where
        if furthest:
            assert furthest in where
        else:
            assert "Furthest from target" not in where
    first = _flat(PdfReader(str(qdir / entry["pdf"])).pages[0].extract_text() or "")
    assert VERDICTS[furthest and "Furthest"] in first
    assert ("Sourced revenue: 92% of target" in first) == bool(furthest)  # what needs attention
    # the band the analysis gave is the one the scorecard shows, and the heat map states the setting's bands
    assert ("On track" if furthest is None else "At risk") in pdf
    portfolio = _flat(" ".join(p.extract_text() or "" for p in PdfReader(str(qdir / manifest["portfolio_pdf"])).pages))
    assert f"Shaded by band: {medium:.0%} or more, {high:.0%} to {medium:.0%}, under {high:.0%}" in portfolio
    # 6% apart is within the tolerance set: no flag, and the data notes say within 10%
    assert "Figures disagree" not in pdf and "No difference over 10% between the two sides' figures." in pdf
    assert "the figures agree within 10%" in pdf


# --------------------------------------------------------------------------------------------------
# the renderers, the charts and the e-mail read no threshold
FORMAT_SETTINGS = {"organisation.watermark", "organisation.name", "organisation.reporting_currency"}
CONFIG_ATTRIBUTES = {"organisation", "org", "currency", "source"}  # what Config offers for formatting
_SETTING_KEYS = {f"{s}.{k}" for s, keys in DEFAULTS.items() for k in keys}
_THRESHOLD_KEYS = {k for keys in DEFAULTS.values() for k in keys} - {"name", "watermark", "reporting_currency"}
_VERDICT_WORDS = re.compile(r"attainment|discrepancy|score|gap|tolerance|share", re.I)


def _sources() -> list[Path]:
    return sorted(p for d in ("render", "chart", "distribute") for p in (ROOT / "pipeline" / d).rglob("*.py"))


def _reads(path: Path) -> list[str]:
    """Every read of a threshold setting in one module, and every comparison of a figure with a number."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in _SETTING_KEYS - FORMAT_SETTINGS or re.search(
                    r"\b(attainment_(medium|high|cap|floor)|discrepancy_tolerance|health\.(green|amber|weight_\w+))\b",
                    node.value):
                found.append(f"{where}: setting {node.value!r}")
        elif isinstance(node, ast.Attribute):
            if node.attr in _THRESHOLD_KEYS and isinstance(node.value, ast.Attribute) and \
                    node.value.attr in DEFAULTS:  # typed settings: config.kpi.attainment_medium
                found.append(f"{where}: setting .{node.value.attr}.{node.attr}")
            owner = node.value
            if isinstance(owner, (ast.Attribute, ast.Name)) and (getattr(owner, "attr", None) or getattr(owner, "id", "")) \
                    in ("config", "cfg", "settings") and node.attr not in CONFIG_ATTRIBUTES:
                found.append(f"{where}: config.{node.attr}")
        elif isinstance(node, ast.Compare):  # a threshold written in: r["attainment"] < 0.9
            sides = [node.left, *node.comparators]
            numbers = [s for s in sides if isinstance(s, ast.Constant) and isinstance(s.value, float)
                       and s.value not in (0.0, 1.0)]
            if numbers and any(_VERDICT_WORDS.search(ast.unparse(s)) for s in sides if s not in numbers):
                found.append(f"{where}: {ast.unparse(node)}")
    return found


def test_renderers_charts_and_email_read_no_threshold():
    found = [hit for path in _sources() for hit in _reads(path)]
    assert not found, "decided outside the analysis:\n" + "\n".join(found)


def test_the_threshold_check_finds_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('a = view.config["kpi.attainment_medium"]\nb = cfg["health.green"]\n'
                      'c = rec.config.kpi.discrepancy_tolerance\nd = r["attainment"] < 0.9\n'
                      'e = view.config["organisation.watermark"]\nf = view.config.currency\n', encoding="utf-8")
    original = globals()["ROOT"]
    globals()["ROOT"] = tmp_path
    try:
        found = _reads(sample)
    finally:
        globals()["ROOT"] = original
    assert sorted(int(f.split(":")[1]) for f in found) == [1, 2, 3, 3, 4], found
