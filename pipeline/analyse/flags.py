"""Every flag of the catalog (review.md "Flag catalog"), with its evidence in numbers.

Each ``_code`` function takes the analysis so far (`FlagInputs`) and returns rows of the ``flags``
frame for one code; `build_flags` joins them and sorts them most severe first, then by code and
subject. Thresholds come from the config (pipeline.core.settings.DEFAULTS); docs/analysis.md lists them. A
verdict `kpis` already gave (the attainment band in ``status``, `kpis.beyond_tolerance`) is read, not redone.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from pipeline.analyse.kpis import beyond_tolerance
from pipeline.analyse.wording import ORDINALS, attainment_pct, count_words, day, fmt_value, pct
from pipeline.core.frames import Thresholds
from pipeline.core.periods import Quarter
from pipeline.core.problems import ERROR, Problem
from pipeline.core.schema import BELOW_TARGET, DISCREPANCY, FLAG_SEVERITIES, STATUS
from pipeline.core.settings import Config

COLUMNS = ["quarter", "partner_id", "code", "severity", "subject", "message", "whose_move", "agenda", "clause"]
# What a pause changes (docs/analysis.md "Paused partners"): a paused partner's targets are not held against it,
# so the flags that judge its figures against plan are not raised; every other flag is.
PAUSE_SUSPENDS = ("KPI_BELOW_TARGET", "KPI_DECLINING", "KPI_MISSING")
STATUS_WORDS = {"not_started": "not started", "in_progress": "in progress", "blocked": "blocked", "done": "done",
                "cancelled": "cancelled"}


@dataclass
class FlagInputs:
    quarter: Quarter
    config: Config
    partner_ids: list[str]               # the partners flags are raised for (active and paused)
    kpi_quarterly: pd.DataFrame
    kpi_defs: pd.DataFrame               # kpis.kpi_definitions
    conflicts: pd.DataFrame              # kpis.kpi_tables()[1]
    commitments: pd.DataFrame            # commitment_status
    delivery: pd.DataFrame
    checkins: pd.DataFrame
    has_checkins_sheet: bool
    problems: list[Problem]
    restated: pd.DataFrame = field(default_factory=pd.DataFrame)  # restatements.restatements()
    previous_run: Quarter | None = None
    now: pd.DataFrame | None = None      # cache of _now()
    paused: list[str] = field(default_factory=list)  # registry status paused: PAUSE_SUSPENDS not raised for them
    their_files: dict[str, set[str]] = field(default_factory=dict)  # partner_id -> the files it sent us
    excluded: list[tuple[str, str, str, str]] = field(default_factory=list)  # Reconciled.excluded_figures


def _frame(rows: pd.DataFrame | list[dict[str, Any]], **const: Any) -> pd.DataFrame:
    df = pd.DataFrame(rows) if isinstance(rows, list) else rows
    for k, v in const.items():
        df[k] = v
    return df.reindex(columns=COLUMNS[1:]) if len(df) else pd.DataFrame(columns=COLUMNS[1:])


def _rows(frame: pd.DataFrame) -> Iterable[Any]:
    """``frame.itertuples()``, each row typed Any: its fields hold text, numbers, NaN and dates side by side,
    which pandas-stubs can only type as the union of every scalar (so no field could be formatted)."""
    return frame.itertuples()


def _now(fi: FlagInputs) -> pd.DataFrame:
    """This quarter's KPI rows of the flagged partners, with the KPI definitions (computed once)."""
    if fi.now is None:
        kq = fi.kpi_quarterly
        now = kq[(kq["qindex"] == fi.quarter.index) & kq["partner_id"].isin(fi.partner_ids)]
        fi.now = now.merge(fi.kpi_defs[["kpi_id", "kpi_name", "unit", "direction"]], on="kpi_id", how="left")
    return fi.now


def _held(fi: FlagInputs) -> pd.DataFrame:
    """This quarter's KPI rows of the partners held to their targets: every flagged partner not paused."""
    now = _now(fi)
    return now[~now["partner_id"].isin(fi.paused)] if fi.paused else now


def _fig(fi: FlagInputs, value: Any, unit: str) -> str:
    """A figure in the one number style, a currency figure with the reporting currency's code."""
    return fmt_value(value, unit, fi.config.currency)


def _months_note(months: int) -> str:
    return f" ({months} of 3 months reported)" if 0 < months < 3 else ""


# --------------------------------------------------------------------------------------------------
# KPI flags
def kpi_below_target(fi: FlagInputs) -> pd.DataFrame:
    now = _held(fi)
    hit = now[now[STATUS].isin(BELOW_TARGET)]  # the band `kpis` gave: under kpi.attainment_medium
    msgs, agenda, clauses = [], [], []
    edges = Thresholds.of(fi.config).edges
    for r in _rows(hit):
        lower = r.direction == "lower"
        what = "attainment" if lower else "of target"
        tail = " (lower is better)" if lower else ""
        msgs.append(f"{r.kpi_name} {_fig(fi, r.actual, r.unit)} vs target {_fig(fi, r.target, r.unit)}{tail}: "
                    f"{attainment_pct(r.attainment, edges)} {what}{_months_note(r.months_reported)}")
        agenda.append(f"{r.kpi_name} at {attainment_pct(r.attainment, edges)} {what}: agree what closes the gap next quarter")
        clauses.append(f"{attainment_pct(r.attainment, edges)} {what} ({_fig(fi, r.actual, r.unit)} against "
                       f"{_fig(fi, r.target, r.unit)}{'; lower is better' if lower else ''})"
                       f"{_months_note(r.months_reported)}")
    sev = np.where(hit[STATUS] == "off_track", "high", "medium")  # off track: under kpi.attainment_high
    return _frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["kpi_id"], "severity": sev,
                                "message": msgs, "agenda": agenda, "clause": clauses}), code="KPI_BELOW_TARGET",
                  whose_move="joint")


def kpi_declining(fi: FlagInputs) -> pd.DataFrame:
    n = int(fi.config.kpi.declining_quarters)
    now = _held(fi)
    now = now[now["actual"].notna()]
    if n < 1 or not len(now):
        return _frame([])
    kq = fi.kpi_quarterly
    series = kq.set_index(["partner_id", "kpi_id", "qindex"])["actual"].where(~kq["partial"].to_numpy()) \
        if "partial" in kq else kq.set_index(["partner_id", "kpi_id", "qindex"])["actual"]
    vals = np.column_stack([series.reindex(pd.MultiIndex.from_arrays(
        [now["partner_id"], now["kpi_id"], now["qindex"] - k])).to_numpy() for k in range(n, -1, -1)])  # oldest first
    step = np.diff(vals, axis=1) * np.where(now["direction"] == "lower", -1.0, 1.0)[:, None]
    wrong = (step < 0).all(axis=1) & ~np.isnan(vals).any(axis=1)
    hit, hv = now[wrong], vals[wrong]
    quarters = [fi.quarter.shift(-k).label for k in range(n, -1, -1)]
    msgs, clauses = [], []
    for r, row in zip(_rows(hit), hv):
        verb = "rose" if r.direction == "lower" else "fell"
        tail = " (lower is better)" if r.direction == "lower" else ""
        path = " → ".join(f"{_fig(fi, v, r.unit)} ({q})" for v, q in zip(row, quarters))
        msgs.append(f"{r.kpi_name} {verb} {count_words(n)} quarters running{tail}: {path}")
        clauses.append(f"{'rising' if r.direction == 'lower' else 'falling'} {count_words(n)} quarters running "
                       f"({' → '.join(_fig(fi, v, r.unit) for v in row)} since {quarters[0]})")
    agenda = [f"Why {k} has moved the wrong way {count_words(n)} quarters running" for k in hit["kpi_name"]]
    return _frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["kpi_id"], "message": msgs,
                                "agenda": agenda, "clause": clauses}), code="KPI_DECLINING", severity="low", whose_move="joint")


def kpi_missing(fi: FlagInputs) -> pd.DataFrame:
    """A KPI with a target but no full quarter of figures. Whose move it is follows why: a figure of ours left
    out (a blank or unreadable cell: the data notes list it) is ours to correct, one of theirs theirs to send
    again; with nothing left out, both sides agree who reports it."""
    now = _held(fi)
    hit = now[now["status"].isin(["missing", "partial"])]
    q = fi.quarter.label
    left_out: dict[tuple[str, str], set[str]] = {}
    for pid, kid, quarter, source in fi.excluded:
        if quarter == q:
            left_out.setdefault((str(pid), str(kid)), set()).add("partner" if source == "partner" else "us")
    msgs, clauses, agenda, whose = [], [], [], []
    for r in _rows(hit):
        sides = left_out.get((str(r.partner_id), str(r.kpi_id)), set())
        why = ("" if not sides else
               "; our figure could not be read (see the data notes) and we are correcting it" if sides == {"us"} else
               "; your figure could not be read (see the data notes): please send it again" if sides == {"partner"}
               else "; figures on both sides could not be read (see the data notes)")
        target = _fig(fi, r.target, r.unit)
        if r.status == "missing":
            msgs.append(f"{r.kpi_name}: target {target} for {q}, no actual reported by either side" if not sides else
                        f"{r.kpi_name}: target {target} for {q}, no actual to measure{why}")
            clauses.append(f"not reported for {q} by either side (target {target})" if not sides else
                           f"not measured for {q} (target {target}){why}")
        else:
            so_far = _fig(fi, r.actual, r.unit)
            msgs.append(f"{r.kpi_name}: only {r.months_reported} of 3 months reported for {q} ({so_far} so far), "
                        f"so it is not measured against the quarter's target of {target}{why}")
            clauses.append(f"only {r.months_reported} of 3 months reported ({so_far} so far), so not measured "
                           f"against the target of {target}{why}")
        agenda.append(f"Who reports {r.kpi_name} for {q}, and by when" if len(sides) != 1 else
                      f"We correct our {r.kpi_name} figure for {q}" if sides == {"us"} else
                      f"{r.kpi_name} for {q}: a figure we can read")
        whose.append(next(iter(sides)) if len(sides) == 1 else "joint")
    return _frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["kpi_id"], "message": msgs,
                                "agenda": agenda, "clause": clauses, "whose_move": whose}),
                  code="KPI_MISSING", severity="medium")


def kpi_discrepancy(fi: FlagInputs) -> pd.DataFrame:
    now = _now(fi)
    tol = fi.config.kpi.discrepancy_tolerance
    hit = now[beyond_tolerance(now[DISCREPANCY], tol)]
    msgs = [f"{r.kpi_name}: internal figure {_fig(fi, r.internal, r.unit)} vs partner-reported "
            f"{_fig(fi, r.partner, r.unit)}: {r.discrepancy * 100:.1f}% apart (tolerance {tol * 100:.0f}%); "
            f"the review uses the {r.actual_source} figure" for r in _rows(hit)]
    agenda = [f"Agree the {k} figure for {fi.quarter.label} and how each side counts it" for k in hit["kpi_name"]]
    # the finding's words, for the partner who reads it: our figure and yours, never "internal"
    clauses = [f"our figure {_fig(fi, r.internal, r.unit)}, yours "
               f"{_fig(fi, r.partner, r.unit)}: {r.discrepancy * 100:.1f}% apart (tolerance "
               f"{tol * 100:.0f}%); this review uses {'ours' if r.actual_source == 'internal' else 'yours'}"
               for r in _rows(hit)]
    return _frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["kpi_id"], "message": msgs,
                                "agenda": agenda, "clause": clauses}), code="KPI_DISCREPANCY", severity="medium",
                  whose_move="joint")


def kpi_conflict(fi: FlagInputs) -> pd.DataFrame:
    c = fi.conflicts
    c = c[(c["quarter"] == fi.quarter.label) & c["partner_id"].isin(fi.partner_ids)]
    if not len(c):
        return _frame([])
    c = c.merge(fi.kpi_defs[["kpi_id", "kpi_name", "unit", "direction"]], on="kpi_id", how="left")
    c["kept"] = np.where(c["direction"] == "lower", c["high"], c["low"])
    c["text"] = [f"{'partner-reported' if r.source == 'partner' else 'internal'} {r.period}: "
                 f"{_fig(fi, r.low, r.unit)} and {_fig(fi, r.high, r.unit)}, kept {_fig(fi, r.kept, r.unit)}"
                 for r in _rows(c)]
    c["said"] = [f"{'your' if r.source == 'partner' else 'our'} figures for {r.period}: "  # the finding's words
                 f"{_fig(fi, r.low, r.unit)} and {_fig(fi, r.high, r.unit)}, kept {_fig(fi, r.kept, r.unit)}"
                 for r in _rows(c)]
    g = c.groupby(["partner_id", "kpi_id"], sort=False).agg(
        kpi_name=("kpi_name", "first"), text=("text", "; ".join), said=("said", "; ".join),
        sources=("source", lambda s: sorted(set(s))))
    g = g.reset_index()
    msgs = [f"{r.kpi_name}: two different values for one period ({r.text}); the less favourable value is used"
            for r in _rows(g)]
    whose = ["joint" if len(s) > 1 else ("partner" if s[0] == "partner" else "us") for s in g["sources"]]
    agenda = [f"Settle which {k} figure is right and correct the workbook" for k in g["kpi_name"]]
    clauses = [f"two different values for one period ({r.said}); the less favourable is used" for r in _rows(g)]
    return _frame(pd.DataFrame({"partner_id": g["partner_id"], "subject": g["kpi_id"], "message": msgs,
                                "agenda": agenda, "whose_move": whose, "clause": clauses}), code="KPI_CONFLICT",
                  severity="medium")


def kpi_restated(fi: FlagInputs) -> pd.DataFrame:
    r = fi.restated
    if r is None or not len(r):
        return _frame([])
    r = r[r["partner_id"].isin(fi.partner_ids)].merge(fi.kpi_defs[["kpi_id", "kpi_name", "unit"]], on="kpi_id", how="left")
    r["text"] = [f"{x.quarter} {'partner-reported' if x.source == 'partner' else 'internal'} figure "
                 f"{_fig(fi, x.recorded, x.unit)} recorded, now {_fig(fi, x.now, x.unit)}"
                 f" ({(x.now - x.recorded) / abs(x.recorded) * 100:+.1f}%)" if x.recorded else
                 f"{x.quarter} figure {_fig(fi, x.recorded, x.unit)} recorded, now {_fig(fi, x.now, x.unit)}"
                 for x in _rows(r)]
    r["said"] = [f"{x.quarter}: {'your' if x.source == 'partner' else 'our'} figure {_fig(fi, x.recorded, x.unit)} "
                 f"recorded, now {_fig(fi, x.now, x.unit)}" for x in _rows(r)]  # the finding's words
    g = r.groupby(["partner_id", "kpi_id"], sort=False).agg(
        kpi_name=("kpi_name", "first"), text=("text", "; ".join), said=("said", "; ".join),
        sources=("source", lambda s: sorted(set(s)))).reset_index()
    whose = ["joint" if len(s) > 1 else ("partner" if s[0] == "partner" else "us") for s in g["sources"]]
    msgs = [f"{x.kpi_name} restated: {x.text}" for x in _rows(g)]
    agenda = [f"Confirm the restated {k} figures and the reason for the change" for k in g["kpi_name"]]
    clauses = [f"past figures restated ({x.said})" for x in _rows(g)]
    return _frame(pd.DataFrame({"partner_id": g["partner_id"], "subject": g["kpi_id"], "message": msgs,
                                "agenda": agenda, "whose_move": whose, "clause": clauses}), code="KPI_RESTATED",
                  severity="medium")


# --------------------------------------------------------------------------------------------------
# commitment flags
def _commitments(fi: FlagInputs) -> pd.DataFrame:
    c = fi.commitments
    return c[c["partner_id"].isin(fi.partner_ids)]


def _short(text: Any, limit: int = 60) -> str:
    s = "" if text is None or pd.isna(text) else str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def commitment_overdue(fi: FlagInputs) -> pd.DataFrame:
    c = _commitments(fi)
    hit = c[c["is_overdue"].astype(bool)]
    end = fi.quarter.end_date(fi.config.fy_start)
    msgs = [f"{r.commitment_id} due {day(r.due_date)}, {STATUS_WORDS.get(r.status, r.status)}: "
            + (f"{r.days_overdue} days overdue at {day(end)}" if r.days_overdue > 0 else
               "due on the quarter's last day and not done") for r in _rows(hit)]
    clauses = [(f"{r.days_overdue} {'day' if r.days_overdue == 1 else 'days'} overdue at {day(end)}"
                if r.days_overdue > 0 else "due on the quarter's last day and not done")
               + f" (due {day(r.due_date)}, {STATUS_WORDS.get(r.status, r.status)})" for r in _rows(hit)]
    agenda = [f"{r.commitment_id} ({_short(r.description)}): deliver it or agree a new date" for r in _rows(hit)]
    sev = np.where(hit["days_overdue"] > fi.config.commitments.overdue_high_days, "high", "medium")
    return _frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["commitment_id"], "severity": sev,
                                "message": msgs, "agenda": agenda, "whose_move": hit["party"], "clause": clauses}),
                  code="COMMITMENT_OVERDUE")


def commitment_slipped(fi: FlagInputs) -> pd.DataFrame:
    c = _commitments(fi)
    hit = c[c["is_open"].astype(bool) & ((c["slip_days"] > 0) | c["slipped_now"].astype(bool))]
    msgs, clauses = [], []
    for r in _rows(hit):
        parts = [f"{r.commitment_id} due {day(r.due_date)}"]
        if r.slip_days > 0:
            parts.append(f", agreed {day(r.first_due_date)}: slipped {r.slip_days} days")
        if r.slipped_now:
            parts.append(f"{';' if r.slip_days > 0 else ':'} moved from {day(r.previous_due_date)} "
                         f"since {fi.previous_run.label if fi.previous_run else 'last quarter'}")
        parts.append(f", {ORDINALS.get(int(r.slip_count), f'{int(r.slip_count)}th')} slip")
        msgs.append("".join(parts))
        clause = [f"due {day(r.due_date)}"]
        if r.slip_days > 0:
            clause.append(f"{r.slip_days} days later than first agreed ({day(r.first_due_date)})")
        if r.slipped_now:
            clause.append(f"moved from {day(r.previous_due_date)} since "
                          f"{fi.previous_run.label if fi.previous_run else 'last quarter'}")
        clauses.append(", ".join(clause) + f" (the {ORDINALS.get(int(r.slip_count), f'{int(r.slip_count)}th')} slip)")
    agenda = [f"{r.commitment_id} ({_short(r.description)}): confirm the new date and what holds it up" for r in _rows(hit)]
    cfg = fi.config
    high = (hit["slip_count"] >= cfg["commitments.slip_high_count"]) | (hit["slip_days"] >= cfg["commitments.slip_high_days"])
    return _frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["commitment_id"],
                                "severity": np.where(high, "high", "medium"), "message": msgs, "agenda": agenda,
                                "whose_move": hit["party"], "clause": clauses}), code="COMMITMENT_SLIPPED")


def commitment_dropped(fi: FlagInputs) -> pd.DataFrame:
    c = _commitments(fi)
    hit = c[c["is_dropped"].astype(bool)]
    last = fi.previous_run.label if fi.previous_run else "last quarter"
    msgs = [f"{r.commitment_id} ({_short(r.description)}) was open in {last} ({STATUS_WORDS.get(r.status, r.status)}, "
            f"due {day(r.due_date)}) and is absent from this quarter's workbooks" for r in _rows(hit)]
    agenda = [f"{r} : delivered, cancelled, or still wanted?" for r in hit["commitment_id"]]
    clauses = [f"open in {last} ({STATUS_WORDS.get(r.status, r.status)}, due {day(r.due_date)}) and no longer in the "
               "commitments log" for r in _rows(hit)]
    return _frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["commitment_id"], "message": msgs,
                                "agenda": agenda, "whose_move": hit["party"], "clause": clauses}),
                  code="COMMITMENT_DROPPED", severity="medium")


def commitment_stale(fi: FlagInputs) -> pd.DataFrame:
    c = _commitments(fi)
    hit = c[c["is_stale"].astype(bool)]
    end = pd.Timestamp(fi.quarter.end_date(fi.config.fy_start))
    limit = fi.config.commitments.stale_days
    msgs = [f"{r.commitment_id} never updated (limit {limit} days)" if pd.isna(r.last_updated) else
            f"{r.commitment_id} last updated {day(r.last_updated)}, {(end - r.last_updated).days} days before "
            f"the quarter's end (limit {limit} days)" for r in _rows(hit)]
    agenda = [f"{r}: status update" for r in hit["commitment_id"]]
    clauses = [m.split(" ", 1)[1].replace(f" (limit {limit} days)", "") for m in msgs]  # no id, no rule of ours
    return _frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["commitment_id"], "message": msgs,
                                "agenda": agenda, "whose_move": hit["party"], "clause": clauses}),
                  code="COMMITMENT_STALE", severity="low")


def commitment_incomplete(fi: FlagInputs) -> pd.DataFrame:
    c = _commitments(fi)
    hit = c[c["incomplete"].astype("str") != ""]
    msgs = [f"{r.commitment_id} is open with {r.incomplete}" for r in _rows(hit)]
    agenda = [f"{r.commitment_id}: fill in {r.incomplete.replace('no ', '')}" for r in _rows(hit)]
    clauses = [f"open with {r.incomplete}" for r in _rows(hit)]
    return _frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["commitment_id"], "message": msgs,
                                "agenda": agenda, "whose_move": hit["party"], "clause": clauses}),
                  code="COMMITMENT_INCOMPLETE", severity="low")


def reciprocity_imbalance(fi: FlagInputs) -> pd.DataFrame:
    d = fi.delivery
    d = d[d["partner_id"].isin(fi.partner_ids)]
    if not len(d):
        return _frame([])
    cfg = fi.config
    w = d.pivot(index="partner_id", columns="party", values=["open", "on_time_rate"])
    # pivoted on two values, the columns are (value, party): each value's part is a frame by party
    op = cast(pd.DataFrame, w["open"]).reindex(columns=["us", "partner", "joint"], fill_value=0).fillna(0)
    rate = cast(pd.DataFrame, w["on_time_rate"]).reindex(columns=["us", "partner", "joint"])
    total = op.sum(axis=1)
    share_us, share_p = op["us"] / total.where(total > 0), op["partner"] / total.where(total > 0)
    load = (total >= cfg["commitments.reciprocity_min_open"]) & (
        (share_us >= cfg["commitments.reciprocity_share"]) | (share_p >= cfg["commitments.reciprocity_share"]))
    gap = (rate["us"] - rate["partner"]).abs()
    rates = gap.notna() & (gap >= cfg["commitments.reciprocity_rate_gap"] - 1e-9)
    rows = []
    for pid in op.index[load | rates]:
        texts, said, movers = [], [], set()
        if load[pid]:
            heavy = "us" if share_us[pid] >= share_p[pid] else "partner"
            share = max(share_us[pid], share_p[pid])
            texts.append(f"{'we' if heavy == 'us' else 'the partner'} hold {int(op.loc[pid, heavy])} of {int(total[pid])} "
                         f"open commitments ({pct(share)}; us {int(op.loc[pid, 'us'])}, partner {int(op.loc[pid, 'partner'])}, "
                         f"joint {int(op.loc[pid, 'joint'])})")
            said.append(f"{'we' if heavy == 'us' else 'you'} hold {int(op.loc[pid, heavy])} of the {int(total[pid])} "
                        "open commitments")
            movers.add("partner" if heavy == "us" else "us")  # the lighter side takes on more
        if rates[pid]:
            ru, rp = rate.loc[pid, "us"], rate.loc[pid, "partner"]
            texts.append(f"on-time delivery us {pct(ru)} vs partner {pct(rp)} ({gap[pid] * 100:.0f} points apart)")
            said.append(f"commitments kept on time: ours {pct(ru)}, yours {pct(rp)}")
            movers.add("us" if ru < rp else "partner")
        rows.append(dict(partner_id=pid, subject="", message="; ".join(texts), clause="; ".join(said),
                         whose_move=movers.pop() if len(movers) == 1 else "joint",
                         agenda="Rebalance the commitments: who takes on what next quarter"))
    return _frame(rows, code="RECIPROCITY_IMBALANCE", severity="medium")


# --------------------------------------------------------------------------------------------------
def no_checkin(fi: FlagInputs) -> pd.DataFrame:
    if not fi.has_checkins_sheet:
        return _frame([])
    ci = fi.checkins
    had = set(ci.loc[ci["quarter"] == fi.quarter.label, "partner_id"])
    before = ci[pd.to_datetime(ci["date"]) <= pd.Timestamp(fi.quarter.end_date(fi.config.fy_start))]
    last = before.groupby("partner_id")["date"].max() if len(before) else pd.Series(dtype="datetime64[ns]")
    rows = [dict(partner_id=pid, subject="", agenda="Set the check-in cadence for next quarter",
                 message=f"no check-in recorded in {fi.quarter.label} "
                         f"(last: {day(last[pid]) if pid in last.index else 'none recorded'})")
            for pid in fi.partner_ids if pid not in had]
    return _frame(rows, code="NO_CHECKIN", severity="medium", whose_move="joint")


def data_problem(fi: FlagInputs) -> pd.DataFrame:
    """The partner's excluded rows, in one flag: whose move by whose files they are in (theirs: they fix them;
    ours: we do), the evidence with every cell for flags.csv, the clause the partner's review says."""
    wanted = set(fi.partner_ids)
    by: dict[str, list[Problem]] = {}
    for p in fi.problems:
        if p.severity == ERROR and p.partner_id in wanted:
            by.setdefault(p.partner_id, []).append(p)
    rows = []
    for pid, ps in by.items():
        where = "; ".join(p.where or p.code for p in ps[:3]) + (f"; and {len(ps) - 3} more" if len(ps) > 3 else "")
        theirs = sum(bool(p.file) and p.file in fi.their_files.get(pid, set()) for p in ps)
        ours = len(ps) - theirs
        said = []
        if theirs:
            said.append(f"{theirs} {'rows or values' if theirs > 1 else 'row or value'} of your files left out of this "
                        "review, each listed in the data notes with how to fix it")
        if ours:
            said.append(f"{ours} {'values' if ours > 1 else 'value'} of our records left out of this review, which we "
                        "are correcting")
        rows.append(dict(partner_id=pid, subject="",
                         message=f"{len(ps)} {'rows or values' if len(ps) > 1 else 'row or value'} excluded: {where}",
                         agenda="Correct the excluded rows listed in the data notes",
                         whose_move="partner" if not ours else "us" if not theirs else "joint",
                         clause="; ".join(said)))
    return _frame(rows, code="DATA_PROBLEM", severity="medium")


RULES = (kpi_below_target, kpi_declining, kpi_missing, kpi_discrepancy, kpi_conflict, kpi_restated,
         commitment_overdue, commitment_slipped, commitment_dropped, commitment_stale, commitment_incomplete,
         reciprocity_imbalance, no_checkin, data_problem)


def build_flags(fi: FlagInputs) -> pd.DataFrame:
    """Every flag for the quarter, most severe first, then by code, subject and partner. Besides the columns of
    flags.csv: ``whose_move``, ``agenda`` and ``clause``, the evidence without its subject's name, which
    `pipeline.analyse.findings` joins into one sentence per subject."""
    parts = [f for f in (rule(fi) for rule in RULES) if len(f)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in COLUMNS})
    flags = pd.concat(parts, ignore_index=True)
    flags.insert(0, "quarter", fi.quarter.label)
    flags["subject"] = flags["subject"].fillna("").astype("str")
    flags["whose_move"] = flags["whose_move"].fillna("").astype("str")
    clause = flags["clause"].astype("object").fillna("").astype("str")
    flags["clause"] = clause.where(clause != "", flags["message"])  # a flag with no subject says it whole
    rank = flags["severity"].map({s: i for i, s in enumerate(FLAG_SEVERITIES)})
    order = flags.assign(_rank=rank).sort_values(["_rank", "code", "subject", "partner_id"], kind="stable").index
    return flags.loc[order, COLUMNS].reset_index(drop=True).astype({c: "str" for c in COLUMNS})
