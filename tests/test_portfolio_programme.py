"""The portfolio as the alliance director's cockpit (issue 16): the programme frames the analysis builds
(`Analysis.programme`) and what the portfolio PDF shows of them, over two quarters run through `report`,
so the history is a real SQLite file."""
from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pandas as pd
import pytest
from click.testing import CliRunner
from pypdf import PdfReader

import workbook_builders as W
from pipeline.analyse.analysis import TRACK_QUARTERS, analyse
from pipeline.analyse.history import History
from pipeline.cli import cli
from pipeline.core.periods import Quarter
from pipeline.reconcile.load import load
from pipeline.render.layout import fmt_number

FIRST, SECOND = Quarter.parse("2025-Q4"), Quarter.parse("2026-Q1")
AS_OF = "2026-04-02"
FX = {"2025-Q1": 1.05, "2025-Q4": 1.08, "2026-Q1": 1.1}  # USD per EUR: GLOBEX reports revenue in euros


def _inputs(folder):
    targets = [W.TARGETS[0]]
    actuals = [W.ACTUALS[0]]
    for q, (acme, globex) in {"2025-Q1": (80000, 40000), "2025-Q4": (90000, 45000), "2026-Q1": (100000, 50000)}.items():
        targets += [["ACME", "revenue", q, acme], ["GLOBEX", "revenue", q, globex], ["ACME", "deals", q, 10]]
    for q, (acme, globex_eur, deals) in {"2025-Q1": (70000, 30000, 9), "2025-Q4": (99000, 44000, 12),
                                         "2026-Q1": (60000, 41000, 5)}.items():
        actuals += [["ACME", "revenue", q, acme, "internal", None, None],
                    ["GLOBEX", "revenue", q, globex_eur, "internal", "EUR", None],
                    ["ACME", "deals", q, deals, "internal", None, None],
                    ["ACME", "revenue", q, acme * 1.01, "partner", None, "their CRM"]]
    actuals.append(["Globx", "deals", "2026-Q1", 3, "internal", None, None])  # no partner: the portfolio only
    commitments = [W.COMMITMENTS[0],
                   ["C-001", "ACME", "us", "Joint webinar", "Olga Owner", dt.date(2025, 11, 15), None, "Done",
                    1, None, dt.date(2025, 11, 20), dt.date(2025, 11, 14), None, None],
                   ["C-002", "ACME", "us", "Pricing sheet", "Oscar Owner", dt.date(2026, 2, 1), None, "In progress",
                    0.5, None, dt.date(2026, 3, 20), None, None, None],
                   ["C-003", "GLOBEX", "joint", "Co-sell plan", "Gus Lead", dt.date(2026, 1, 10), None, "Not started",
                    None, "deals", dt.date(2026, 3, 10), None, None, None],
                   ["C-004", "GLOBEX", "us", "Demo environment", "Olga Owner", dt.date(2026, 6, 30),
                    dt.date(2026, 2, 15), "In progress", 0.3, None, dt.date(2026, 3, 25), None, None, None],
                   ["C-005", "GLOBEX", "partner", "Train sellers", "Gus Lead", dt.date(2026, 1, 5), None, "Not started",
                    None, None, dt.date(2026, 3, 1), None, None, None]]
    checkins = W.CHECKINS + [["Acme Crop", dt.date(2026, 2, 11), "QBR", "Ana", "typo in the name"]]
    fx = [["period", "currency", "rate"]] + [[q, "EUR", r] for q, r in FX.items()]
    W.write_xlsx(folder / "registry.xlsx", {"Partners": W.PARTNERS, "KPIs": W.KPIS})
    W.write_xlsx(folder / "plan.xlsx", {"Targets": targets, "Commitments": commitments, "Check-ins": checkins,
                                        "FX Rates": fx})
    W.write_xlsx(folder / "actuals.xlsx", {"Actuals": actuals})
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Both quarters reported in order into one output folder (one history file), then the second
    quarter analysed again over that history, as `report` analysed it."""
    inp = _inputs(tmp_path_factory.mktemp("in"))
    out = tmp_path_factory.mktemp("out")
    for q in (FIRST, SECOND):
        result = CliRunner().invoke(cli, ["report", "--input", str(inp), "--output", str(out), "--quarter", q.label,
                                          "--jobs", "1", "--as-of", AS_OF])
        assert result.exit_code in (0, 1), result.output
        assert (out / q.label / "manifest.json").is_file(), result.output
    rec = load(inp)
    with History(out / "history.sqlite") as h:
        snapshot = h.snapshot(SECOND, TRACK_QUARTERS)
    a = analyse(rec, SECOND, snapshot, as_of=dt.date.fromisoformat(AS_OF))
    manifest = json.loads((out / SECOND.label / "manifest.json").read_text())
    pages = [" ".join((p.extract_text() or "").split()) for p in
             PdfReader(out / SECOND.label / manifest["portfolio_pdf"]).pages]
    return a, out, pages


def _fx(rec, quarter: str) -> pd.Series:
    """Each internal revenue figure of `quarter` in the reporting currency, converted here from the input."""
    kv = rec.kpi_values
    rows = kv[(kv["kpi_id"] == "revenue") & (kv["quarter"] == quarter) & (kv["source"] == "internal")]
    rate = rows["currency"].map(lambda c: FX[quarter] if c == "EUR" else 1.0)
    return rows["original_value"].astype(float) * rate


def test_money_totals_are_the_sum_of_the_partners_figures_with_fx(run):
    a, _, pages = run
    money = a.programme.money.set_index("kpi_id")
    assert set(money.index) == set(a.reconciled.kpis.loc[a.reconciled.kpis["unit"] == "currency", "kpi_id"])
    rev = money.loc["revenue"]
    expected = _fx(a.reconciled, SECOND.label).sum()
    assert rev["actual"] == pytest.approx(expected)
    assert rev["actual"] == pytest.approx(a.programme.money_rows.query("kpi_id == 'revenue'")["actual"].sum())
    t = a.reconciled.targets
    target = t[(t["kpi_id"] == "revenue") & (t["quarter"] == SECOND.label)]["target"].sum()
    assert rev["target"] == pytest.approx(target) and rev["attainment"] == pytest.approx(expected / target)
    for col, q in (("previous_actual", SECOND.previous().label), ("year_ago_actual", SECOND.year_ago().label)):
        before = _fx(a.reconciled, q).sum()
        assert rev[col] == pytest.approx(before)
    assert rev["change_qoq"] == pytest.approx(expected / _fx(a.reconciled, FIRST.label).sum() - 1)
    assert rev["reported"] == rev["targeted"] == 2
    first = pages[0]
    assert "The programme at a glance" in first and "Decisions to take" in first
    currency = a.reconciled.config.currency
    assert fmt_number(expected, "currency", currency) in first and fmt_number(target, "currency", currency) in first


def test_bands_count_every_partner_reviewed_by_tier(run):
    a, _, pages = run
    b = a.programme.bands.set_index("tier")
    assert b.loc["All partners", "total"] == len(a.health) == b.drop("All partners")["total"].sum()
    tiers = dict(zip(a.reconciled.partners["partner_id"], a.reconciled.partners["tier"]))
    for (tier, status), n in a.health.groupby([a.health["partner_id"].map(tiers), "status"]).size().items():
        assert b.loc[tier, status] == n
    assert "Partners by band and tier" in pages[0]


def test_the_owners_late_list_is_the_commitments_frame(run):
    a, _, pages = run
    cs = a.commitment_status
    ours = cs[cs["party"].isin(["us", "joint"]) & ~cs["is_dropped"].astype(bool)]
    late = ours[ours["is_open"].astype(bool) & (ours["is_overdue"].astype(bool) | (ours["slip_days"] > 0)
                                                | ours["slipped_now"].astype(bool))]
    got = a.programme.late.set_index("commitment_id")
    assert set(got.index) == set(late["commitment_id"]) == {"C-002", "C-003", "C-004"}
    for r in late.to_dict("records"):
        assert got.loc[r["commitment_id"], "days_late"] == r["days_overdue"]
        owner = r["owner"] if r["party"] == "us" else \
            a.reconciled.partners.set_index("partner_id").loc[r["partner_id"], "internal_owner"]
        assert got.loc[r["commitment_id"], "owner"] == owner
    owners = a.programme.owners.set_index("owner")
    assert owners["late"].sum() == len(late)
    assert owners["made"].sum() == len(ours)
    done = ours[ours["on_time"].notna()]
    olga = done[done["commitment_id"].isin(["C-001"])]
    assert owners.loc["Olga Owner", "done_on_time"] == int(olga["on_time"].astype(bool).sum())
    text = " ".join(pages[1:])
    section = text[text.index("Our accountability"):text.index("Open disagreements")]
    for r in late.to_dict("records"):
        assert r["commitment_id"] in section
        if r["days_overdue"]:
            assert f"{r['commitment_id']} ({'ours' if r['party'] == 'us' else 'joint'})" in section


def test_every_unattributable_input_problem_is_listed_with_did_you_mean(run):
    a, _, pages = run
    unowned = [p for p in a.reconciled.problems.actionable if not p.partner_id]
    assert len(unowned) >= 2
    u = a.programme.unattributed
    assert u[["file", "sheet", "cell", "code"]].values.tolist() == [[p.file, p.sheet, p.cell, p.code] for p in unowned]
    text = " ".join(pages)
    section = text[text.index("Input problems no partner review shows"):]
    for p in unowned:
        assert p.where in section
    typo = u[u["message"].str.contains("Acme Crop")]
    assert len(typo) == 1 and "Acme Corp" in typo["did_you_mean"].iloc[0].split(", ")
    assert f"{typo['did_you_mean'].iloc[0]} use the partner_id" in section  # its own column, before the fix


def test_the_history_grid_has_a_row_per_partner_and_a_column_per_recorded_quarter(run):
    a, out, pages = run
    p = a.programme
    with sqlite3.connect(out / "history.sqlite") as conn:
        recorded = pd.read_sql_query("SELECT r.run_quarter AS quarter, h.partner_id, h.score, h.status FROM health h "
                                     "JOIN run r USING (run_qindex) ORDER BY h.run_qindex", conn)
    assert p.quarters == sorted(set(recorded["quarter"])) == [FIRST.label, SECOND.label]
    assert sorted(p.grid["partner_id"]) == sorted(set(recorded["partner_id"])) and p.grid["partner_id"].is_unique
    assert [c for c in p.grid.columns if c in p.quarters] == p.quarters
    grid = p.grid.set_index("partner_id")
    for r in recorded.to_dict("records"):
        assert grid.loc[r["partner_id"], r["quarter"]] == pytest.approx(r["score"], nan_ok=True)
    scores = p.grid["score"].fillna(-1).tolist()
    assert scores == sorted(scores, reverse=True)  # today's score, best first
    # the analysts' export: the same, one row per partner and quarter, in reconciled.xlsx
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(out / SECOND.label / "reconciled.xlsx"))
    rows = wb.get_sheet_by_name("history").to_python()
    head, body = rows[0], rows[1:]
    assert len(body) == len(p.grid) * len(p.quarters)
    assert {"partner_id", "quarter", "score", "status", "results points", "attainment revenue"} <= set(head)
    i, q, s = head.index("partner_id"), head.index("quarter"), head.index("score")
    for r in recorded.to_dict("records"):
        row = next(b for b in body if b[i] == r["partner_id"] and b[q] == r["quarter"])
        assert row[s] == pytest.approx(r["score"])
    text = " ".join(pages)
    ranking = text[text.index("Partners ranked by health"):text.index("Movers since last quarter")]
    positions = [ranking.index(n) for n in p.grid["partner_name"]]
    assert positions == sorted(positions)


def test_movers_are_only_those_that_moved_with_their_reason(run):
    a, _, pages = run
    m = a.programme.movers
    h = a.health.set_index("partner_id")
    moved = {pid for pid, r in h.iterrows() if pd.notna(r["previous_score"]) and round(r["score"] - r["previous_score"])}
    assert moved <= set(m["partner_id"])
    for r in m.to_dict("records"):
        assert round(r["change"]) != 0 or r["previous_status"] != r["status"]
        said = a.changes[r["partner_id"]]
        assert r["reason"] == (" ".join(said[1:]) or said[0])  # the reasons, after the move itself
        assert r["reason"] in h.loc[r["partner_id"], "change_reasons"]
    text = " ".join(pages)
    section = text[text.index("Movers since last quarter"):text.index("KPI attainment heat map")]
    assert "= 0" not in section


def test_what_changed_and_the_decisions_name_the_partners(run):
    a, _, pages = run
    p = a.programme
    assert p.changes and all(s.endswith(".") for s in p.changes)
    assert f"What changed since {FIRST.label}" in pages[0]
    assert 1 <= len(p.decisions) <= 5
    kinds = p.decisions["kind"].tolist()
    assert "our_overdue" in kinds and "input_problems" in kinds
    assert ("disagreements" in kinds) == bool(a.disagreements is not None and len(a.disagreements))
    worst = p.late.sort_values("days_late", ascending=False).iloc[0]
    overdue = p.decisions.set_index("kind").loc["our_overdue", "sentence"]
    assert f"{worst['commitment_id']} for" in overdue and f"{worst['days_late']} days late" in overdue
    for sentence in p.decisions["sentence"]:
        assert sentence[:60] in pages[0]


def test_missing_data_lists_kpis_without_the_partners_figure(run):
    a, _, pages = run
    kq = a.kpi_quarterly
    cur = kq[(kq["quarter"] == SECOND.label) & kq["target"].notna()]
    without = cur[cur["partner"].isna()].groupby("partner_id").size()
    m = a.programme.missing.set_index("partner_id")
    for pid, n in without.items():
        assert m.loc[pid, "without_their_figure"] == n
    assert "Data we are missing" in " ".join(pages)


# --- at scale: one summary page, long tables flowing on with their headers, pages growing linearly ----------

def _portfolio_of(folder, partners: int):
    from pipeline.render.portfolio import portfolio_pdf
    from pipeline.write.synthetic import write_portfolio

    write_portfolio(folder, partners=partners, kpis=4, quarters=4, commitments=6, seed=5)
    rec = load(folder)
    q = rec.quarters_with_actuals()[-1]
    a = analyse(rec, q, None, as_of=dt.date(2026, 10, 2))
    reader = PdfReader(__import__("io").BytesIO(portfolio_pdf(a)))
    return a, [" ".join((p.extract_text() or "").split()) for p in reader.pages]


def test_a_large_portfolio_keeps_one_summary_page_and_grows_linearly(tmp_path):
    small_a, small = _portfolio_of(tmp_path / "small", 30)
    big_a, big = _portfolio_of(tmp_path / "big", 90)
    for a, pages in ((small_a, small), (big_a, big)):
        assert "The programme at a glance" in pages[0] and "Decisions to take" in pages[0]
        assert pages[1].startswith(f"Portfolio review · {a.quarter.label} · internal") and \
            "Partners ranked by health" in pages[1]  # page 1 never spills over
        movers = next(i for i, p in enumerate(pages) if "Movers since last quarter" in p)
        for i in range(1, movers):  # the ranking flows on, its header repeated on every page it spans
            assert "Internal owner" in pages[i] and "KPIs on track" in pages[i], i
        first = next(i for i, p in enumerate(pages) if "late or slipped, by owner" in p)
        last = next(i for i, p in enumerate(pages) if "Open disagreements on figures" in p)
        for i in range(first, last):
            assert "Days late" in pages[i] and "Slipped by" in pages[i], i
        assert sum("Partners ranked by health" in p for p in pages) == 1
    assert next(i for i, p in enumerate(big) if "Movers since last quarter" in p) > 2  # the ranking did span pages
    # three times the partners: at most a little over three times the pages after the first
    assert len(big) - 1 <= 3.5 * (len(small) - 1)
    assert len(big) > len(small)


# --- the pure pieces ----------------------------------------------------------------------------------------

def test_names_are_listed_then_counted():
    from pipeline.analyse.programme import NAMES_SHOWN, names_list

    names = [f"P{i}" for i in range(NAMES_SHOWN + 5)]
    assert names_list(names[:1]) == "P0" and names_list(names[:2]) == "P0 and P1"
    assert names_list(names) == ", ".join(names[:NAMES_SHOWN]) + " and 5 more"


def test_without_an_earlier_quarter_nothing_is_compared_and_nobody_is_a_mover():
    from pipeline.analyse.programme import change_sentences
    from pipeline.analyse.timeline import movers

    health = pd.DataFrame({"partner_id": ["A", "B"], "score": [80, 40], "status": ["green", "red"],
                           "previous_score": [float("nan")] * 2})
    said = change_sentences(health, {}, None, {"A": "Alpha", "B": "Beta"}, [])
    assert len(said) == 1 and "nothing to compare with" in said[0]
    assert movers(health, {}, {}).empty


def test_decisions_come_most_pressing_first_and_five_at_most():
    from pipeline.analyse.programme import DECISIONS, decisions
    from pipeline.core.frames import Programme

    ids = [f"P{i}" for i in range(6)]
    health = pd.DataFrame({"partner_id": ids, "status": ["red"] * 6})
    previous = {"P0": "red", "P1": "red", "P2": "amber", "P3": "green"}
    late = pd.DataFrame({"owner": ["Olga", "Olga", "Oscar"], "partner_id": ["P0", "P1", "P2"],
                         "commitment_id": ["C1", "C2", "C3"], "days_late": [10, 40, 0]})
    dis = pd.DataFrame({"partner_id": ["P4"], "kpi_id": ["revenue"], "discrepancy": [0.2], "since": ["2026-Q1"],
                        "quarters": [2]})
    missing = pd.DataFrame({"partner_id": ["P5"], "request": ["not returned"]})
    unowned = Programme().unattributed.reindex([0])
    d = decisions(health, previous, late, dis, missing, unowned, {p: p.lower() for p in ids}, {"revenue": "Revenue"})
    assert d["kind"].tolist() == ["red_twice", "our_overdue", "disagreements", "turned_red", "not_returned"][:DECISIONS]
    assert d["partners"].iloc[0] == ["P0", "P1"] and d["partners"].iloc[3] == ["P2", "P3"]
    assert d["sentence"].iloc[1].index("C2") < d["sentence"].iloc[1].index("C1")  # most days late first
    assert "C3" not in d["sentence"].iloc[1]  # slipped, not overdue: in the late list, not in this decision
    assert "P4".lower() in d["sentence"].iloc[2] and "20% apart since 2026-Q1" in d["sentence"].iloc[2]


def test_a_partner_the_history_holds_but_no_longer_reviewed_closes_the_ranking():
    import io

    import render_fixtures as F
    from pipeline.analyse.history import HistorySnapshot
    from pipeline.analyse.programme import programme
    from pipeline.render.portfolio import portfolio_pdf

    a = F.analysis()
    a.reconciled.partners = pd.concat([a.reconciled.partners, pd.DataFrame([{
        "partner_id": "P-GONE", "partner_name": "Gone Ltd", "tier": "Silver", "status": "ended"}])], ignore_index=True)
    before = a.quarter.previous()
    runs = pd.DataFrame({"partner_id": [*a.health["partner_id"], "P-GONE"], "qindex": before.index,
                         "quarter": before.label, "score": [70.0] * len(a.health) + [35.0],
                         "status": ["amber"] * len(a.health) + ["red"]})
    empty = pd.DataFrame()
    snap = HistorySnapshot(quarter=a.quarter, previous_run=before, kpi_values=empty, commitments=empty,
                           commitment_runs=empty, health=empty, health_components=empty, health_runs=runs)
    a.programme = programme(a, snap)
    p = a.programme
    assert p.quarters == [before.label, a.quarter.label] and len(p.grid) == len(a.health) + 1
    assert p.grid["partner_id"].iloc[-1] == "P-GONE" and p.grid[before.label].iloc[-1] == 35
    assert any("No longer reviewed" in s and "Gone Ltd" in s for s in p.changes)
    text = " ".join(" ".join((pg.extract_text() or "").split()) for pg in
                    PdfReader(io.BytesIO(portfolio_pdf(a))).pages)
    ranking = text[text.index("Partners ranked by health"):text.index("Movers since last quarter")]
    assert "Gone Ltd" in ranking and "35 — Not reviewed" in ranking
