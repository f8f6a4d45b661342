"""History across quarters: slips counted twice, a drop, a restatement, an idempotent re-run."""
from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from analysis_fixtures import Book, Q
from pipeline.analyse.analysis import analyse
from pipeline.analyse.history import SCHEMA_VERSION, History, HistoryUnusable

D = dt.date


def quarter_book(q: str, values: dict[str, float], c1_due: D, with_c2: bool) -> Book:
    """P1 with one KPI (internal figures for the quarters in ``values``) and its commitments as of ``q``."""
    b = Book().kpi("pipeline", "Sourced pipeline", unit="currency")
    b.partner("P1")
    for quarter, v in values.items():
        b.target("P1", "pipeline", quarter, 100)
        b.actual("P1", "pipeline", quarter, v)
    b.commitment("C-1", "P1", "partner", quarter=q, due_date=c1_due, baseline_due_date=D(2026, 4, 30))
    if with_c2:
        b.commitment("C-2", "P1", "us", quarter=q, due_date=D(2026, 12, 31), description="Joint webinar")
    return b


def flagset(analysis, code: str | None = None) -> set[tuple[str, str, str]]:
    f = analysis.flags
    return {(p, c, s) for p, c, s in zip(f["partner_id"], f["code"], f["subject"]) if code is None or c == code}


def counts(path) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("run", "kpi_value", "commitment", "health", "health_component")}
    finally:
        con.close()


def test_schema_is_versioned_and_reopens(tmp_path):
    path = tmp_path / "h.sqlite"
    with History(path) as h:
        assert h.schema_version == SCHEMA_VERSION >= 1
    with History(path) as h:  # reopening applies nothing twice
        assert h.runs() == []
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(HistoryUnusable, match="newer"):
        History(path)


def test_three_quarters_slip_drop_restatement_and_rerun(tmp_path):
    path = tmp_path / "history.sqlite"
    with History(path) as h:
        q1 = quarter_book("2026-Q1", {"2026-Q1": 100}, D(2026, 4, 30), with_c2=True).build()
        a1 = analyse(q1, Q("2026-Q1"), h)
        assert not flagset(a1, "COMMITMENT_SLIPPED") and not flagset(a1, "COMMITMENT_DROPPED")
        assert a1.health["previous_score"].isna().all()
        h.record(a1)

        # Q2: C-1 moved two months past its baseline (first slip); C-2 vanished from the log.
        q2 = quarter_book("2026-Q2", {"2026-Q1": 100, "2026-Q2": 110}, D(2026, 6, 30), with_c2=False).build()
        a2 = analyse(q2, Q("2026-Q2"), h)
        cs = a2.commitment_status.set_index("commitment_id")
        assert cs.loc["C-1", "slip_count"] == 1 and cs.loc["C-1", "slip_days"] == 61 and cs.loc["C-1", "slipped_now"]
        assert cs.loc["C-2", "is_dropped"] and not cs.loc["C-2", "is_open"]
        assert flagset(a2, "COMMITMENT_DROPPED") == {("P1", "COMMITMENT_DROPPED", "C-2")}
        dropped_msg = a2.flags.loc[a2.flags["code"] == "COMMITMENT_DROPPED", "message"].item()
        assert "2026-Q1" in dropped_msg and "31 Dec 2026" in dropped_msg
        assert not flagset(a2, "KPI_RESTATED")
        assert a2.health["previous_score"].notna().all()
        assert a2.changes["P1"][0].startswith("Health ")
        assert any("commitments slipped" in s for s in a2.changes["P1"])
        h.record(a2)

        # Q3: C-1 slips again (second slip, history counted); Q1's figure restated from 100 to 90.
        q3 = quarter_book("2026-Q3", {"2026-Q1": 90, "2026-Q2": 110.3, "2026-Q3": 120}, D(2026, 8, 31), with_c2=False)
        a3 = analyse(q3.build(), Q("2026-Q3"), h)
        c1 = a3.commitment_status.set_index("commitment_id").loc["C-1"]
        assert c1["slip_count"] == 2 and c1["slip_days"] == 123
        slip = a3.flags[a3.flags["code"] == "COMMITMENT_SLIPPED"]
        assert slip["message"].item().startswith("C-1 due 31 Aug 2026, agreed 30 Apr 2026: slipped 123 days")
        assert "second slip" in slip["message"].item() and slip["severity"].item() == "high"
        assert not flagset(a3, "COMMITMENT_DROPPED")  # dropped once, not every quarter after
        restated = a3.flags[a3.flags["code"] == "KPI_RESTATED"]
        assert list(restated["subject"]) == ["pipeline"]  # Q2 moved 0.27%: under the 0.5% tolerance
        assert "2026-Q1" in restated["message"].item() and "100" in restated["message"].item()
        assert "2026-Q2" not in restated["message"].item()
        h.record(a3)
        before = counts(path)

        # a re-run of Q3 gives the same analysis and replaces, not adds
        a3b = analyse(q3.build(), Q("2026-Q3"), h)
        h.record(a3b)
        assert counts(path) == before
        assert a3b.flags.equals(a3.flags)
        assert a3b.health.equals(a3.health)
        assert [q.label for q in h.runs()] == ["2026-Q1", "2026-Q2", "2026-Q3"]


def test_history_fills_quarters_the_workbooks_do_not_hold(tmp_path):
    with History(tmp_path / "h.sqlite") as h:
        b = quarter_book("2026-Q1", {"2025-Q4": 80, "2026-Q1": 100}, D(2026, 9, 30), with_c2=False)
        h.record(analyse(b.build(), Q("2026-Q1"), h))
        later = quarter_book("2026-Q2", {"2026-Q1": 105, "2026-Q2": 120}, D(2026, 9, 30), with_c2=False).build()
        a = analyse(later, Q("2026-Q2"), h)
    kq = a.kpi_quarterly.set_index("quarter")
    assert kq.loc["2025-Q4", "origin"] == "history" and kq.loc["2025-Q4", "actual"] == 80
    assert kq.loc["2026-Q1", "origin"] == "workbook" and kq.loc["2026-Q1", "actual"] == 105  # the workbook wins
    assert kq.loc["2026-Q1", "change_qoq"] == pytest.approx(105 / 80 - 1)
    # the restated Q1 (100 -> 105) is flagged, the history-filled Q4 is not compared with itself
    assert flagset(a, "KPI_RESTATED") == {("P1", "KPI_RESTATED", "pipeline")}


def test_slip_count_without_history_counts_the_baseline_slip_once():
    b = quarter_book("2026-Q2", {"2026-Q2": 100}, D(2026, 7, 31), with_c2=False)
    a = analyse(b.build(), Q("2026-Q2"))
    c1 = a.commitment_status.set_index("commitment_id").loc["C-1"]
    assert c1["slip_count"] == 1 and c1["slip_days"] == 92 and not c1["slipped_now"]


def test_the_analysis_reads_the_history_once_before_it_and_never_during(tmp_path):
    """The edge reads a snapshot; the analysis over it is pure: the same result with the file closed."""
    from pipeline.analyse.analysis import TRACK_QUARTERS

    with History(tmp_path / "h.sqlite") as h:
        h.record(analyse(quarter_book("2026-Q1", {"2025-Q4": 80, "2026-Q1": 100}, D(2026, 9, 30),
                                      with_c2=False).build(), Q("2026-Q1"), h))
        later = quarter_book("2026-Q2", {"2026-Q1": 105, "2026-Q2": 120}, D(2026, 9, 30), with_c2=False).build()
        live = analyse(later, Q("2026-Q2"), h)
        snapshot = h.snapshot(Q("2026-Q2"), TRACK_QUARTERS)
    (tmp_path / "h.sqlite").unlink()  # nothing left to read
    pure = analyse(later, Q("2026-Q2"), snapshot)
    assert pure.kpi_quarterly.equals(live.kpi_quarterly) and pure.flags.equals(live.flags)
    assert pure.health.equals(live.health) and snapshot.previous_run == Q("2026-Q1")
