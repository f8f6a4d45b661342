"""The health of a partnership this quarter: a score out of 100 with its band, or a state that is not a
number (paused, not scored), with the confidence beside it (why it moved: `pipeline.analyse.moves`).

Three parts with fixed points (`health.weight_*`): results against plan (50), commitments kept (40, each
commitment once, ours, yours and joint), the relationship kept up (10). A part with nothing to measure
counts at the rate the measured parts earned, so it neither lifts nor lowers the score and the points
are always out of the same 100. Whole points are apportioned by largest remainder, so the parts add up
exactly to the score; three rules the weights cannot override set the band where they hold, and the
points they move are a line of their own. Data quality is not in the score: it is its confidence
("based on 5 of 6 KPIs measured"). docs/analysis.md gives the reasons.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.analyse.kpis import beyond_tolerance
from pipeline.analyse.wording import pct
from pipeline.core.frames import partner_spans
from pipeline.core.periods import Quarter
from pipeline.core.problems import ERROR, Problem
from pipeline.core.schema import DISCREPANCY
from pipeline.core.settings import Config

COMPONENTS = ("results", "delivery", "relationship")
RULE = "rule"  # the breakdown's fourth line: the points a rule moved (0 when none did)
WEIGHTS = {"results": "weight_results", "delivery": "weight_delivery", "relationship": "weight_relationship"}
SCORED, PAUSED, NOT_SCORED = "scored", "paused", "not_scored"
COMPONENT_NAMES = {"results": "Results against plan", "delivery": "Commitments kept",
                   "relationship": "The relationship kept up", RULE: "Rules"}
SHORT_NAMES = {"results": "results", "delivery": "commitments kept", "relationship": "the relationship"}
PARTY_WORDS = {"partner": "yours", "us": "ours", "joint": "joint"}


def max_points(config: Config) -> dict[str, int]:
    """Each part's points out of exactly 100: the configured weights, apportioned by largest remainder."""
    w = np.array([max(float(getattr(config.health, WEIGHTS[c])), 0.0) for c in COMPONENTS])
    w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
    points, _ = _largest_remainder(100 * w[None, :])
    return {c: int(p) for c, p in zip(COMPONENTS, points[0])}


def _largest_remainder(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole points per part (rows: partners) that sum exactly to the rounded total."""
    raw = np.nan_to_num(raw)
    total = np.floor(raw.sum(axis=1) + 0.5)
    base = np.floor(raw + 1e-9)
    short = (total - base.sum(axis=1)).astype(int)
    order = np.argsort(-(raw - base), axis=1, kind="stable")
    ranks = np.argsort(order, axis=1, kind="stable")
    base += (ranks < short[:, None]).astype(float)
    return base.astype(int), total.astype(int)


def kpi_value(attainment: np.ndarray, on_track: float, floor: float) -> np.ndarray:
    """What one KPI earns of its results points (0..1): all of them on track (attainment at or above
    ``on_track``), none at ``floor`` or less, in proportion between. Over-achievement earns no more."""
    att = np.asarray(attainment, dtype=float)
    if on_track <= floor:
        return np.where(np.isnan(att), np.nan, (att >= on_track).astype(float))
    return np.clip((att - floor) / (on_track - floor), 0.0, 1.0)


def commitment_credit(days_late: pd.Series, late_days: int) -> pd.Series:
    """What one commitment due earns of its delivery share (0..1): all of it kept on time, then less evenly
    with each day late (done late, or open past its due date at the quarter's end), nothing from
    ``late_days`` days late."""
    d = days_late.astype(float).clip(lower=0.0)
    if late_days <= 0:
        return (d == 0).astype(float)
    return (1.0 - d / float(late_days)).clip(lower=0.0, upper=1.0)


# ------------------------------------------------------------------------------------------ measures
@dataclass
class _Partner:
    """What the score is made from for one partner: each measure, then the verdicts."""

    pid: str
    paused: bool = False
    # results
    expected: int = 0                       # KPIs with a target this quarter
    measured: int = 0                       # ... with an attainment (target and a full quarter's actual)
    partial: int = 0                        # ... whose actual covers part of the quarter
    on_track: int = 0
    off_track: int = 0
    on_share: float = 0.0                   # on-track weight / weight of the KPIs with a target
    results: float = float("nan")
    results_note: str = ""
    # delivery
    due: int = 0
    kept: int = 0
    by_party: dict[str, tuple[int, int]] = field(default_factory=dict)  # party -> (kept on time, due)
    late: list[str] = field(default_factory=list)                      # "KV-02 (joint, 30 days overdue)"
    delivery: float = float("nan")
    partner_overdue: bool = False
    any_overdue: bool = False
    # relationship
    checkins: int | None = None             # None: no Check-ins sheet is kept
    relationship: float = float("nan")
    # confidence
    disputed: int = 0
    excluded: int = 0


def _results(p: _Partner, target: np.ndarray, weight: np.ndarray, att: np.ndarray, status: np.ndarray,
             config: Config) -> None:
    """The partner's results from its KPI rows of the quarter (numpy columns, every row of the partner)."""
    has = ~np.isnan(target)
    if not has.any():
        return
    w = np.clip(np.nan_to_num(weight[has], nan=1.0), 0.0, None)
    att, status = att[has], status[has]
    measured = ~np.isnan(att)
    p.expected, p.measured = int(has.sum()), int(measured.sum())
    p.partial = int((status == "partial").sum())
    on = status == "on_track"
    p.on_track, p.off_track = int(on.sum()), int((status == "off_track").sum())
    total = float(w.sum())
    p.on_share = float(w[on].sum()) / total if total > 0 else p.on_track / p.expected
    if not p.measured:
        return
    on_track, floor = float(config.kpi.attainment_medium), float(config.health.attainment_floor)
    value = kpi_value(att[measured], on_track, floor)
    wm = w[measured]
    p.results = float((value * wm).sum() / wm.sum()) if float(wm.sum()) > 0 else float(value.mean())
    p.results_note = (f"each KPI earns its share in full at {on_track:.0%} of target or more (on track), none at "
                      f"{floor:.0%} or less, in proportion between; weighted by KPI")


def _delivery_columns(cs: pd.DataFrame, quarter: Quarter, config: Config) -> pd.DataFrame:
    """Every commitment's part in this quarter's delivery, computed once for all partners: counted (due in
    or before the quarter and open, or done in or for it), on time, overdue, days late and its credit."""
    qstart = pd.Timestamp(quarter.start_date(config.fy_start))
    qend = pd.Timestamp(quarter.end_date(config.fy_start))
    due = pd.to_datetime(cs["due_date"], errors="coerce")
    done_at = pd.to_datetime(cs["completed_date"], errors="coerce")
    live = ~cs["is_dropped"].astype(bool)
    is_open = cs["is_open"].astype(bool) & live
    done = live & (cs["status"].astype("str") == "done") & due.notna() & done_at.notna()
    overdue = is_open & due.notna() & (due <= qend)
    in_quarter = (done_at >= qstart) & (done_at <= qend)
    due_in_quarter = (due >= qstart) & (due <= qend)
    counted = overdue | (done & (in_quarter | due_in_quarter))
    late_by = np.where(overdue, (qend - due).dt.days, (done_at.where(done_at <= qend, qend) - due).dt.days)
    days = pd.Series(late_by, index=cs.index).where(counted).fillna(0).clip(lower=0).astype(int)
    return cs.assign(_counted=counted, _overdue=overdue, _days=days,
                     _credit=commitment_credit(days, int(config.health.late_days)),
                     _on_time=counted & (days == 0) & ~overdue, _party=cs["party"].astype("str"))


def _delivery(p: _Partner, cols: dict[str, np.ndarray], a: int, b: int) -> None:
    """The partner's delivery from its rows a:b of the `_delivery_columns` (as numpy columns)."""
    counted = cols["_counted"][a:b]
    if not counted.any():
        return
    overdue, on_time = cols["_overdue"][a:b], cols["_on_time"][a:b]
    days, party = cols["_days"][a:b], cols["_party"][a:b]
    p.due, p.kept = int(counted.sum()), int(on_time.sum())
    p.by_party = {k: (int((on_time & (party == k)).sum()), int((counted & (party == k)).sum()))
                  for k in ("partner", "us", "joint") if (counted & (party == k)).any()}
    p.delivery = float(cols["_credit"][a:b][counted].mean())
    p.partner_overdue = bool((overdue & np.isin(party, ["partner", "joint"])).any())
    p.any_overdue = bool(overdue.any())
    late = counted & (days > 0)
    for cid, k, n, is_over in zip(cols["commitment_id"][a:b][late], party[late], days[late], overdue[late]):
        p.late.append(f"{cid} ({PARTY_WORDS.get(k, k)}, {n} day{'s' if n != 1 else ''} {'overdue' if is_over else 'late'})")


def _measure(pids: Sequence[str], quarter: Quarter, config: Config, kq: pd.DataFrame, defs: pd.DataFrame,
             commitments: pd.DataFrame, checkins: pd.DataFrame | None, has_checkins_sheet: bool,
             problems: Iterable[Problem], paused: set[str]) -> list[_Partner]:
    now = kq[(kq["qindex"] == quarter.index) & kq["partner_id"].isin(pids)]
    now = now.merge(defs[["kpi_id", "weight"]], on="kpi_id", how="left")
    tol = float(config.kpi.discrepancy_tolerance)
    now = now.assign(_disputed=now["actual"].notna() & (beyond_tolerance(now[DISCREPANCY], tol)
                                                       | now["conflict"].fillna(False).astype(bool)))
    # every partner's rows sorted together once, each partner a span of numpy columns (no frame per partner)
    now = now.sort_values("partner_id", kind="stable")
    k_spans = partner_spans(now["partner_id"].astype("str").to_numpy())
    k_target, k_weight = now["target"].to_numpy(dtype=float), now["weight"].to_numpy(dtype=float)
    k_att, k_status = now["attainment"].to_numpy(dtype=float), now["status"].astype("str").to_numpy()
    k_disputed = now["_disputed"].to_numpy(dtype=bool) & ~np.isnan(k_target)
    cs = commitments[commitments["partner_id"].isin(pids)] if len(commitments) else commitments
    c_spans: dict[str, tuple[int, int]] = {}
    c_cols: dict[str, np.ndarray] = {}
    if len(cs):
        dc = _delivery_columns(cs, quarter, config).sort_values("partner_id", kind="stable")
        c_spans = partner_spans(dc["partner_id"].astype("str").to_numpy())
        c_cols = {"_counted": dc["_counted"].to_numpy(dtype=bool), "_overdue": dc["_overdue"].to_numpy(dtype=bool),
                  "_on_time": dc["_on_time"].to_numpy(dtype=bool), "_days": dc["_days"].to_numpy(),
                  "_party": dc["_party"].to_numpy(), "_credit": dc["_credit"].to_numpy(dtype=float),
                  "commitment_id": dc["commitment_id"].to_numpy()}
    held: dict[str, int] = {}
    if has_checkins_sheet and checkins is not None and len(checkins):
        ci = checkins[checkins["quarter"].astype("str") == quarter.label]
        held = {str(k): int(v) for k, v in ci.groupby("partner_id").size().items()}
    errors: dict[str, int] = {}
    for pr in problems:
        if pr.severity == ERROR and pr.partner_id:
            errors[pr.partner_id] = errors.get(pr.partner_id, 0) + 1
    out = []
    for pid in pids:
        p = _Partner(pid=pid, paused=pid in paused)
        if pid in k_spans:
            a, b = k_spans[pid]
            _results(p, k_target[a:b], k_weight[a:b], k_att[a:b], k_status[a:b], config)
            p.disputed = int(k_disputed[a:b].sum())
        if pid in c_spans:
            _delivery(p, c_cols, *c_spans[pid])
        if has_checkins_sheet:
            p.checkins = held.get(pid, 0)
            p.relationship = 1.0 if p.checkins else 0.0
        p.excluded = errors.get(pid, 0)
        out.append(p)
    return out


# ------------------------------------------------------------------------------------------ the words
def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def confidence(p: _Partner) -> str:
    """How much the score stands on: "based on 5 of 6 KPIs measured; 1 partial quarter; ..."."""
    if not p.expected:
        return "no KPI has a target this quarter"
    parts = [f"based on {p.measured} of {_plural(p.expected, 'KPI')} measured"]
    missing = p.expected - p.measured - p.partial
    if missing:
        parts.append(f"{missing} not reported")
    if p.partial:
        parts.append(f"{p.partial} with part of the quarter only")
    if p.disputed:
        parts.append(f"{p.disputed} where our figures and yours differ")
    if p.excluded:
        parts.append(f"{_plural(p.excluded, 'row')} excluded")
    return "; ".join(parts)


def _details(p: _Partner, quarter: Quarter, rate: float, config: Config, scored: bool) -> dict[str, str]:
    neutral = (f": counts at the rate the measured parts earned ({pct(rate)}), so it neither lifts nor lowers the score"
               if scored else "")
    d: dict[str, str] = {}
    if p.measured:
        head = f"{p.on_track} of {_plural(p.measured, 'KPI')} measured on track"
        if p.off_track:
            head += f", {p.off_track} off track"
        d["results"] = f"{head}: {p.results_note}" + (f" ({pct(p.results)} of the points)" if scored else "")
    else:
        d["results"] = "no KPI result this quarter"
    if p.due:
        sides = "; ".join(f"{PARTY_WORDS[k]} {a} of {n}" for k, (a, n) in p.by_party.items())
        head = f"{p.kept} of {_plural(p.due, 'commitment')} due kept on time"
        late = f"; late: {', '.join(p.late[:3])}" + (f" and {len(p.late) - 3} more" if len(p.late) > 3 else "") \
            if p.late else ""
        days = int(config.health.late_days)
        d["delivery"] = (f"{head}: {sides}{late}; each commitment counts once, joint ones too, and one late "
                         f"keeps part of its share, losing it evenly over {days} days")
    else:
        d["delivery"] = f"nothing was due this quarter{neutral}"
    if p.checkins is None:
        d["relationship"] = f"no Check-ins sheet is kept{neutral}"
    elif p.checkins:
        d["relationship"] = f"{_plural(p.checkins, 'check-in')} in {quarter.label}" + (": full points" if scored else "")
    else:
        d["relationship"] = f"no check-in recorded in {quarter.label}" + (": no points" if scored else "")
    return d


def _rules(p: _Partner, config: Config) -> tuple[str, int | None, int | None]:
    """(the rule that holds, in words; a floor; a cap) for a partner with a score."""
    green, amber = int(config.health.green), int(config.health.amber)
    share = float(config.health.green_needs_on_track)
    if p.measured and p.off_track == p.measured and p.partner_overdue:
        return ("every KPI measured is off track and your commitments are overdue, so it is red whatever the points",
                None, amber - 1)
    if p.on_share < share:
        part = f"only {pct(p.on_share)} of the plan" if p.on_share > 0 else "none of the plan"
        return (f"{part} (the KPIs with a target, by weight) is on track and green needs {pct(share)}, so it is "
                f"not green whatever the points", None, green - 1)
    if p.expected and p.on_track == p.expected and not p.any_overdue:
        return "every KPI is on track and nothing is overdue, so it is green whatever the points", green, None
    return "", None, None


def rules_in_force(config: Config) -> str:
    """The three rules with this run's numbers, for the breakdown when none of them holds."""
    share = float(config.health.green_needs_on_track)
    return (f"none holds (red when every KPI measured is off track and your commitments are overdue; never green "
            f"with under {pct(share)} of the KPIs on track; green when every KPI is on track and nothing is overdue)")


# ------------------------------------------------------------------------------------------ the score
def health_scores(quarter: Quarter, config: Config, partner_ids: Sequence[str], kpi_quarterly: pd.DataFrame,
                  kpi_defs: pd.DataFrame, commitments: pd.DataFrame, checkins: pd.DataFrame | None = None,
                  has_checkins_sheet: bool = False, problems: Iterable[Problem] = (),
                  paused: Iterable[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(health, health_breakdown) for ``partner_ids`` from the quarter's KPI rows, the `commitment_status`
    frame and the check-ins; ``paused`` are the partners whose registry status is paused.
    previous_score and change_reasons are filled by `change_reasons`."""
    pids = [str(p) for p in partner_ids]
    measures = _measure(pids, quarter, config, kpi_quarterly, kpi_defs, commitments, checkins, has_checkins_sheet,
                        problems, set(map(str, paused)))
    maxima = max_points(config)
    top = np.array([maxima[c] for c in COMPONENTS], dtype=float)
    green, amber = int(config.health.green), int(config.health.amber)
    health_rows: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for p in measures:
        value = np.array([p.results, p.delivery, p.relationship], dtype=float)
        known = ~np.isnan(value)
        rate = float((top[known] * value[known]).sum() / top[known].sum()) if known.any() and top[known].sum() > 0 \
            else float("nan")
        state = PAUSED if p.paused else NOT_SCORED if not p.measured else SCORED
        details = _details(p, quarter, rate, config, state == SCORED)
        rule, note = "", ""
        score: int | None = None
        moved = 0
        points = np.full(len(COMPONENTS), np.nan)
        if state == SCORED:
            filled = np.where(known, value, rate)
            whole, total = _largest_remainder((top * filled)[None, :])
            points = whole[0].astype(float)
            rule, floor, cap = _rules(p, config)
            s = int(total[0])
            s = max(s, floor) if floor is not None else s
            s = min(s, cap) if cap is not None else s
            score, moved = s, s - int(total[0])
            status = "green" if s >= green else "amber" if s >= amber else "red"
        elif state == PAUSED:
            status = PAUSED
            note = (f"The partnership is paused (its status in the registry), so {quarter.label} is not scored: "
                    f"its targets are not held against you; the figures and commitments are shown for reference.")
        else:
            status = NOT_SCORED
            note = (f"Not scored: too little to measure in {quarter.label}, " + (
                f"none of the {p.expected} KPIs with a target has a figure for the whole quarter"
                if p.expected else "no KPI has a target for the quarter") + (
                f" and {_plural(p.due, 'commitment')} due" if p.due else " and nothing was due") + ".")
        health_rows.append({"partner_id": p.pid, "quarter": quarter.label, "score": score, "status": status,
                            "previous_score": np.nan, "change_reasons": "", "state": state, "state_note": note,
                            "rule": rule, "confidence": confidence(p), "kpis_measured": p.measured,
                            "kpis_expected": p.expected})
        for j, c in enumerate(COMPONENTS):
            parts.append({"partner_id": p.pid, "component": c, "weight": top[j] / 100.0, "points": points[j],
                          "max_points": top[j], "detail": details[c], "value": value[j], "measured": bool(known[j])})
        rule_detail = rule or (rules_in_force(config) if state == SCORED else "")
        if score is not None and rule and moved:
            rule_detail += f" (by points {score - moved}, {'held at' if moved < 0 else 'raised to'} {score})"
        parts.append({"partner_id": p.pid, "component": RULE, "weight": 0.0,
                      "points": float(moved) if state == SCORED else np.nan, "max_points": np.nan,
                      "detail": rule_detail, "value": np.nan, "measured": False})
    health = pd.DataFrame(health_rows, columns=["partner_id", "quarter", "score", "status", "previous_score",
                                                "change_reasons", "state", "state_note", "rule", "confidence",
                                                "kpis_measured", "kpis_expected"])
    health["score"] = pd.Series([r["score"] for r in health_rows], index=health.index, dtype=object)  # int or None
    breakdown = pd.DataFrame(parts, columns=["partner_id", "component", "weight", "points", "max_points", "detail",
                                             "value", "measured"])
    return health, breakdown


def score_explanation(health: dict, breakdown: pd.DataFrame) -> str:
    """Where the score's missing points are, in one or two sentences: "The score is 78 of 100, based on 6
    of 6 KPIs measured. It misses 20 points on commitments kept (0 of 1 commitment due kept on time ...)."
    A paused or unscored partner gets the sentence that says so."""
    score = health.get("score")
    if score is None or pd.isna(score):
        return str(health.get("state_note") or "")
    head = f"The score is {int(score)} of 100, {health.get('confidence') or 'based on the KPIs measured'}."
    b = breakdown[breakdown["component"].isin(COMPONENTS)]
    missed = [(str(c), round(float(m) - float(pt)), str(d), bool(k))
              for c, m, pt, d, k in zip(b["component"], b["max_points"], b["points"], b["detail"], b["measured"])
              if not pd.isna(pt) and float(m) - float(pt) >= 0.5]
    r = breakdown[breakdown["component"] == RULE]
    rule = str(health.get("rule") or "")
    moved = 0 if not len(r) or pd.isna(r["points"].iloc[0]) else int(r["points"].iloc[0])
    unit = ("short " if moved and rule else ("point " if missed and missed[0][1] == 1 else "points ")) if missed else ""
    measured = [f"{n} {unit if i == 0 else ''}on {SHORT_NAMES.get(c, c)} ({_short(d)})"
                for i, (c, n, d, _k) in enumerate(m for m in missed if m[3])]
    neutral = [SHORT_NAMES.get(c, c) for c, n, d, k in missed if not k]
    text = head
    if rule and moved:
        text += (f" By points it comes to {int(score) - moved}" + (", " + ", ".join(measured) if measured else "")
                 + f"; a rule {'holds it at' if moved < 0 else 'raises it to'} {int(score)}: {rule}.")
    elif measured:
        text += " It misses " + ", ".join(measured) + "."
    elif not missed:
        text += " Every part earned its full points."
    if neutral:
        text += (f" With nothing to measure, {' and '.join(neutral)} count{'s' if len(neutral) == 1 else ''} "
                 f"at the rate of the rest.")
    return text


def _short(detail: object) -> str:
    """The measured part of a breakdown detail: "4 of 6 KPIs measured on track"."""
    return str(detail or "").split(":")[0]
