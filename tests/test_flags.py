"""Every flag of the catalog: a case that raises it and a near miss that does not; the portfolio test;
partner_view isolation."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analysis_fixtures import Book, Q, healthy_partner, months_of
from pipeline.analyse.analysis import analyse, default_quarter, partner_view
from pipeline.analyse.history import History
from pipeline.core.schema import FLAG_CODES, FLAGS_CSV_COLUMNS

D = dt.date
QTR = "2026-Q2"
END = Q(QTR).end_date()
HIST = ["2025-Q4", "2026-Q1", QTR]


def book(**kw) -> Book:
    b = Book(**kw).kpi("pipeline", "Sourced pipeline", unit="currency").kpi("deals", "Deals won")
    b.kpi("days", "Days to close", unit="days", direction="lower")
    return healthy_partner(b, "OK", HIST)  # a healthy neighbour in every test


def flags(b: Book, history: History | None = None) -> pd.DataFrame:
    return analyse(b.build(), Q(QTR), history).flags


def raised(b: Book, code: str, history: History | None = None) -> pd.DataFrame:
    f = flags(b, history)
    assert not len(f[f["partner_id"] == "OK"]), f"false alarm on the healthy partner: {f[f['partner_id'] == 'OK']}"
    return f[f["code"] == code]


def kpi_partner(b: Book, pid: str, kpi: str, series: dict[str, float], target: float | None = None) -> Book:
    b.partner(pid)
    for q, v in series.items():
        if target is not None:
            b.target(pid, kpi, q, target)
        b.actual(pid, kpi, q, v)
    return b


# --- KPI flags ------------------------------------------------------------------------------------
@pytest.mark.parametrize("actual, severity", [(89, "medium"), (74, "high"), (90, None)])
def test_below_target_higher(actual, severity):
    f = raised(kpi_partner(book(), "P", "deals", {QTR: actual}, target=100), "KPI_BELOW_TARGET")
    assert list(f["severity"]) == ([severity] if severity else [])
    if severity:
        assert f["message"].item() == f"Deals won {actual} vs target 100: {actual}% of target"
        assert f["whose_move"].item() == "joint" and f["agenda"].item()


@pytest.mark.parametrize("actual, severity", [(45, "medium"), (54, "high"), (44, None), (30, None)])
def test_below_target_lower_is_mirrored(actual, severity):
    # target 40 days: 45 days is 88.9% attainment (flag), 44 is 90.9% (near miss), 30 beats it
    f = raised(kpi_partner(book(), "P", "days", {QTR: actual}, target=40), "KPI_BELOW_TARGET")
    assert list(f["severity"]) == ([severity] if severity else [])
    if severity:
        assert f"Days to close {actual} days vs target 40 days (lower is better)" in f["message"].item()


def test_a_partial_quarter_of_a_summed_kpi_is_reported_not_measured():
    """Two of three months of a summed KPI: comparing them with the full quarter's target would read the
    missing month as zero. The figure is shown as partial and raised as KPI_MISSING, not below target."""
    b = book().partner("P")
    b.target("P", "pipeline", QTR, 600_000)
    for m, v in zip(months_of(QTR)[:2], (200_000, 212_000)):
        b.actual("P", "pipeline", m, v)
    assert raised(b, "KPI_BELOW_TARGET").empty
    msg = raised(b, "KPI_MISSING")["message"].item()
    assert msg == ("Sourced pipeline: only 2 of 3 months reported for 2026-Q2 (USD 412k so far), "
                   "so it is not measured against the quarter's target of USD 600k")
    kq = analyse(b.build(), Q(QTR)).kpi_quarterly
    kq = kq[(kq["partner_id"] == "P") & (kq["kpi_id"] == "pipeline") & (kq["quarter"] == QTR)].iloc[0]
    assert kq["status"] == "partial" and kq["actual"] == 412_000 and pd.isna(kq["attainment"])


def test_a_partial_quarter_of_an_averaged_kpi_is_still_measured():
    b = book().kpi("nps", "NPS", unit="score").partner("P")
    b.target("P", "nps", QTR, 50)
    for m, v in zip(months_of(QTR)[:2], (30, 32)):
        b.actual("P", "nps", m, v)
    msg = raised(b, "KPI_BELOW_TARGET")["message"].item()
    assert "62% of target" in msg and "(2 of 3 months reported)" in msg


@pytest.mark.parametrize("kpi, series, expected", [
    ("deals", {"2025-Q4": 50, "2026-Q1": 45, QTR: 41}, True),
    ("deals", {"2025-Q4": 50, "2026-Q1": 45, QTR: 46}, False),          # recovered
    ("deals", {"2025-Q3": 50, "2026-Q1": 45, QTR: 41}, False),          # 2025-Q4 unknown: not two running
    ("days", {"2025-Q4": 30, "2026-Q1": 33, QTR: 35}, True),            # lower: rising is the wrong way
    ("days", {"2025-Q4": 35, "2026-Q1": 33, QTR: 30}, False),
])
def test_declining(kpi, series, expected):
    f = raised(kpi_partner(book(), "P", kpi, series), "KPI_DECLINING")
    assert len(f) == int(expected)
    if expected:
        path = " → ".join(f"{v} ({q})" for q, v in series.items())
        assert f["message"].item().replace(" days", "").endswith(f"two quarters running{' (lower is better)' if kpi == 'days' else ''}: {path}")


def test_missing_and_its_near_miss():
    b = book().partner("P").partner("R")
    b.target("P", "deals", QTR, 10).target("R", "deals", QTR, 10).actual("R", "deals", QTR, 12, source="partner")
    f = raised(b, "KPI_MISSING")
    assert set(f["partner_id"]) == {"P"} and f["message"].item() == "Deals won: target 10 for 2026-Q2, no actual reported by either side"


@pytest.mark.parametrize("partner_value, expected", [(94, True), (96, False), (106, True)])
def test_discrepancy(partner_value, expected):
    b = kpi_partner(book(), "P", "deals", {QTR: 100}, target=100)
    b.actual("P", "deals", QTR, partner_value, source="partner")
    f = raised(b, "KPI_DISCREPANCY")
    assert len(f) == int(expected)
    if expected:
        assert f"internal figure 100 vs partner-reported {partner_value}" in f["message"].item()


def test_conflict_keeps_the_less_favourable_value():
    b = book().partner("P").partner("R").partner("S")
    b.target("P", "deals", QTR, 100).actual("P", "deals", QTR, 120, source="partner", file="a.xlsx")
    b.actual("P", "deals", QTR, 80, source="partner", file="b.xlsx")
    b.actual("R", "deals", QTR, 50, file="a.xlsx").actual("R", "deals", QTR, 50, file="b.xlsx")  # same value twice
    b.actual("S", "days", QTR, 30).actual("S", "days", QTR, 35, file="c.xlsx")  # lower: 35 is worse
    f = raised(b, "KPI_CONFLICT")
    assert set(zip(f["partner_id"], f["whose_move"])) == {("P", "partner"), ("S", "us")}
    a = analyse(b.build(), Q(QTR))
    kq = a.kpi_quarterly.set_index(["partner_id", "kpi_id"])
    assert kq.loc[("P", "deals"), "actual"] == 80 and kq.loc[("P", "deals"), "actual_source"] == "partner"
    assert kq.loc[("S", "days"), "actual"] == 35 and not kq.loc[("R", "deals"), "conflict"]


# --- commitment flags -----------------------------------------------------------------------------
def with_commitment(pid="P", **kw) -> Book:
    return book().partner(pid).commitment("C-1", pid, kw.pop("party", "partner"), quarter=QTR, **kw)


@pytest.mark.parametrize("kw, expected", [
    (dict(due_date=END), "medium"),                                        # due on the quarter's end
    (dict(due_date=END - dt.timedelta(days=31)), "high"),
    (dict(due_date=END + dt.timedelta(days=1)), None),
    (dict(due_date=END - dt.timedelta(days=40), status="done", completed_date=END), None),
    (dict(due_date=END - dt.timedelta(days=40), status="cancelled"), None),
])
def test_overdue(kw, expected):
    f = raised(with_commitment(**kw), "COMMITMENT_OVERDUE")
    assert list(f["severity"]) == ([expected] if expected else [])
    if expected:
        assert f["whose_move"].item() == "partner"
        days = (END - kw["due_date"]).days
        assert (f"{days} days overdue" if days else "due on the quarter's last day") in f["message"].item()


@pytest.mark.parametrize("kw, expected", [
    (dict(due_date=D(2026, 8, 31), baseline_due_date=D(2026, 4, 30)), "C-1 due 31 Aug 2026, agreed 30 Apr 2026: slipped 123 days, first slip"),
    (dict(due_date=D(2026, 8, 31), baseline_due_date=D(2026, 8, 31)), None),
    (dict(due_date=D(2026, 8, 31), baseline_due_date=D(2026, 9, 30)), None),   # moved earlier: no slip
    (dict(due_date=D(2026, 5, 31), baseline_due_date=D(2026, 4, 30), status="done", completed_date=D(2026, 5, 30)), None),
])
def test_slipped(kw, expected):
    f = raised(with_commitment(**kw), "COMMITMENT_SLIPPED")
    assert list(f["message"]) == ([expected] if expected else [])


@pytest.mark.parametrize("updated, expected", [(46, True), (45, False), (None, True)])
def test_stale(updated, expected):
    last = None if updated is None else END - dt.timedelta(days=updated)
    f = raised(with_commitment(last_updated=last), "COMMITMENT_STALE")
    assert len(f) == int(expected)
    if expected:
        assert ("never updated" if updated is None else f"{updated} days before") in f["message"].item()


@pytest.mark.parametrize("kw, reason", [
    (dict(owner=""), "no owner"), (dict(due_date=None), "no due date"),
    (dict(percent_complete=float("nan")), "no measure"),
    (dict(percent_complete=float("nan"), linked_kpi_id="deals"), None),
    (dict(owner="", status="done", completed_date=D(2026, 5, 1)), None),
])
def test_incomplete(kw, reason):
    f = raised(with_commitment(**kw), "COMMITMENT_INCOMPLETE")
    assert len(f) == (1 if reason else 0)
    if reason:
        assert reason in f["message"].item()


@pytest.mark.parametrize("us, partner, expected", [(3, 1, True), (2, 1, False), (3, 2, False), (1, 4, True)])
def test_reciprocity_open_load(us, partner, expected):
    b = book().partner("P")
    for i in range(us):
        b.commitment(f"U{i}", "P", "us", quarter=QTR)
    for i in range(partner):
        b.commitment(f"T{i}", "P", "partner", quarter=QTR)
    f = raised(b, "RECIPROCITY_IMBALANCE")
    assert len(f) == int(expected)
    if expected:
        assert f"of {us + partner} open commitments (75%" in f["message"].item() or "(80%" in f["message"].item()


@pytest.mark.parametrize("on_time, late, expected", [(1, 1, True), (3, 1, False)])
def test_reciprocity_on_time_rates(on_time, late, expected):
    # us: 2 of 2 on time (100%); partner 1 of 2 (50%: 50 points apart) or, near miss, 3 of 4 (75%: 25 apart)
    b = book().partner("P")
    done = dict(status="done", due_date=D(2026, 5, 31))
    for i in range(2):
        b.commitment(f"U{i}", "P", "us", quarter=QTR, completed_date=D(2026, 5, 1), **done)
    for i in range(on_time + late):
        b.commitment(f"T{i}", "P", "partner", quarter=QTR, completed_date=D(2026, 5, 1) if i < on_time else D(2026, 6, 20), **done)
    f = raised(b, "RECIPROCITY_IMBALANCE")
    assert len(f) == int(expected)
    if expected:
        assert "on-time delivery us 100% vs partner 50% (50 points apart)" in f["message"].item()
        assert f["whose_move"].item() == "partner"


# --- cadence and data -----------------------------------------------------------------------------
def test_no_checkin_only_with_a_checkins_sheet():
    b = book(has_checkins_sheet=True).partner("P").partner("R")
    b.checkin("OK", D(2026, 5, 2)).checkin("R", D(2026, 6, 30)).checkin("P", D(2026, 3, 31))
    f = raised(b, "NO_CHECKIN")
    assert list(f["partner_id"]) == ["P"] and "last: 31 Mar 2026" in f["message"].item()
    b2 = book(has_checkins_sheet=False).partner("P")
    assert not len(raised(b2, "NO_CHECKIN"))


def test_data_problem_counts_errors_and_names_where():
    b = book().partner("P").partner("R").problem("P", cell="D7").problem("P", cell="D9")
    b.problems.append(b.problems[0].__class__(code="VALUE_BAD_EMAIL", severity="warning", message="x", partner_id="R"))
    f = raised(b, "DATA_PROBLEM")
    assert list(f["partner_id"]) == ["P"]
    assert f["message"].item() == "2 rows or values excluded: actuals.xlsx › Actuals › D7; actuals.xlsx › Actuals › D9"


# --- the portfolio --------------------------------------------------------------------------------
def test_portfolio_holds_exactly_the_planted_gaps(tmp_path):
    healthy = [f"H{i}" for i in range(8)]

    def build(q: str, quarters: list[str], planted: bool) -> Book:
        b = Book(has_checkins_sheet=True).kpi("pipeline", unit="currency").kpi("deals").kpi("days", unit="days", direction="lower")
        for pid in healthy + ["G1", "G2", "G3", "G4"]:
            healthy_partner(b, pid, quarters, kpis=("pipeline", "deals"), commitments=2)
            b.checkin(pid, Q(q).end_date() - dt.timedelta(days=20))
        if not planted:
            b.commitment("G4-X", "G4", "us", quarter=q)
            return b
        b.rows["kpi_values"] = [r for r in b.rows["kpi_values"]
                                if not (r["partner_id"] == "G1" and r["kpi_id"] == "deals" and r["quarter"] == QTR)]
        b.rows["kpi_values"] = [dict(r, value=r["value"] * 0.5) if (r["partner_id"], r["kpi_id"], r["quarter"]) == ("G1", "pipeline", QTR)
                                else r for r in b.rows["kpi_values"]]        # G1: pipeline at 53%, deals missing
        b.actual("G1", "pipeline", QTR, 90, source="partner")               # ... and the partner disagrees
        for q2, v in zip(quarters, (40, 44, 50)):                            # G2: days rising, conflict, restated
            b.target("G2", "days", q2, 60).actual("G2", "days", q2, v)
        b.actual("G2", "days", QTR, 51, file="second.xlsx")
        b.rows["kpi_values"] = [dict(r, value=r["value"] + 10) if (r["partner_id"], r["kpi_id"], r["quarter"]) == ("G2", "pipeline", "2026-Q1")
                                else r for r in b.rows["kpi_values"]]
        b.commitment("G3-A", "G3", "partner", quarter=q, due_date=D(2026, 5, 1), baseline_due_date=D(2026, 3, 31))
        b.commitment("G3-B", "G3", "us", quarter=q, owner="", last_updated=D(2026, 1, 5))
        b.rows["checkins"] = [r for r in b.rows["checkins"] if r["partner_id"] != "G3"]
        for i in range(4):
            b.commitment(f"G4-{i}", "G4", "us", quarter=q)
        b.problem("G4", cell="C3")
        return b

    with History(tmp_path / "h.sqlite") as h:
        h.record(analyse(build("2026-Q1", HIST[:2], planted=False).build(), Q("2026-Q1"), h))
        a = analyse(build(QTR, HIST, planted=True).build(), Q(QTR), h)
    got = set(zip(a.flags["partner_id"], a.flags["code"], a.flags["subject"]))
    expected = {
        ("G1", "KPI_BELOW_TARGET", "pipeline"), ("G1", "KPI_MISSING", "deals"), ("G1", "KPI_DISCREPANCY", "pipeline"),
        ("G2", "KPI_DECLINING", "days"), ("G2", "KPI_CONFLICT", "days"), ("G2", "KPI_RESTATED", "pipeline"),
        ("G3", "COMMITMENT_OVERDUE", "G3-A"), ("G3", "COMMITMENT_SLIPPED", "G3-A"), ("G3", "COMMITMENT_STALE", "G3-B"),
        ("G3", "COMMITMENT_INCOMPLETE", "G3-B"), ("G3", "NO_CHECKIN", ""),
        ("G4", "COMMITMENT_DROPPED", "G4-X"), ("G4", "RECIPROCITY_IMBALANCE", ""), ("G4", "DATA_PROBLEM", ""),
    }
    assert {c for _, c, _ in expected} == set(FLAG_CODES)  # every code planted at least once
    assert got == expected
    assert set(a.health["partner_id"]) == set(healthy) | {"G1", "G2", "G3", "G4"}
    assert (a.health.set_index("partner_id").loc[healthy, "status"] == "green").all()
    rank = a.flags["severity"].map({"high": 0, "medium": 1, "low": 2})
    assert rank.is_monotonic_increasing
    assert list(a.flags[list(FLAGS_CSV_COLUMNS)].columns) == list(FLAGS_CSV_COLUMNS)
    assert a.flags["message"].str.len().min() > 10 and a.flags["agenda"].str.len().min() > 5


# --- partner_view isolation -----------------------------------------------------------------------
def test_partner_view_holds_nothing_of_the_other_partner():
    b = Book(has_checkins_sheet=True).kpi("pipeline", unit="currency")
    healthy_partner(b, "ALPHA", HIST, kpis=("pipeline",))
    b.partner("BETA", name="Betamax Secret Corp")
    b.target("BETA", "pipeline", QTR, 100).actual("BETA", "pipeline", QTR, 10, file="beta_numbers.xlsx")
    b.commitment("BETA-C9", "BETA", "us", quarter=QTR, due_date=D(2026, 1, 1), description="Betamax launch")
    b.checkin("BETA", D(2026, 5, 1)).problem("BETA", file="beta_numbers.xlsx")
    rec = b.build()
    a = analyse(rec, Q(QTR))
    assert default_quarter(rec) == Q(QTR)
    v = partner_view(a, "ALPHA")
    frames = {"kpis": v.kpis, "kpi_quarterly": v.kpi_quarterly, "commitments": v.commitments, "delivery": v.delivery,
              "flags": v.flags, "health_breakdown": v.health_breakdown, "checkins": v.checkins}
    text = repr(v.partner) + repr(v.health) + repr(v.problems) + repr(v.sources) + repr(v.changes) + repr(v.why) + repr(v.track_record) + repr(v.disagreements) \
        + repr(v.story) + repr(v.next_quarter)
    for name, frame in frames.items():
        if "partner_id" in frame:
            assert set(frame["partner_id"]) <= {"ALPHA"}, name
        assert "internal_note" not in frame.columns, name
        text += frame.to_csv()
    for secret in ("BETA", "Betamax", "beta_numbers"):
        assert secret not in text
    assert len(v.kpi_quarterly) == 3 and len(v.commitments) == 2 and v.health["partner_id"] == "ALPHA"
    beta = partner_view(a, "BETA")
    assert "internal_note" not in beta.commitments.columns and "ALPHA" not in beta.flags.to_csv()
    assert [p.cell for p in beta.problems] == ["D7"] and beta.sources == ["our records"]  # our file: a neutral label
    assert list(beta.flags["severity"].map({"high": 0, "medium": 1, "low": 2})) == sorted(beta.flags["severity"].map({"high": 0, "medium": 1, "low": 2}))


def test_attainment_never_shows_a_band_edge_it_has_not_reached():
    """899 against 1,000 is 89.9% of target: at risk, since on track starts at 90%. Every place words it "89.9%",
    none rounds it up to the "90%" a reader would call on track; "100%" only once the target is met; away from
    an edge, a whole percent as usual (11 against 16 is "69%")."""
    from io import BytesIO

    from pypdf import PdfReader

    from pipeline.analyse.wording import attainment_pct
    from pipeline.chart.charts import partner_charts
    from pipeline.core.frames import Thresholds
    from pipeline.core.settings import Config
    from pipeline.render.partner import partner_pdf

    edges = Thresholds.of(Config()).edges
    assert edges == (0.75, 0.9, 1.0)
    values = (0.899, 0.9, 0.29, 0.6875, 0.7496, 0.9999, 1.0, 1.127, None)
    assert [attainment_pct(x, edges) for x in values] == \
        ["89.9%", "90%", "29%", "69%", "74.9%", "99.9%", "100%", "113%", "n/a"]
    assert attainment_pct(0.899) == "90%"   # without edges: a whole percent, as any other share
    a = analyse(kpi_partner(book(), "P", "deals", {QTR: 899}, target=1000).build(), Q(QTR), None)
    f = a.flags[(a.flags["partner_id"] == "P") & (a.flags["code"] == "KPI_BELOW_TARGET")]
    assert f["severity"].item() == "medium" and f["message"].item().endswith(": 89.9% of target")
    view = partner_view(a, "P")
    assert "Furthest from target: Deals won at 89.9% of target." in " ".join(view.summary)
    pdf = partner_pdf(view, partner_charts(view))
    pages = [" ".join(p.extract_text().split()) for p in PdfReader(BytesIO(pdf)).pages]
    assert "target 1,000 · 89.9%" in pages[0]                       # the KPI's tile
    assert any("Deals won 1,000 899 89.9%" in p for p in pages)     # the scorecard: target, actual, attainment


def test_missing_because_a_figure_was_left_out_is_the_move_of_the_side_that_holds_it():
    """A quarter without a figure because a figure was left out is not "reported by neither side": our blank
    value is ours to correct, their unreadable one theirs to send again (the data notes list the cell)."""
    b = book().partner("P").partner("R").partner("S")
    for pid in ("P", "R", "S"):
        b.target(pid, "deals", QTR, 10)
    rec = b.build()
    rec.excluded_figures += [("P", "deals", QTR, "internal"), ("R", "deals", QTR, "partner"),
                             ("S", "deals", "2026-Q1", "internal")]   # another quarter: no bearing on this one
    f = analyse(rec, Q(QTR), None).flags
    f = f[f["code"] == "KPI_MISSING"].set_index("partner_id")
    assert f.loc["P", "whose_move"] == "us" and "our figure could not be read" in f.loc["P", "clause"]
    assert "either side" not in f.loc["P", "message"] and f.loc["P", "agenda"] == "We correct our Deals won figure for 2026-Q2"
    assert f.loc["R", "whose_move"] == "partner" and "your figure could not be read" in f.loc["R", "clause"]
    assert f.loc["S", "whose_move"] == "joint" and f.loc["S", "clause"] == "not reported for 2026-Q2 by either side (target 10)"


def test_the_samples_figures_left_out_are_said_to_be_whose_they_are():
    """The bundled 2026-Q3 drop: Château Vert's NPS row in our CRM export has a blank value, and Северный Ветер's
    September revenue (a workbook of monthly figures kept as ours: no source column) reads "50k". Reconcile
    records both as left out, from our records; the flags make them ours to correct, not "reported by neither"."""
    from pathlib import Path

    from pipeline.reconcile.load import load

    rec = load(Path(__file__).resolve().parents[1] / "pipeline" / "samples" / "drops" / "2026-Q3")
    assert sorted(rec.excluded_figures) == [("P05", "revenue", "2026-Q3", "internal"), ("P08", "nps", "2026-Q3", "internal")]
    f = analyse(rec, Q("2026-Q3"), None).flags
    missing = f[f["code"] == "KPI_MISSING"].set_index(["partner_id", "subject"])
    nps, revenue = missing.loc[("P08", "nps")], missing.loc[("P05", "revenue")]
    assert nps["whose_move"] == "us" and nps["clause"].startswith("not measured for 2026-Q3 (target 40); our figure could")
    assert revenue["whose_move"] == "us" and revenue["clause"].startswith("only 2 of 3 months reported")
    assert "our figure could not be read (see the data notes) and we are correcting it" in revenue["clause"]


def test_a_theme_of_figures_left_out_on_our_side_asks_nothing_of_them():
    """The agenda line of a theme whose missing figures are ours to correct says so, not "agree who reports"."""
    b = book().partner("P")
    b.target("P", "deals", QTR, 10)
    rec = b.build()
    rec.excluded_figures.append(("P", "deals", QTR, "internal"))
    a = analyse(rec, Q(QTR), None)
    themes = a.themes[a.themes["partner_id"] == "P"]
    line = themes[themes["theme"] == "figures"]["agenda"].item()
    assert line.endswith("correct our figure (see the data notes)") and "who reports" not in line
    assert themes[themes["theme"] == "figures"]["whose_move"].item() == "us"
