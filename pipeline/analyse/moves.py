"""Why a partner's health moved since last quarter, in plain sentences with their numbers (the review's
"What changed since last quarter" and the history's comparison): the score's move or the state it is in,
then each part that moved, the KPIs whose status changed, and the commitments that closed or slipped.
Built on `pipeline.analyse.health`, which scores the quarter; this module only compares two quarters.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.analyse.health import COMPONENT_NAMES, COMPONENTS, NOT_SCORED, PAUSED, _short
from pipeline.analyse.wording import attainment_pct, count_words, day, fmt_value
from pipeline.core.frames import is_missing
from pipeline.core.periods import Quarter

STATUS_WORDS = {"on_track": "on track", "at_risk": "at risk", "off_track": "off track", "missing": "not reported",
                "no_target": "without a target"}
WHOSE = {"partner": ("of your commitments", "of your commitments"), "us": ("of our commitments", "of our commitments"),
         "joint": ("joint commitment", "joint commitments")}
STATE_WORDS = {PAUSED: "paused", NOT_SCORED: "not scored"}


def _said(status: str) -> str:
    return f"not scored ({STATE_WORDS[status]})" if status == PAUSED else STATE_WORDS.get(status, status)


def change_reasons(health: pd.DataFrame, breakdown: pd.DataFrame, previous: pd.DataFrame | None,
                   previous_parts: pd.DataFrame | None, kpi_quarterly: pd.DataFrame, kpi_defs: pd.DataFrame,
                   commitments: pd.DataFrame, quarter: Quarter, currency: str = "",
                   edges: tuple[float, ...] = ()) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Fill previous_score and change_reasons from what history recorded; returns the health frame and,
    per partner, plain sentences with their numbers: first the score's move (or the state it is in), then
    each part whose points moved by one or more, each KPI whose status changed (or, failing that, the KPI
    whose attainment moved most, by five points or more), and the commitments that slipped or were dropped
    this quarter. Only measured changes are named; nothing is said without an earlier run."""
    health = health.copy()
    if previous is None or not len(previous):
        return health, {}
    prev = previous.drop_duplicates("partner_id", keep="last").set_index("partner_id")
    health["previous_score"] = pd.to_numeric(health["partner_id"].map(prev["score"]), errors="coerce").astype(float)
    reasons: dict[str, list[str]] = {}
    q0 = quarter.previous().label
    if previous_parts is not None and len(previous_parts):
        m = breakdown[breakdown["component"].isin(COMPONENTS)].merge(
            previous_parts, on=["partner_id", "component"], suffixes=("", "_prev"))
        m = m[m["points"].notna() & m["points_prev"].notna()]
        known = m["value"].notna()
        moved = known & m["value_prev"].notna() & ((m["points"] - m["points_prev"]).abs() >= 1) & (
            (m["value"] * 100).round() != (m["value_prev"] * 100).round())
        new = known & m["value_prev"].isna()
        for r in m[moved | new].to_dict("records"):
            name = COMPONENT_NAMES[str(r["component"])]
            why = _short(r["detail"])
            pts, top, was_pts = int(r["points"]), float(r["max_points"]), int(r["points_prev"])
            if pd.isna(r["value_prev"]):
                text = f"{name} now count: {pts} of {top:.0f} points ({why}); nothing was measured in {q0}."
            else:
                way = "up" if pts > was_pts else "down"
                text = f"{name}: {pts} of {top:.0f} points, {way} from {was_pts} ({why})."
            reasons.setdefault(str(r["partner_id"]), []).append(text)
    for pid, texts in _kpi_moves(kpi_quarterly, kpi_defs, quarter, currency, edges).items():
        reasons.setdefault(pid, []).extend(texts)
    for pid, texts in _commitment_moves(commitments).items():
        reasons.setdefault(pid, []).extend(texts)
    changes: dict[str, list[str]] = {}
    texts = []
    for pid, score, status in zip(health["partner_id"], health["score"], health["status"]):
        if pid not in prev.index:
            texts.append("")
            continue
        before: Any = prev.at[pid, "score"]  # a score: a number, None or NaN
        was = str(prev.at[pid, "status"] or "")
        q_was = str(prev.at[pid, "quarter"]) if "quarter" in prev else "last quarter"
        now_scored, was_scored = not is_missing(score), not is_missing(before)
        if now_scored and was_scored:
            if int(before) == int(score):
                head = f"Health held at {int(score)} since {q_was} ({status})."
            else:
                verb = "rose" if int(score) > int(before) else "fell"
                band = f"still {status}" if was == status or not was else f"{was} to {status}"
                head = f"Health {verb} from {int(before)} in {q_was} to {int(score)} ({band})."
        elif now_scored:
            head = f"Health is {int(score)} ({status}); {q_was} was {_said(was) if was else 'not scored'}."
        elif was_scored:
            head = f"This quarter is {_said(str(status))}; health was {int(before)} ({was}) in {q_was}."
        else:
            head = f"This quarter is {_said(str(status))}, as {q_was} was."
        changes[pid] = [head] + reasons.get(pid, [])
        texts.append(" ".join(changes[pid]))
    health["change_reasons"] = texts
    return health, changes


_RANK = {"off_track": 0, "missing": 0, "at_risk": 1, "on_track": 2}


def _kpi_moves(kq: pd.DataFrame, defs: pd.DataFrame, quarter: Quarter, currency: str = "",
               edges: tuple[float, ...] = ()) -> dict[str, list[str]]:
    """Per partner, sentences on the KPIs whose status changed since the previous quarter (one sentence per
    kind of change); when none changed, the KPI whose (weighted) attainment moved most, by five points or more."""
    cols = ["partner_id", "kpi_id", "attainment", "status", "actual", "target"]
    now = kq[kq["qindex"] == quarter.index][cols]
    before = kq[kq["qindex"] == quarter.index - 1][cols]
    m = now.merge(before, on=["partner_id", "kpi_id"], suffixes=("", "_prev"))
    if not len(m):
        return {}
    m = m.merge(defs[["kpi_id", "kpi_name", "unit", "weight", "direction"]], on="kpi_id", how="left")
    q0 = quarter.previous().label
    out: dict[str, list[str]] = {}

    def figures(r: dict[Any, Any], suffix: str = "") -> str:
        a, t, att = r["actual" + suffix], r["target" + suffix], r["attainment" + suffix]
        if pd.isna(a):
            return "no figure"
        s = fmt_value(a, r["unit"], currency)
        s += "" if pd.isna(t) else f" against a target of {fmt_value(t, r['unit'], currency)}"
        of = "attainment" if r["direction"] == "lower" else "of target"
        return s + ("" if pd.isna(att) else f" ({attainment_pct(att, edges)} {of})")

    skip = ["no_target"]
    changed = m[(m["status"] != m["status_prev"]) & ~m["status"].isin(skip) & ~m["status_prev"].isin(skip)]
    for (pid, s0, s1), g in changed.groupby(["partner_id", "status_prev", "status"], sort=False):
        pid, s0, s1 = str(pid), str(s0), str(s1)
        rows = g.to_dict("records")
        if s1 == "missing":
            names = "; ".join(f"{r['kpi_name']}, which was {figures(r, '_prev')} in {q0}" for r in rows)
            out.setdefault(pid, []).append(f"No figure this quarter for {names}.")
            continue
        verb = "improved" if _RANK.get(s1, 0) > _RANK.get(s0, 0) else "slipped"
        change = f"from {STATUS_WORDS.get(s0, s0)} to {STATUS_WORDS.get(s1, s1)}"
        if len(rows) == 1:
            r = rows[0]
            then = "no figure" if pd.isna(r["actual_prev"]) else attainment_pct(r["attainment_prev"], edges)
            out.setdefault(pid, []).append(f"{r['kpi_name']} {verb} {change}: {figures(r)} now, {then} in {q0}.")
        else:
            each = ", ".join(f"{r['kpi_name']} {attainment_pct(r['attainment_prev'], edges)} to "
                             f"{attainment_pct(r['attainment'], edges)}" for r in rows)
            out.setdefault(pid, []).append(f"{count_words(len(rows)).capitalize()} KPIs {verb} {change} "
                                           f"(attainment in {q0} to now): {each}.")
    m = m.dropna(subset=["attainment", "attainment_prev"])
    m = m[~m["partner_id"].isin(out) & ((m["attainment"] - m["attainment_prev"]).abs() >= 0.05)]
    if len(m):
        m = m.assign(move=((m["attainment"] - m["attainment_prev"]) * m["weight"].fillna(1.0)).abs())
        for r in m.loc[m.groupby("partner_id")["move"].idxmax()].to_dict("records"):
            verb = "rose" if r["attainment"] > r["attainment_prev"] else "fell"
            unit = r["unit"]
            out.setdefault(str(r["partner_id"]), []).append(
                f"{r['kpi_name']} attainment {verb} from {attainment_pct(r['attainment_prev'], edges)} in {q0} to "
                f"{attainment_pct(r['attainment'], edges)} "
                f"({fmt_value(r['actual_prev'], unit, currency)} against {fmt_value(r['target_prev'], unit, currency)} then, "
                f"{fmt_value(r['actual'], unit, currency)} against {fmt_value(r['target'], unit, currency)} now), "
                f"still {STATUS_WORDS.get(r['status'], r['status'])}.")
    return out


def _commitment_moves(cs: pd.DataFrame) -> dict[str, list[str]]:
    """Per partner and party: the commitments that slipped or were dropped this quarter, named."""
    out: dict[str, list[str]] = {}
    moved = cs[cs["slipped_now"].astype(bool) | cs["is_dropped"].astype(bool)]
    for (pid, party), g in moved.groupby(["partner_id", "party"], sort=True):
        pid, party = str(pid), str(party)
        slipped = g[g["slipped_now"].astype(bool)]
        dropped = g[g["is_dropped"].astype(bool)]
        if len(slipped):
            n = len(slipped)
            what = WHOSE.get(party, WHOSE["joint"])[n > 1]
            moves = ", ".join(f"{c} from {day(a)} to {day(b)}" for c, a, b in
                              zip(slipped["commitment_id"], slipped["previous_due_date"], slipped["due_date"]))
            out.setdefault(pid, []).append(f"{count_words(n).capitalize()} {what} slipped: {moves}.")
        if len(dropped):
            n = len(dropped)
            what = WHOSE.get(party, WHOSE["joint"])[n > 1]
            verbs = "were open last quarter and are" if n > 1 else "was open last quarter and is"
            ids = ", ".join(dropped["commitment_id"].astype("str"))
            out.setdefault(pid, []).append(f"{count_words(n).capitalize()} {what} {verbs} no longer in the log: {ids}.")
    return out

