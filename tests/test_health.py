"""Health score: fixed points that add up to the score, the rules no weighting overrides, the states that
are not a number (paused, not scored), the confidence beside the score, and the reasons it moved.
The manager's scenarios and the properties are in tests/test_health_scenarios.py."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import re

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from analysis_fixtures import Book, Q, healthy_partner
from pipeline.analyse.analysis import analyse, partner_view
from pipeline.analyse.health import COMPONENTS, _largest_remainder, max_points
from pipeline.analyse.history import History
from pipeline.core.settings import Config
from pipeline.render import partner_pdf

QTR = "2026-Q2"
END = Q(QTR).end_date()
KPIS = ("pipeline", "revenue", "deals", "nps", "certified", "win_rate")


def scored(b: Book, quarter: str = QTR, history=None):
    a = analyse(b.build(), Q(quarter), history)
    return a, a.health.set_index("partner_id"), a.health_breakdown


def six_kpis(b: Book, pid: str, attainments, quarter: str = QTR) -> Book:
    for kid, att in zip(KPIS, attainments):
        b.target(pid, kid, quarter, 100)
        if att is not None:
            b.actual(pid, kid, quarter, 100 * att)
    return b


def book() -> Book:
    b = Book()
    for k in KPIS:
        b.kpi(k)
    return b


def parts(hb: pd.DataFrame, pid: str) -> pd.DataFrame:
    return hb[hb["partner_id"] == pid].set_index("component")


def test_breakdown_adds_up_to_the_score_and_the_out_of_column_to_100():
    b = Book().kpi("k", weight=2).kpi("m", weight=1)
    healthy_partner(b, "G", [QTR], kpis=("k", "m"))
    b.partner("A").target("A", "k", QTR, 100).actual("A", "k", QTR, 60).target("A", "m", QTR, 100).actual("A", "m", QTR, 150)
    b.commitment("A1", "A", "us", due_date=dt.date(2026, 4, 1))
    b.partner("R").target("R", "k", QTR, 100).actual("R", "k", QTR, 10).target("R", "m", QTR, 100)
    b.problem("R").problem("R", cell="D8")
    a, h, hb = scored(b)
    for pid, grp in hb.groupby("partner_id"):
        assert grp["points"].sum() == h.loc[pid, "score"]  # the rule line included
        assert grp.set_index("component")["max_points"].reindex(list(COMPONENTS)).sum() == 100
        assert (grp["points"] <= grp["max_points"].fillna(100)).all() and (grp["detail"].str.len() > 0).all()
    assert h.loc["G", "score"] == 100 and h.loc["G", "status"] == "green"
    assert h.loc["R", "status"] == "red"
    assert isinstance(h.loc["G", "score"], int)  # a whole number in the manifest, not 100.0
    res = parts(hb, "A").loc["results"]
    # 60% earns (60 - 50) / (90 - 50) = 25% of its share, 150% earns all of it (no more): weights 2:1
    assert res["value"] == (2 * 0.25 + 1 * 1.0) / 3
    assert parts(hb, "A").loc["delivery", "value"] == 0  # our A1, 90 days overdue at the quarter's end


def test_data_quality_is_the_confidence_beside_the_score_not_points_in_it():
    """Excluded rows and a KPI not reported no longer cost points (the old score's 20 'almost free' points);
    the confidence says what the score stands on."""
    b = book()
    six_kpis(b.partner("P"), "P", [1.0, 1.0, 1.0, 1.0, 1.0, None])
    b.problem("P").problem("P", cell="D9")
    _, h, hb = scored(b)
    assert "data_quality" not in set(hb["component"])
    assert h.loc["P", "confidence"] == "based on 5 of 6 KPIs measured; 1 not reported; 2 rows excluded"
    assert (h.loc["P", "kpis_measured"], h.loc["P", "kpis_expected"]) == (5, 6)


def test_nothing_on_track_and_the_partner_delivering_nothing_is_red():
    """Issue 14: 0 of 6 on track and 0% partner delivery scored amber 56, propped up by data quality and our
    own delivery. Every measured KPI off track and the partner's commitments overdue is red, whatever the points."""
    b = book()
    six_kpis(b.partner("P"), "P", [0.69, 0.72, 0.70, 0.72, 0.72, 0.72])
    b.commitment("P-1", "P", "partner", due_date=END - dt.timedelta(days=20))
    b.commitment("P-2", "P", "partner", due_date=END - dt.timedelta(days=10))
    b.commitment("U-1", "P", "us", status="done", due_date=END - dt.timedelta(days=30),
                 completed_date=END - dt.timedelta(days=35))
    _, h, hb = scored(b)
    assert h.loc["P", "status"] == "red" and h.loc["P", "score"] < 50
    assert "every KPI measured is off track and your commitments are overdue" in h.loc["P", "rule"]
    assert parts(hb, "P")["points"].sum() == h.loc["P", "score"]


def test_one_joint_commitment_a_month_late_keeps_an_on_track_partner_green_and_counts_once():
    """Issue 14: 6 of 6 on track lost 24 points and turned amber for one joint commitment 30 days late,
    counted against both sides. It is one commitment, counted once, and a month late keeps half its share."""
    b = book()
    six_kpis(b.partner("P"), "P", [1.0] * 6)
    b.commitment("J-1", "P", "joint", due_date=END - dt.timedelta(days=30))
    _, h, hb = scored(b)
    assert h.loc["P", "status"] == "green"
    d = parts(hb, "P").loc["delivery"]
    assert d["value"] == 0.5 and d["points"] == 20  # one commitment, half its share, out of 40
    assert d["detail"].startswith("0 of 1 commitment due kept on time: joint 0 of 1; late: J-1 (joint, 30 days overdue)")


def test_the_points_stay_out_of_the_same_100_when_a_part_has_nothing_to_measure(tmp_path):
    """Issue 14: the weights swung with what could be measured ("58 of 59"). Now each part keeps its points;
    one with nothing to measure counts at the rate the measured parts earned, and says so."""
    def quarter(q: str, due: dt.date) -> Book:
        b = book()
        six_kpis(b.partner("P"), "P", [0.8, 1.0, 1.0, 1.0, 1.0, 1.0], q)
        b.commitment("C-1", "P", "us", quarter=q, status="done", due_date=due, completed_date=due)
        return b

    _, h1, hb1 = scored(quarter("2026-Q1", dt.date(2026, 3, 15)), "2026-Q1")
    _, h2, hb2 = scored(quarter(QTR, dt.date(2026, 3, 15)), QTR)  # done last quarter: nothing due in this one
    for hb in (hb1, hb2):
        assert parts(hb, "P")["max_points"].reindex(list(COMPONENTS)).tolist() == [50, 40, 10]
    assert parts(hb1, "P").loc["delivery", "points"] == 40
    d = parts(hb2, "P").loc["delivery"]
    results = parts(hb2, "P").loc["results", "value"]
    assert pd.isna(d["value"]) and d["points"] == round(40 * results)
    assert d["detail"].startswith("nothing was due this quarter: counts at the rate the measured parts earned")
    assert "Check-ins" in parts(hb2, "P").loc["relationship", "detail"]  # no sheet kept: neutral too


def test_a_rule_that_moves_the_score_is_a_line_of_its_own():
    """Every KPI on track and nothing overdue is green even when delivery and the relationship lost points."""
    b = Book(has_checkins_sheet=True)
    for k in KPIS:
        b.kpi(k)
    six_kpis(b.partner("P"), "P", [0.95] * 6)
    for n in range(3):
        b.commitment(f"C-{n}", "P", "partner", status="done", due_date=END - dt.timedelta(days=50),
                     completed_date=END - dt.timedelta(days=1))
    _, h, hb = scored(b)
    p = parts(hb, "P")
    assert p.loc[list(COMPONENTS), "points"].sum() < 75
    assert h.loc["P", "score"] == 75 and h.loc["P", "status"] == "green"
    assert p.loc["rule", "points"] == 75 - p.loc[list(COMPONENTS), "points"].sum()
    assert p.loc["rule", "detail"].startswith("every KPI is on track and nothing is overdue, so it is green")


def test_a_partner_with_too_little_to_measure_is_not_scored_never_green():
    b = book()
    six_kpis(b.partner("P"), "P", [None] * 6)
    b.commitment("C-1", "P", "us")  # due next quarter
    _, h, hb = scored(b)
    assert h.loc["P", "score"] is None and h.loc["P", "status"] == "not_scored" and h.loc["P", "state"] == "not_scored"
    assert h.loc["P", "state_note"] == ("Not scored: too little to measure in 2026-Q2, none of the 6 KPIs with a target "
                                        "has a figure for the whole quarter and nothing was due.")
    assert parts(hb, "P")["points"].isna().all()


def test_a_paused_partner_is_not_held_to_its_targets():
    b = book()
    six_kpis(b.partner("P", status="paused"), "P", [0.45] * 6)
    b.commitment("C-1", "P", "partner", due_date=END - dt.timedelta(days=40))
    a, h, hb = scored(b)
    assert h.loc["P", "score"] is None and h.loc["P", "status"] == "paused"
    assert "not held against you" in h.loc["P", "state_note"]
    assert parts(hb, "P")["points"].isna().all()
    assert partner_view(a, "P").why == h.loc["P", "state_note"]


def _pdf_text(pdf: bytes) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages]


def test_the_review_shows_points_that_add_up_to_the_score_and_out_of_that_adds_up_to_100():
    """Issue 14: the table's "out of" column added up to 101 and page 1 said "100 of 100; the points it
    misses: 1 on data quality". Our side's commitments alone (none of the partner's) made the weights
    59/18/24 then."""
    b = book()
    six_kpis(b.partner("P"), "P", [0.97, 1.0, 1.0, 1.0, 1.0, 0.82])
    b.commitment("U-1", "P", "us", status="done", due_date=END - dt.timedelta(days=5), completed_date=END - dt.timedelta(days=9))
    b.commitment("U-2", "P", "us", due_date=END - dt.timedelta(days=12))
    a, h, _ = scored(b)
    view = partner_view(a, "P")
    pages = _pdf_text(partner_pdf(view, {}))
    text = " ".join(pages)
    method = text[text.index("How the health score is computed"):]
    rows = {name: re.search(rf"{name} (\d+) (\d+)", method) for name in
            ("Results against plan", "Commitments kept", "Relationship kept up")}
    assert all(rows.values()), method[:600]
    rule = re.search(r"Rules ([−+]?\d+) ", method)
    total = re.search(r"Health score (\d+) (\d+)", method)
    assert rule and total
    points = sum(int(m.group(1)) for m in rows.values() if m) + int(rule.group(1).replace("−", "-"))
    assert points == int(total.group(1)) == h.loc["P", "score"]
    assert sum(int(m.group(2)) for m in rows.values() if m) == int(total.group(2)) == 100
    first = pages[0]
    assert f"{h.loc['P', 'score']} / 100" in first and f"The score is {h.loc['P', 'score']} of 100" in first
    missed = re.search(r"It misses (\d+) points? on results \([^)]*\), (\d+) on commitments kept", first)
    assert missed and int(missed.group(1)) + int(missed.group(2)) == 100 - h.loc["P", "score"]


def test_full_points_never_say_points_are_missed():
    b = book()
    six_kpis(b.partner("P"), "P", [1.0] * 6)
    b.commitment("U-1", "P", "us", status="done", due_date=END - dt.timedelta(days=5), completed_date=END - dt.timedelta(days=9))
    a, h, _ = scored(b)
    why = partner_view(a, "P").why
    assert h.loc["P", "score"] == 100 and "misses" not in why and why.startswith("The score is 100 of 100")


def test_the_points_out_of_100_follow_the_configured_weights_exactly():
    config = Config()
    for key, w in (("weight_results", 1.0), ("weight_delivery", 1.0), ("weight_relationship", 1.0)):
        config.values["health"][key] = w
    top = max_points(config)
    assert sum(top.values()) == 100 and sorted(top.values()) == [33, 33, 34]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.floats(0, 50), min_size=4, max_size=4), min_size=1, max_size=5))
def test_largest_remainder_sums_exactly(rows):
    import numpy as np

    raw = np.array(rows)
    points, total = _largest_remainder(raw)
    assert (points.sum(axis=1) == total).all()
    assert (abs(points - raw) < 1 + 1e-9).all()
    assert (abs(total - raw.sum(axis=1)) <= 0.5 + 1e-9).all()


def test_change_reasons_name_what_moved(tmp_path):
    def quarter(q: str, value: float, slip: bool) -> Book:
        b = Book().kpi("pipeline", "Sourced pipeline", unit="currency").partner("P")
        b.target("P", "pipeline", q, 100).actual("P", "pipeline", q, value)
        due = dt.date(2026, 12, 31) if slip else dt.date(2026, 10, 31)
        b.commitment("C-1", "P", "partner", quarter=q, due_date=due, baseline_due_date=dt.date(2026, 10, 31))
        b.commitment("C-2", "P", "partner", quarter=q, due_date=due, baseline_due_date=dt.date(2026, 10, 31))
        return b

    with History(tmp_path / "h.sqlite") as h:
        a1, h1, _ = scored(quarter("2026-Q1", 104, False), "2026-Q1", h)
        h.record(a1)
        a2, h2, _ = scored(quarter(QTR, 81, True), QTR, h)
    before, after = int(h1.loc["P", "score"]), int(h2.loc["P", "score"])
    assert h2.loc["P", "previous_score"] == before and after < before
    changes = partner_view(a2, "P").changes
    assert changes[0] == f"Health fell from {before} in 2026-Q1 to {after} ({h1.loc['P', 'status']} to {h2.loc['P', 'status']})."
    assert ("Sourced pipeline slipped from on track to at risk: USD 81 against a target of USD 100 (81% of target) now, "
            "104% in 2026-Q1.") in changes
    assert "Two of your commitments slipped: C-1 from 31 Oct 2026 to 31 Dec 2026, C-2 from 31 Oct 2026 to 31 Dec 2026." in changes
    assert all(s.endswith(".") and s[0].isupper() for s in changes)  # sentences, not fragments
    assert h2.loc["P", "change_reasons"] == " ".join(changes)
    assert h1.loc["P", "change_reasons"] == "" and partner_view(a1, "P").changes == []


def test_a_pause_and_its_end_are_said_as_states_not_as_a_fall_to_zero(tmp_path):
    def quarter(q: str, status: str) -> Book:
        b = book()
        six_kpis(b.partner("P", status=status), "P", [1.0] * 6, q)
        return b

    with History(tmp_path / "h.sqlite") as h:
        a1, h1, _ = scored(quarter("2026-Q1", "active"), "2026-Q1", h)
        h.record(a1)
        a2, h2, _ = scored(quarter(QTR, "paused"), QTR, h)
        h.record(a2)
        a3, h3, _ = scored(quarter("2026-Q3", "active"), "2026-Q3", h)
    assert partner_view(a2, "P").changes[0] == "This quarter is not scored (paused); health was 100 (green) in 2026-Q1."
    assert partner_view(a3, "P").changes[0] == "Health is 100 (green); 2026-Q2 was not scored (paused)."
    assert h2.loc["P", "previous_score"] == 100 and pd.isna(h3.loc["P", "previous_score"])


def test_manifest_review_and_email_show_a_state_not_a_number(tmp_path):
    """End to end: a paused partner and one with nothing reported get null health_score in manifest.json,
    the band says so, and neither review nor e-mail shows a number (spec review.md keeps the keys)."""
    import json

    from click.testing import CliRunner

    from pipeline.cli import cli
    from workbook_builders import write_xlsx

    head = ["partner_id", "partner_name", "partner_lead", "partner_lead_email", "internal_owner", "internal_owner_email",
            "status"]
    folder = tmp_path / "in"
    write_xlsx(folder / "registry.xlsx", {
        "Partners": [head, ["ACME", "Acme Corp", "Ana", "ana@acme.example", "Olga", "olga@us.example", "active"],
                     ["GLOBEX", "Globex", "Gus", "gus@globex.example", "Olga", "olga@us.example", "paused"],
                     ["HOOLI", "Hooli", "Hal", "hal@hooli.example", "Olga", "olga@us.example", "active"]],
        "KPIs": [["kpi_id", "kpi_name", "unit", "direction", "aggregation", "weight"],
                 ["revenue", "Sourced revenue", "currency", "higher", "sum", 1]]})
    write_xlsx(folder / "plan.xlsx", {"Targets": [["partner_id", "kpi_id", "period", "target"],
                                                  ["*", "revenue", "2026-Q1", 100000]]})
    write_xlsx(folder / "actuals.xlsx", {"Actuals": [["partner_id", "kpi_id", "period", "value", "source"],
                                                     ["ACME", "revenue", "2026-Q1", 104000, "internal"],
                                                     ["GLOBEX", "revenue", "2026-Q1", 30000, "internal"]]})
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(cli, ["report", "--input", str(folder), "--output", str(out), "--as-of", "2026-04-02", "-q"])
    assert res.exit_code == 0, res.output
    qdir = out / "2026-Q1"
    manifest = json.loads((qdir / "manifest.json").read_text(encoding="utf-8"))
    entries = {e["partner_id"]: e for e in manifest["partners"]}
    assert (entries["ACME"]["health_score"], entries["ACME"]["health_status"]) == (100, "green")
    assert (entries["GLOBEX"]["health_score"], entries["GLOBEX"]["health_status"]) == (None, "paused")
    assert (entries["HOOLI"]["health_score"], entries["HOOLI"]["health_status"]) == (None, "not_scored")
    for pid, word in (("GLOBEX", "Paused"), ("HOOLI", "Not scored")):
        first = _pdf_text((qdir / entries[pid]["pdf"]).read_bytes())[0]
        assert word in first and "/ 100" not in first, first
    assert runner.invoke(cli, ["email", "--reviews", str(qdir)]).exit_code == 0
    bodies = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default).get_body(("plain",)).get_content()
              for p in (qdir / "email").glob("*.eml")]
    assert any("The partnership is paused this quarter" in b and "no health score" in b for b in bodies)
    assert any("This quarter's review gives no health score" in b for b in bodies)
