"""Issue 8: a review that explains every change. The reconciliation statement, the commitment track
record over four quarters, provenance of every quarterly figure, and re-runs that give the same figures."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader

from analysis_fixtures import Book, Q
from pipeline.analyse.analysis import analyse, partner_view
from pipeline.analyse.history import History
from pipeline.write.outputs import flags_csv_bytes
from pipeline.render import partner_pdf

D = dt.date
SAMPLES = Path(__file__).resolve().parents[1] / "pipeline" / "samples" / "drops"


def _pdf_text(pdf: bytes) -> str:
    return " ".join(" ".join((p.extract_text() or "") for p in PdfReader(io.BytesIO(pdf)).pages).split())


# ------------------------------------------------------------------------------ reconciliation statement
def disputed_book() -> Book:
    """P1's own figures run 2% above ours in Q1, then 20% and 25% above in Q2 and Q3; P2 disputes too."""
    b = Book().kpi("pipeline", "Sourced pipeline", unit="currency")
    for pid, partner_file in (("P1", "returns/P1 figures.xlsx"), ("P2", "returns/SECRET-P2.xlsx")):
        b.partner(pid, name=f"{pid} GmbH")
        for i, (q, ours, theirs) in enumerate((("2026-Q1", 1000, 1020), ("2026-Q2", 1000, 1200), ("2026-Q3", 1000, 1250))):
            b.target(pid, "pipeline", q, 1000)
            b.actual(pid, "pipeline", q, ours, file="exports/crm.xlsx", cell=f"D{17 + i}")
            b.actual(pid, "pipeline", q, theirs, source="partner", file=partner_file, cell=f"C{5 + i}")
    return b


def test_reconciliation_statement_has_both_figures_gap_cells_and_since():
    a = analyse(disputed_book().build(), Q("2026-Q3"))
    d = a.disagreements.set_index("partner_id")
    assert d.loc["P1", "since"] == "2026-Q2" and d.loc["P1", "quarters"] == 2  # Q1 was within 5%
    assert d.loc["P1", "gap"] == pytest.approx(-250.0)
    view = partner_view(a, "P1")
    text = _pdf_text(partner_pdf(view, {}))
    assert "Reconciliation statement, 2026-Q3" in text
    for piece in ("1,000", "1,250", "ours USD 250 lower", "25.0% of ours", "2026-Q2 (2 quarters running)",
                  "our records", "P1 figures.xlsx › Actuals › C7"):
        assert piece in text, piece
    assert "returns/" not in text  # their file by its name, not the folder we filed it in
    assert "SECRET-P2" not in text  # the statement names only this partner's own files
    assert "exports/crm.xlsx" not in text  # and ours by a neutral label, never our file paths (issue 15)


def test_agreeing_figures_make_no_statement():
    b = Book().kpi("pipeline", unit="currency").partner("P1")
    b.target("P1", "pipeline", "2026-Q3", 100).actual("P1", "pipeline", "2026-Q3", 100)
    b.actual("P1", "pipeline", "2026-Q3", 102, source="partner")
    a = analyse(b.build(), Q("2026-Q3"))
    assert a.disagreements.empty
    assert "the figures agree within 5%" in _pdf_text(partner_pdf(partner_view(a, "P1"), {}))


# ------------------------------------------------------------------------------- commitment track record
def log(q: str, rows: list[dict]) -> Book:
    b = Book().kpi("k").partner("P1")
    b.target("P1", "k", q, 100).actual("P1", "k", q, 100)
    for r in rows:
        r = dict(r)
        b.commitment(r.pop("cid"), "P1", r.pop("party"), quarter=q, **r)
    return b


OLD = dict(cid="Z", party="us", status="done", due_date=D(2025, 3, 31), completed_date=D(2025, 3, 20))


def test_track_record_counts_match_a_planted_history(tmp_path):
    a_open = dict(cid="A", party="us", due_date=D(2026, 6, 30))
    a_done = dict(a_open, status="done", completed_date=D(2026, 6, 20), percent_complete=1.0)
    b_open = dict(cid="B", party="partner", due_date=D(2026, 4, 30), baseline_due_date=D(2026, 4, 30))
    b_moved = dict(b_open, due_date=D(2026, 12, 31))
    c_open = dict(cid="C", party="joint", due_date=D(2026, 9, 30))
    d_late = dict(cid="D", party="partner", status="done", due_date=D(2026, 5, 31), completed_date=D(2026, 6, 15))
    e_new = dict(cid="E", party="us", due_date=D(2026, 11, 30))
    with History(tmp_path / "h.sqlite") as h:
        for q, rows in (("2026-Q1", [OLD, a_open, b_open, c_open]), ("2026-Q2", [OLD, a_done, b_moved, d_late])):
            h.record(analyse(log(q, rows).build(), Q(q), h))
        a3 = analyse(log("2026-Q3", [OLD, a_done, b_moved, d_late, e_new]).build(), Q("2026-Q3"), h)
    tr = a3.track_record.set_index("party")
    cols = ["made", "on_time", "late", "slipped", "slip_days", "dropped", "open"]
    assert tr.loc["us", cols].tolist() == [2, 1, 0, 0, 0, 0, 1]         # A kept on time, E open; Z is too old
    assert tr.loc["partner", cols].tolist() == [2, 0, 1, 1, 245, 0, 1]  # D late; B slipped 30 Apr -> 31 Dec
    assert tr.loc["joint", cols].tolist() == [1, 0, 0, 0, 0, 1, 0]      # C gone from the Q2 log
    pdf = partner_pdf(partner_view(a3, "P1"), {})
    text = _pdf_text(pdf)
    assert "Track record over the last four quarters" in text and "1 (245 days)" in text
    fonts = {str(f.get_object().get("/BaseFont")) for page in PdfReader(io.BytesIO(pdf)).pages
             for f in page.get("/Resources", {}).get("/Font", {}).values()}
    assert fonts and not any("Helvetica" in f for f in fonts), fonts  # the chart's vector text is DejaVu too


# -------------------------------------------------------------------------- provenance and re-runs
def _run(drop: str, quarter: str, history: History):
    from pipeline.reconcile.load import load

    a = analyse(load(SAMPLES / drop), Q(quarter), history)
    history.record(a)
    return a


NUMERIC = ("kpi_quarterly", "commitment_status", "delivery", "health", "health_breakdown")


def _frames(a) -> dict[str, pd.DataFrame]:
    return {n: getattr(a, n).reset_index(drop=True) for n in NUMERIC} | {"track": a.track_record}


def test_rerun_gives_the_same_figures_and_later_runs_never_change_earlier_quarters(tmp_path):
    with History(tmp_path / "a.sqlite") as h:
        q2_first = _run("2026-Q2", "2026-Q2", h)
        q3 = _run("2026-Q3", "2026-Q3", h)
        q3_again = _run("2026-Q3", "2026-Q3", h)
        q2_later = _run("2026-Q2", "2026-Q2", h)
    assert flags_csv_bytes(q3.flags) == flags_csv_bytes(q3_again.flags)
    assert flags_csv_bytes(q2_first.flags) == flags_csv_bytes(q2_later.flags)
    for before, after in ((q3, q3_again), (q2_first, q2_later)):
        for name, frame in _frames(before).items():
            pd.testing.assert_frame_equal(frame, _frames(after)[name], obj=name)
    assert q2_later.changes == q2_first.changes


def test_every_quarterly_figure_names_its_cells(tmp_path):
    with History(tmp_path / "h.sqlite") as h:
        a = _run("2026-Q3", "2026-Q3", h)
    kq = a.kpi_quarterly
    wb = kq[kq["origin"] == "workbook"]
    assert (wb["sources"] != "").all()
    assert (wb.loc[wb["internal"].notna(), "internal_cells"] != "").all()
    rev = wb[(wb["partner_id"] == "P05") & (wb["kpi_id"] == "revenue") & (wb["quarter"] == "2026-Q3")].iloc[0]
    # September's '50k' was excluded: the roll-up names exactly the two months it holds
    assert rev["months_reported"] == 2
    cells = rev["internal_cells"].split(" › ")
    assert cells[0] == "partner_returns/Severny Veter monthly figures.xlsx" and len(cells[2].split(", ")) == 2
    ns = wb[(wb["partner_id"] == "P03") & (wb["kpi_id"] == "pipeline") & (wb["quarter"] == "2026-Q3")].iloc[0]
    assert ns["partner_cells"].startswith("partner_returns/Nordlicht Kennzahlen 2026.xlsx › ")
    assert "target: KPI plan FY2025-FY2026.xlsx › Targets › " in ns["sources"]
