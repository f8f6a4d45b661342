"""Every flag of the catalog (review.md "Flag catalog"), with its evidence in numbers.

Each rule takes the analysis so far (`flag_inputs.FlagInputs`) and returns rows of the ``flags`` frame for
one code (the KPI rules here, the commitment rules in `commitment_flags`); `build_flags` joins them and
sorts them most severe first, then by code and subject. Thresholds come from the config
(pipeline.core.settings.DEFAULTS); docs/analysis.md lists them. A verdict `kpis` already gave (the attainment
band in ``status``, `kpis.beyond_tolerance`) is read, not redone.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.analyse.commitment_flags import (
    commitment_dropped,
    commitment_incomplete,
    commitment_overdue,
    commitment_slipped,
    commitment_stale,
    reciprocity_imbalance,
)
from pipeline.analyse.flag_inputs import COLUMNS, FlagInputs, flag_frame, rows_of
from pipeline.analyse.kpis import beyond_tolerance
from pipeline.analyse.wording import attainment_pct, count_words, day, fmt_value
from pipeline.core.frames import Thresholds
from pipeline.core.problems import ERROR, Problem
from pipeline.core.schema import BELOW_TARGET, DISCREPANCY, FLAG_SEVERITIES, STATUS


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
    for r in rows_of(hit):
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
    return flag_frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["kpi_id"], "severity": sev,
                                "message": msgs, "agenda": agenda, "clause": clauses}), code="KPI_BELOW_TARGET",
                  whose_move="joint")


def kpi_declining(fi: FlagInputs) -> pd.DataFrame:
    n = int(fi.config.kpi.declining_quarters)
    now = _held(fi)
    now = now[now["actual"].notna()]
    if n < 1 or not len(now):
        return flag_frame([])
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
    for r, row in zip(rows_of(hit), hv):
        verb = "rose" if r.direction == "lower" else "fell"
        tail = " (lower is better)" if r.direction == "lower" else ""
        path = " → ".join(f"{_fig(fi, v, r.unit)} ({q})" for v, q in zip(row, quarters))
        msgs.append(f"{r.kpi_name} {verb} {count_words(n)} quarters running{tail}: {path}")
        clauses.append(f"{'rising' if r.direction == 'lower' else 'falling'} {count_words(n)} quarters running "
                       f"({' → '.join(_fig(fi, v, r.unit) for v in row)} since {quarters[0]})")
    agenda = [f"Why {k} has moved the wrong way {count_words(n)} quarters running" for k in hit["kpi_name"]]
    return flag_frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["kpi_id"], "message": msgs,
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
    for r in rows_of(hit):
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
    return flag_frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["kpi_id"], "message": msgs,
                                "agenda": agenda, "clause": clauses, "whose_move": whose}),
                  code="KPI_MISSING", severity="medium")


def kpi_discrepancy(fi: FlagInputs) -> pd.DataFrame:
    now = _now(fi)
    tol = fi.config.kpi.discrepancy_tolerance
    hit = now[beyond_tolerance(now[DISCREPANCY], tol)]
    msgs = [f"{r.kpi_name}: internal figure {_fig(fi, r.internal, r.unit)} vs partner-reported "
            f"{_fig(fi, r.partner, r.unit)}: {r.discrepancy * 100:.1f}% apart (tolerance {tol * 100:.0f}%); "
            f"the review uses the {r.actual_source} figure" for r in rows_of(hit)]
    agenda = [f"Agree the {k} figure for {fi.quarter.label} and how each side counts it" for k in hit["kpi_name"]]
    # the finding's words, for the partner who reads it: our figure and yours, never "internal"
    clauses = [f"our figure {_fig(fi, r.internal, r.unit)}, yours "
               f"{_fig(fi, r.partner, r.unit)}: {r.discrepancy * 100:.1f}% apart (tolerance "
               f"{tol * 100:.0f}%); this review uses {'ours' if r.actual_source == 'internal' else 'yours'}"
               for r in rows_of(hit)]
    return flag_frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["kpi_id"], "message": msgs,
                                "agenda": agenda, "clause": clauses}), code="KPI_DISCREPANCY", severity="medium",
                  whose_move="joint")


def kpi_conflict(fi: FlagInputs) -> pd.DataFrame:
    c = fi.conflicts
    c = c[(c["quarter"] == fi.quarter.label) & c["partner_id"].isin(fi.partner_ids)]
    if not len(c):
        return flag_frame([])
    c = c.merge(fi.kpi_defs[["kpi_id", "kpi_name", "unit", "direction"]], on="kpi_id", how="left")
    c["kept"] = np.where(c["direction"] == "lower", c["high"], c["low"])
    c["text"] = [f"{'partner-reported' if r.source == 'partner' else 'internal'} {r.period}: "
                 f"{_fig(fi, r.low, r.unit)} and {_fig(fi, r.high, r.unit)}, kept {_fig(fi, r.kept, r.unit)}"
                 for r in rows_of(c)]
    c["said"] = [f"{'your' if r.source == 'partner' else 'our'} figures for {r.period}: "  # the finding's words
                 f"{_fig(fi, r.low, r.unit)} and {_fig(fi, r.high, r.unit)}, kept {_fig(fi, r.kept, r.unit)}"
                 for r in rows_of(c)]
    g = c.groupby(["partner_id", "kpi_id"], sort=False).agg(
        kpi_name=("kpi_name", "first"), text=("text", "; ".join), said=("said", "; ".join),
        sources=("source", lambda s: sorted(set(s))))
    g = g.reset_index()
    msgs = [f"{r.kpi_name}: two different values for one period ({r.text}); the less favourable value is used"
            for r in rows_of(g)]
    whose = ["joint" if len(s) > 1 else ("partner" if s[0] == "partner" else "us") for s in g["sources"]]
    agenda = [f"Settle which {k} figure is right and correct the workbook" for k in g["kpi_name"]]
    clauses = [f"two different values for one period ({r.said}); the less favourable is used" for r in rows_of(g)]
    return flag_frame(pd.DataFrame({"partner_id": g["partner_id"], "subject": g["kpi_id"], "message": msgs,
                                "agenda": agenda, "whose_move": whose, "clause": clauses}), code="KPI_CONFLICT",
                  severity="medium")


def kpi_restated(fi: FlagInputs) -> pd.DataFrame:
    r = fi.restated
    if r is None or not len(r):
        return flag_frame([])
    r = r[r["partner_id"].isin(fi.partner_ids)].merge(fi.kpi_defs[["kpi_id", "kpi_name", "unit"]], on="kpi_id", how="left")
    r["text"] = [f"{x.quarter} {'partner-reported' if x.source == 'partner' else 'internal'} figure "
                 f"{_fig(fi, x.recorded, x.unit)} recorded, now {_fig(fi, x.now, x.unit)}"
                 f" ({(x.now - x.recorded) / abs(x.recorded) * 100:+.1f}%)" if x.recorded else
                 f"{x.quarter} figure {_fig(fi, x.recorded, x.unit)} recorded, now {_fig(fi, x.now, x.unit)}"
                 for x in rows_of(r)]
    r["said"] = [f"{x.quarter}: {'your' if x.source == 'partner' else 'our'} figure {_fig(fi, x.recorded, x.unit)} "
                 f"recorded, now {_fig(fi, x.now, x.unit)}" for x in rows_of(r)]  # the finding's words
    g = r.groupby(["partner_id", "kpi_id"], sort=False).agg(
        kpi_name=("kpi_name", "first"), text=("text", "; ".join), said=("said", "; ".join),
        sources=("source", lambda s: sorted(set(s)))).reset_index()
    whose = ["joint" if len(s) > 1 else ("partner" if s[0] == "partner" else "us") for s in g["sources"]]
    msgs = [f"{x.kpi_name} restated: {x.text}" for x in rows_of(g)]
    agenda = [f"Confirm the restated {k} figures and the reason for the change" for k in g["kpi_name"]]
    clauses = [f"past figures restated ({x.said})" for x in rows_of(g)]
    return flag_frame(pd.DataFrame({"partner_id": g["partner_id"], "subject": g["kpi_id"], "message": msgs,
                                "agenda": agenda, "whose_move": whose, "clause": clauses}), code="KPI_RESTATED",
                  severity="medium")


# --------------------------------------------------------------------------------------------------
def no_checkin(fi: FlagInputs) -> pd.DataFrame:
    if not fi.has_checkins_sheet:
        return flag_frame([])
    ci = fi.checkins
    had = set(ci.loc[ci["quarter"] == fi.quarter.label, "partner_id"])
    before = ci[pd.to_datetime(ci["date"]) <= pd.Timestamp(fi.quarter.end_date(fi.config.fy_start))]
    last = before.groupby("partner_id")["date"].max() if len(before) else pd.Series(dtype="datetime64[ns]")
    rows = [dict(partner_id=pid, subject="", agenda="Set the check-in cadence for next quarter",
                 message=f"no check-in recorded in {fi.quarter.label} "
                         f"(last: {day(last[pid]) if pid in last.index else 'none recorded'})")
            for pid in fi.partner_ids if pid not in had]
    return flag_frame(rows, code="NO_CHECKIN", severity="medium", whose_move="joint")


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
    return flag_frame(rows, code="DATA_PROBLEM", severity="medium")


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
