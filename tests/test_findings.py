"""One finding per subject, grouped into themes (issue 14), and what a pause changes in the flags.

flags.csv keeps every flag (the catalog is an interface); the review reads findings: a KPI below target and
declining is one gap that states both, the gaps are grouped into themes with the most important first, the
agenda has one line per theme with whose move it is, and "nothing flagged" is said once.
"""
from __future__ import annotations

import datetime as dt
import io

from pypdf import PdfReader

from analysis_fixtures import Book, Q, healthy_partner
from pipeline.analyse.analysis import analyse, partner_view
from pipeline.render import partner_pdf, portfolio_pdf
from pipeline.write.outputs import flags_csv_bytes

D = dt.date
QTR = "2026-Q2"
END = Q(QTR).end_date()
HIST = ["2025-Q4", "2026-Q1", QTR]
KPIS = ("pipeline", "deals", "nps")
NOTHING = "Nothing is flagged this quarter."


def _book() -> Book:
    b = Book(has_checkins_sheet=True)
    b.kpi("pipeline", "Sourced pipeline", unit="currency").kpi("deals", "Deals won").kpi("nps", "Joint customer NPS")
    b.set("organisation.name", "Northwind Partners Inc.")
    return b


def _troubled(b: Book, pid: str = "T", status: str = "active") -> Book:
    """Every KPI below target and falling for two quarters; one commitment of each party overdue."""
    b.partner(pid, name="Troubled Corp", status=status)
    for i, q in enumerate(HIST):
        for k in KPIS:
            b.target(pid, k, q, 100).actual(pid, k, q, 80 - 10 * i)   # 80, 70, 60: falling, 60% of target now
        b.checkin(pid, Q(q).end_date() - dt.timedelta(days=20))
    b.commitment(f"{pid}-P1", pid, "partner", quarter=QTR, due_date=END - dt.timedelta(days=45))
    b.commitment(f"{pid}-U1", pid, "us", quarter=QTR, due_date=END - dt.timedelta(days=10))
    return b


def _text(pdf: bytes) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages]


def _analysis(b: Book):
    return analyse(b.build(), Q(QTR), as_of=D(2026, 7, 5))


def test_below_target_and_declining_is_one_finding_that_states_both_and_flags_csv_keeps_both():
    a = _analysis(_troubled(_book()))
    fl = a.flags[a.flags["partner_id"] == "T"]
    for k in KPIS:
        assert set(fl.loc[fl["subject"] == k, "code"]) == {"KPI_BELOW_TARGET", "KPI_DECLINING"}
    csv = flags_csv_bytes(a.flags).decode("utf-8-sig")
    assert csv.count(",KPI_BELOW_TARGET,") == 3 and csv.count(",KPI_DECLINING,") == 3
    v = partner_view(a, "T")
    f = v.findings
    kpi = f[f["subject"].isin(KPIS)]
    assert sorted(kpi["subject"]) == sorted(KPIS)                   # one finding per KPI, not two
    nps = kpi[kpi["subject"] == "nps"].iloc[0]
    assert nps["sentence"].startswith("Joint customer NPS: ")
    assert "60% of target" in nps["sentence"] and "two quarters running" in nps["sentence"]
    assert nps["severity"] == "high" and set(nps["codes"].split(";")) == {"KPI_BELOW_TARGET", "KPI_DECLINING"}
    assert len(f) == f["subject"].nunique() == 3 + 2                 # three KPIs, two commitments
    assert sorted(v.top_gaps) == sorted(f["sentence"])
    top = f.set_index("sentence").loc[v.top_gaps[:3]]                 # the most severe, not one theme's three
    assert (top["severity"] == "high").all() and set(top["theme"]) == {"results", "partner_commitments"}


def test_the_gap_count_on_page_one_counts_findings():
    a = _analysis(_troubled(_book()))
    v = partner_view(a, "T")
    assert len(v.flags) == 8 and len(v.findings) == 5
    pages = _text(partner_pdf(v, {}))
    text = " ".join(pages)
    assert "5 gaps in 3 themes" in text and "8 gaps" not in text     # the flagged gaps count findings
    assert "5 gaps are flagged" in " ".join(v.summary)               # so do the manifest's and e-mail's words
    for title in v.themes["title"]:                                  # page 1 names what needs attention by theme
        assert title in pages[0].split("What needs attention")[1]


def test_the_agenda_has_one_line_per_theme_saying_whose_move():
    a = _analysis(_troubled(_book()))
    v = partner_view(a, "T")
    themes = list(v.themes["theme"])
    assert themes[0] == "results"                                   # the most important theme first
    assert set(themes) == {"results", "partner_commitments", "our_commitments"}
    assert [item for item, _ in v.agenda] == list(v.themes["agenda"])
    assert dict(zip(v.themes["theme"], v.themes["whose_move"])) == {
        "results": "joint", "partner_commitments": "partner", "our_commitments": "us"}
    pages = _text(partner_pdf(v, {}))
    text = " ".join(pages)
    agenda = text[text.index("Agenda for the review meeting"):text.index("Data notes")]
    for i, (item, _) in enumerate(v.agenda, start=1):
        assert f"{i} {item.split(':')[0]}" in agenda
    assert f"{len(v.agenda) + 1} " not in agenda.split("Leads", 1)[1]   # no per-KPI lines after the themes
    for lead in ("Both of us", "You", "Us"):                         # spoken to the partner: us, you, both
        assert lead in agenda
    gaps = text[text.index("Flagged gaps"):text.index("KPI scorecard")]
    for title in v.themes["title"]:
        assert title in gaps


def test_a_healthy_partner_reads_nothing_flagged_once():
    b = _book()
    healthy_partner(b, "H", HIST, kpis=KPIS)
    b.checkin("H", END - dt.timedelta(days=20))
    a = _analysis(b)
    v = partner_view(a, "H")
    assert not len(v.flags) and not len(v.findings) and v.top_gaps == []
    text = " ".join(_text(partner_pdf(v, {})))
    assert text.count(NOTHING) == 1 and "No gaps" not in text and "Nothing flagged" not in text
    assert NOTHING in v.summary


def test_a_paused_partner_is_not_flagged_on_its_targets_and_the_review_says_so():
    b = _book()
    _troubled(b, "FJ", status="paused")
    b.actual("FJ", "deals", QTR, 90, source="partner")              # the two sides disagree: still flagged
    a = _analysis(b)
    fl = a.flags[a.flags["partner_id"] == "FJ"]
    assert not set(fl["code"]) & {"KPI_BELOW_TARGET", "KPI_DECLINING", "KPI_MISSING"}
    assert {"KPI_DISCREPANCY", "COMMITMENT_OVERDUE"} <= set(fl["code"])
    v = partner_view(a, "FJ")
    assert "results" not in set(v.themes["theme"])
    pages = _text(partner_pdf(v, {}))
    first = pages[0]
    assert "QUARTERLY PARTNER REVIEW · 2026-Q2 · PARTNERSHIP PAUSED" in first       # the header
    assert "Partnership paused: targets not held this quarter" in first
    assert all("partner review (paused)" in p for p in pages)          # the running header of every page
    assert "paused" in first.split("Prepared for")[1]
    assert "not flagged against their targets" in first               # what the pause changes, in words
    assert "commitments" in first.split("not flagged against their targets")[1]
    portfolio = " ".join(_text(portfolio_pdf(a)))
    assert "Troubled Corp (paused)" in portfolio


def test_an_active_partner_with_the_same_figures_is_flagged_on_them():
    a = _analysis(_troubled(_book(), "AC"))
    assert {"KPI_BELOW_TARGET", "KPI_DECLINING"} <= set(a.flags.loc[a.flags["partner_id"] == "AC", "code"])


def test_count_sentences_are_singular_for_one():
    b = _book()
    b.partner("ONE", name="One Ltd")
    b.target("ONE", "deals", QTR, 100).actual("ONE", "deals", QTR, 95)
    b.checkin("ONE", END - dt.timedelta(days=20))
    b.commitment("ONE-1", "ONE", "us", quarter=QTR, due_date=END - dt.timedelta(days=5))
    v = partner_view(_analysis(b), "ONE")
    assert v.summary[0] == "1 of 1 KPI is on track this quarter."
    assert v.summary[1] == "1 commitment is tracked: 1 open, 0 done, 1 overdue (1 Northwind Partners Inc.)."
    assert v.summary[2].startswith("1 gap is flagged (medium severity)")


def test_the_e_mail_of_a_partner_with_nothing_flagged_says_it_once():
    from pipeline.distribute.mail import _bodies

    b = _book()
    healthy_partner(b, "H", HIST, kpis=KPIS)
    b.checkin("H", END - dt.timedelta(days=20))
    v = partner_view(_analysis(b), "H")
    entry = {"partner_id": "H", "partner_name": "H Ltd", "health_score": v.health["score"],
             "health_status": v.health["status"], "flag_count": len(v.flags), "summary": " ".join(v.summary),
             "top_gaps": v.top_gaps, "partner_lead": "Lead of H"}
    plain, _ = _bodies(entry, {"organisation": "Northwind Partners Inc.", "quarter": QTR})
    assert plain.count(NOTHING) == 1 and "0 gaps" not in plain
