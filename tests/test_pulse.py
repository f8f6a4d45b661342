"""The Pulse sheet (workbooks.md): how a partner rates the partnership, read like every other sheet."""
from __future__ import annotations

import math

import workbook_builders as W
from pipeline.reconcile.load import load

HEAD = ["partner_id", "period", "question_id", "question", "score", "comment"]


def test_pulse_ratings_are_read_and_bad_scores_reported_never_zero(tmp_path):
    inp = W.clean_portfolio(tmp_path / "in")
    W.write_xlsx(inp / "returned.xlsx", {"Partnership Pulse": [
        HEAD,
        ["ACME", "2026-Q1", "communication", "How well do we keep you informed?", 4, "weekly syncs help"],
        ["ACME", "2026-Q1", "value", "How much value do you get?", None, None],            # not answered
        ["ACME", "2026-Q1", "trust", "Do you trust the shared figures?", 0, None],          # no zero on a 1-5 scale
        ["ACME", "2026-Q1", "planning", "Joint planning", 6, None],
        ["ACME", "2026-Q1", "responsive", "Responsiveness", 3.5, None],
        ["GLOBEX", "2026-02", "communication", "", "four", None],
        ["Acme Crop", "2026-Q1", "communication", "", 5, None],
        ["ACME", "2026-Q1", "communication", "again", 2, "a second answer"],
        ["GLOBEX", "2026-03", "value", "", "5", "R&D <urgent>"],
    ]})
    rec = load(inp)
    pulse = rec.pulse.sort_values(["partner_id", "question_id"]).reset_index(drop=True)
    got = [(r.partner_id, r.quarter, r.question_id, None if math.isnan(r.score) else r.score, r.comment)
           for r in pulse.itertuples()]
    assert got == [("ACME", "2026-Q1", "communication", 4.0, "weekly syncs help"),
                   ("ACME", "2026-Q1", "value", None, ""),
                   ("GLOBEX", "2026-Q1", "value", 5.0, "R&D <urgent>")]
    problems = {(p.code, p.cell) for p in rec.problems if p.sheet == "Partnership Pulse"}
    assert problems == {("VALUE_OUT_OF_RANGE", "E4"), ("VALUE_OUT_OF_RANGE", "E5"), ("VALUE_OUT_OF_RANGE", "E6"),
                        ("VALUE_NOT_NUMBER", "E7"), ("REF_UNKNOWN_PARTNER", "A8"), ("DUPLICATE_KEY", "C9")}
    by_cell = {p.cell: p for p in rec.problems if p.sheet == "Partnership Pulse"}
    assert by_cell["E4"].partner_id == "ACME" and "whole number from 1 to 5" in by_cell["E4"].message
    assert by_cell["E4"].message.startswith("question trust, 2026-Q1, partner ACME: ")
    assert by_cell["A8"].partner_id == ""   # whose rating it is cannot be told: in no partner's review
    assert (pulse["file"] == "returned.xlsx").all() and set(pulse["sheet"]) == {"Partnership Pulse"}


def test_a_pulse_sheet_is_known_by_its_header_too(tmp_path):
    inp = W.clean_portfolio(tmp_path / "in")
    W.write_xlsx(inp / "returned.xlsx", {"Sheet1": [HEAD, ["GLOBEX", "2026-Q1", "value", "", 3, ""]]})
    rec = load(inp)
    assert list(rec.pulse["score"]) == [3.0]
    assert "pulse" in rec.frames()


# --- the pulse goes into the history -----------------------------------------------------------------

def test_a_v1_history_is_migrated_and_keeps_its_runs(tmp_path):
    import sqlite3

    from pipeline.analyse.history import MIGRATIONS, SCHEMA_VERSION, History

    path = tmp_path / "history.sqlite"
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[1] + "PRAGMA user_version = 1;")
    con.execute("INSERT INTO run VALUES (8105, '2026-Q2', '2026-07-01T00:00:00+00:00')")
    con.commit()
    con.close()
    with History(path) as h:
        assert h.schema_version == SCHEMA_VERSION == 2
        assert [q.label for q in h.runs()] == ["2026-Q2"]
        assert h.conn.execute("SELECT COUNT(*) FROM pulse").fetchone()[0] == 0


def test_pulse_ratings_are_recorded_and_read_back_for_later_quarters(tmp_path):
    from pipeline.analyse.analysis import analyse
    from pipeline.analyse.history import History
    from pipeline.core.periods import Quarter

    inp = W.clean_portfolio(tmp_path / "in")
    W.write_xlsx(inp / "returned.xlsx", {"Pulse": [
        HEAD, ["ACME", "2026-Q1", "communication", "Informed?", 4, "weekly syncs help"],
        ["ACME", "2026-Q1", "value", "Value?", None, None]]})
    rec = load(inp)
    with History(tmp_path / "history.sqlite") as h:
        h.record(analyse(rec, Quarter.parse("2026-Q1"), h))
        h.record(analyse(rec, Quarter.parse("2026-Q1"), h))       # a re-run replaces, never doubles
        later = h.pulse(Quarter.parse("2026-Q2"))
        assert h.pulse(Quarter.parse("2026-Q1")).empty           # never the quarter itself
        snap = h.snapshot(Quarter.parse("2026-Q2"), 4)
    rows = [(r.partner_id, r.quarter, r.question_id, None if math.isnan(r.score) else r.score, r.comment)
            for r in later.itertuples()]
    assert rows == [("ACME", "2026-Q1", "communication", 4.0, "weekly syncs help"), ("ACME", "2026-Q1", "value", None, "")]
    assert len(snap.pulse) == 2
