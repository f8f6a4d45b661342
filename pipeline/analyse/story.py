"""The story a partner review tells on its first page, and what it proposes for next quarter, decided here once
from one `PartnerView` (renderers, the manifest and the e-mail only format it).

- `story`: the verdict in one sentence, the wins (KPIs at or over target, commitments kept early or on time
  this quarter, the health score up), what needs attention (one line per top theme), what we ask of each
  other next quarter (per party), and the health score's trend as far as the history holds it.
- `next_quarter`: next quarter's targets, the commitments open and due by its end, the proposed date of the
  next review from the check-in cadence, and the meeting's agenda as plain sentences.
- `change_columns`: each KPI row's change on last quarter and a year ago as the review shows it (percentage
  points for rates, relative otherwise) and whether it is better or worse, by the KPI's direction.

docs/analysis.md ("The review's story") holds the rules.
"""
from __future__ import annotations

import datetime as dt
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline.analyse.findings import QUIET_AGENDA
from pipeline.analyse.pulse import low_answers, pulse_scores
from pipeline.analyse.wording import POINT_UNITS, attainment_pct, count_words, fmt_date, fmt_value, lower_first, plural
from pipeline.core.frames import NextQuarter, Story, is_missing, records, true

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import PartnerView

CHANGE_POINTS = "change_in_points"          # view columns of kpi_quarterly (schema.VIEW_COLUMNS)
CHANGE_COLUMNS = {"change_qoq": ("qoq_shown", "qoq_tone"), "change_yoy": ("yoy_shown", "yoy_tone")}
TOP_THEMES = 3                               # the themes page 1 names under "what needs attention"
MAX_WINS = 6
MAX_KPI_WINS = 5  # named after the first, beyond it "and two more"
MIN_CADENCE, MAX_CADENCE, DEFAULT_CADENCE = 14, 184, 91  # days between check-ins we believe; a quarter otherwise
TONES = ("better", "worse", "flat")


# ------------------------------------------------------------------------------------------ KPI changes
def change_columns(kq: pd.DataFrame, defs: pd.DataFrame) -> pd.DataFrame:
    """`kq` (one partner's KPI rows) with the changes as the review shows them: for a rate (a percent KPI) the
    difference in percentage points (2.1 for 0.021), for a score (NPS) the difference in its points, otherwise
    the relative change as `kpis` computed it (a fraction); and each one's tone, better / worse / flat, by the
    KPI's direction ('' when unknown)."""
    unit = kq["kpi_id"].map(dict(zip(defs["kpi_id"], defs["unit"]))).fillna("count")
    lower = kq["kpi_id"].map(dict(zip(defs["kpi_id"], defs["direction"]))).fillna("higher") == "lower"
    points = unit.isin(list(POINT_UNITS)).to_numpy(dtype=bool)
    scale = unit.map(POINT_UNITS).fillna(1.0).to_numpy(dtype=float)
    comparable = kq["actual"].where(~kq["partial"].astype(bool)) if "partial" in kq else kq["actual"]
    keys = [kq[c] for c in ("partner_id", "kpi_id") if c in kq]   # one partner's rows or many partners' at once
    by = pd.Series(comparable.to_numpy(dtype=float), index=pd.MultiIndex.from_arrays([*keys, kq["qindex"]]))
    out = kq.assign(**{CHANGE_POINTS: points})
    for col, lag in (("change_qoq", 1), ("change_yoy", 4)):
        shown_col, tone_col = CHANGE_COLUMNS[col]
        before = by.reindex(pd.MultiIndex.from_arrays([*keys, kq["qindex"] - lag])).to_numpy()
        shown = np.where(points, (comparable.to_numpy(dtype=float) - before) * scale, kq[col].to_numpy(dtype=float))
        signed = np.where(lower.to_numpy(dtype=bool), -shown, shown)
        flat = np.abs(shown) < np.where(points, 0.05, 0.0005)  # what prints as 0.0
        tone = np.select([np.isnan(shown), flat, signed > 0], ["", "flat", "better"], "worse")
        out[shown_col], out[tone_col] = shown, tone
    return out


# ---------------------------------------------------------------------------------------------- story
def _names(view: PartnerView) -> dict[str, str]:
    return {str(k): str(n) for k, n in zip(view.kpis["kpi_id"], view.kpis["kpi_name"])} if len(view.kpis) else {}


def _units(view: PartnerView) -> dict[str, str]:
    return {str(k): str(u) for k, u in zip(view.kpis["kpi_id"], view.kpis["unit"])} if len(view.kpis) else {}


def described(r: dict[str, Any], limit: int = 70) -> str:
    """A commitment named by what it is (its description, short), its id only when it has none."""
    d = "" if is_missing(r.get("description")) else " ".join(str(r["description"]).split())
    if not d:
        return str(r.get("commitment_id") or "a commitment")
    return d if len(d) <= limit else d[: limit - 1].rstrip() + "…"


def _and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


def verdict(view: PartnerView, cur: list[dict[str, Any]] | None = None) -> str:
    """The quarter in one sentence, from the health band (or state) and what drove it (`cur`: `_current`)."""
    cur = _current(view) if cur is None else cur
    n = len(cur)
    on = sum(r["status"] == "on_track" for r in cur)
    overdue = sum(true(r.get("is_overdue")) for r in records(view.commitments, ("is_overdue",)))
    state, status = view.health.get("state"), str(view.health.get("status") or "")
    if state == "paused":
        return ("The partnership is paused this quarter: the figures are shown for reference only, and what each "
                "side committed to still counts.")
    if is_missing(view.health.get("score")):
        return "Too little was measured this quarter to score it; the figures we have are below."
    kpis = ("no KPI measured" if not n else "every KPI on track" if on == n else
            "the one KPI not on track" if n == 1 else f"none of the {n} KPIs on track" if on == 0 else
            f"{on} of {n} KPIs on track")
    late = f" and {plural(overdue, 'commitment')} overdue" if overdue else " and no commitment overdue"
    if status == "green":
        return f"A strong quarter: {kpis}{late}."
    if status == "amber":
        return f"A mixed quarter: {kpis}{late}; the actions below would bring it back on plan."
    return f"A difficult quarter: {kpis}{late}. Below is what we propose to turn it around together."


def _current(view: PartnerView) -> list[dict[str, Any]]:
    """This quarter's KPI rows (kpi_id, actual, target, attainment, status)."""
    kq = view.kpi_quarterly
    rows = records(kq, ("quarter", "kpi_id", "actual", "target", "attainment", "status"))
    return [r for r in rows if r["quarter"] == view.quarter.label]


def wins(view: PartnerView, cur: list[dict[str, Any]] | None = None) -> list[str]:
    """What went well: KPIs at or over target (the furthest over first), commitments kept this quarter (early
    first), and the health score up on last quarter (`cur`: `_current`)."""
    cur = _current(view) if cur is None else cur
    names, units, money = _names(view), _units(view), view.config.currency
    lower = set(view.kpis.loc[view.kpis["direction"] == "lower", "kpi_id"].astype(str)) if len(view.kpis) else set()
    out: list[str] = []
    score: Any = view.health.get("score")
    prev: Any = view.health.get("previous_score")
    if not is_missing(score) and not is_missing(prev) and float(score) > float(prev):
        out.append(f"Health rose from {float(prev):.0f} to {float(score):.0f}.")
    if view.health.get("state") != "paused":  # the KPIs furthest over target, leaving room for commitments kept
        beat = sorted((r for r in cur if not is_missing(r["attainment"]) and float(r["attainment"]) >= 1.0),
                      key=lambda r: -float(r["attainment"]))
        edges = view.thresholds.edges
        for r in beat[:1]:  # the furthest over target with its figures (the tiles hold the rest)
            k, u = str(r["kpi_id"]), units.get(str(r["kpi_id"]), "count")
            a, t = fmt_value(r["actual"], u, money), fmt_value(r["target"], u, money)
            out.append(f"{names.get(k, k)}: {a} against a target of {t} (lower is better)." if k in lower else
                       f"{names.get(k, k)} at {attainment_pct(r['attainment'], edges)} of target ({a} against {t}).")
        rest = [f"{names.get(str(r['kpi_id']), str(r['kpi_id']))} ({attainment_pct(r['attainment'], edges)})"
                for r in beat[1:]]
        if rest:
            shown = rest[:MAX_KPI_WINS] + ([f"{count_words(len(rest) - MAX_KPI_WINS)} more"]
                                           if len(rest) > MAX_KPI_WINS else [])
            out.append(f"Also at or over target: {_and(shown)}.")
    start = pd.Timestamp(view.quarter.start_date(view.config.fy_start))
    end = pd.Timestamp(view.quarter.end_date(view.config.fy_start))
    kept = []
    for r in records(view.commitments, ("commitment_id", "description", "party", "status", "due_date",
                                        "completed_date", "on_time")):
        done: Any = r.get("completed_date")
        if r.get("status") != "done" or is_missing(done) or not (start <= pd.Timestamp(done) <= end):
            continue
        if r.get("on_time") is False or (not is_missing(r.get("on_time")) and not true(r.get("on_time"))):
            continue
        early = (pd.Timestamp(r["due_date"]) - pd.Timestamp(done)).days if not is_missing(r.get("due_date")) else 0
        who = {"us": "We", "partner": "You", "joint": "Together we"}.get(str(r.get("party")), "We")
        when = f"{plural(early, 'day')} early" if early > 0 else "on time"
        kept.append((-early, f"{who} delivered “{described(r)}” {when}."))
    out += [s for _, s in sorted(kept)]
    return out[:MAX_WINS]


def attention(view: PartnerView) -> list[str]:
    """One line per top theme: its title and the most severe finding in it, stated as a fact."""
    found = records(view.findings, ("theme", "title", "detail"))
    out = []
    for th in records(view.themes, ("theme", "title", "findings"))[:TOP_THEMES]:
        first = next((f for f in found if f["theme"] == th["theme"]), None)
        n = int(float(th.get("findings") or 0))
        if first is not None:
            head = f"{th['title']} ({plural(n, 'gap')}), led by" if n > 1 else f"{th['title']}:"
            named = "" if n == 1 and str(th["title"]).lower().startswith(str(first["title"]).lower()) else \
                f" {first['title']}:"   # "Data excluded: 1 row ...", not "Data excluded: Data: 1 row ..."
            out.append(f"{head}{named} {lower_first(str(first['detail']))}.")
    low = low_answers(view.pulse, view.quarter)
    if low:   # their own low answers come before anything we flag: it is how the partnership works for them
        rated = pulse_scores(view.pulse)
        now = rated[rated["qindex"] == view.quarter.index]
        overall = f"{float(now['mean'].iloc[0]):.1f} of 5 overall, " if len(now) else ""
        said = " and ".join(f"“{q}” ({s:.0f} of 5)" for q, s in low[:2])
        more = f", and {count_words(len(low) - 2)} more" if len(low) > 2 else ""
        out.insert(0, f"How you rated us: {overall}lowest on {said}{more}. We want to hear what would raise "
                      f"{'them' if len(low) > 1 else 'it'}.")
    return out


def asks(view: PartnerView, due: list[str], cur: list[dict[str, Any]] | None = None) -> list[tuple[str, str]]:
    """What we ask of each other next quarter, per party: the commitments each holds that are due by next
    quarter's end (by what they are), and together, the KPIs under target (`cur`: `_current`)."""
    cur = _current(view) if cur is None else cur
    by_id = {str(r["commitment_id"]): r for r in records(view.commitments, ("commitment_id", "description", "party",
                                                                              "due_date", "is_overdue"))}
    out: list[tuple[str, str]] = []
    for party in ("partner", "us", "joint"):
        mine = [by_id[c] for c in due if c in by_id and by_id[c].get("party") == party]
        if not mine:
            continue
        items = [f"{described(r, 60)} ({'overdue since' if true(r.get('is_overdue')) else 'by'} "
                 f"{fmt_date(r.get('due_date'))})" for r in mine[:3]]
        more = f" and {count_words(len(mine) - 3)} more" if len(mine) > 3 else ""
        out.append((party, "; ".join(items) + more + "."))
    if view.health.get("state") != "paused":
        names = _names(view)
        below = [names.get(str(r["kpi_id"]), str(r["kpi_id"])) for r in cur
                 if r["status"] in ("off_track", "at_risk")]
        if below:
            shown = (", ".join(below[:3]) + f" and {count_words(len(below) - 3)} more" if len(below) > 3
                     else " and ".join([", ".join(below[:-1]), below[-1]]) if len(below) > 1 else below[0])
            out.append(("joint", f"A plan to bring {shown} back to target."))
    merged: dict[str, list[str]] = {}  # one line per party
    for party, sentence in out:
        merged.setdefault(party, []).append(sentence)
    return [(party, " ".join(sentences)) for party, sentences in merged.items()]


def health_trend(trend: pd.DataFrame | None, view: PartnerView) -> list[tuple[str, float]]:
    """The health scores recorded for this partner (`trend`: this quarter's and the history's), oldest first;
    without a record, last quarter's score and this one's as the health gives them."""
    if trend is not None and len(trend) and "score" in trend:
        scored: dict[Any, tuple[str, float]] = {}   # per quarter, the last score recorded
        for r in records(trend, ("qindex", "quarter", "score")):
            if not is_missing(r["score"]):
                scored[r["qindex"]] = (str(r["quarter"]), float(r["score"]))
        return [scored[k] for k in sorted(scored)]
    out: list[tuple[str, float]] = []
    prev: Any = view.health.get("previous_score")
    score: Any = view.health.get("score")
    if not is_missing(prev):
        out.append((view.quarter.previous().label, float(prev)))
    if not is_missing(score):
        out.append((view.quarter.label, float(score)))
    return out


def story(view: PartnerView, due: list[str], trend: pd.DataFrame | None = None) -> Story:
    cur = _current(view)
    return Story(verdict=verdict(view, cur), wins=wins(view, cur), attention=attention(view), asks=asks(view, due, cur),
                 health_trend=health_trend(trend, view))


# --------------------------------------------------------------------------------------- next quarter
def cadence(checkins: pd.DataFrame) -> int | None:
    """Days between check-ins: the median gap of the recorded ones (at least two), kept within two weeks and
    half a year; a single check-in means a quarter; none, unknown."""
    dates = sorted(set(pd.to_datetime(checkins["date"], errors="coerce").dropna())) if len(checkins) else []
    if not dates:
        return None
    if len(dates) == 1:
        return DEFAULT_CADENCE
    gaps = [(b - a).days for a, b in pairwise(dates)][-4:]
    return int(min(MAX_CADENCE, max(MIN_CADENCE, round(float(np.median(gaps))))))


def next_meeting(checkins: pd.DataFrame, as_of: dt.date) -> tuple[dt.date | None, int | None]:
    """The proposed date of the next review: the first date on the check-in cadence after the report date,
    a weekday (a Saturday or Sunday moves to the Monday); None when no check-in is recorded."""
    days = cadence(checkins)
    if days is None:
        return None, None
    last = max(pd.to_datetime(checkins["date"], errors="coerce").dropna()).date()
    d = last + dt.timedelta(days=days)
    while d <= as_of:
        d += dt.timedelta(days=days)
    return d + dt.timedelta(days=(7 - d.weekday()) % 7 if d.weekday() >= 5 else 0), days


def coming_due(view: PartnerView, end: dt.date) -> list[str]:
    """The commitments open and due by `end` (overdue ones too), soonest first."""
    rows = records(view.commitments, ("commitment_id", "due_date", "is_open"))
    due = [r for r in rows if true(r.get("is_open")) and not is_missing(r.get("due_date"))
           and pd.Timestamp(r["due_date"]).date() <= end]
    return [str(r["commitment_id"]) for r in sorted(due, key=lambda r: pd.Timestamp(r["due_date"]))]


def agenda_points(view: PartnerView) -> list[str]:
    """The meeting's points as plain sentences (the agenda lines, each ending with a full stop); none when
    nothing is flagged (the review's one quiet line is not a point to raise: the e-mail says so in words)."""
    return [s if s.endswith(".") else s + "." for s, _who in view.agenda if s != QUIET_AGENDA]


def next_quarter(view: PartnerView, targets: pd.DataFrame) -> NextQuarter:
    """Next quarter's targets (from `targets`, this partner's rows), commitments due by its end, and the meeting."""
    nq = view.quarter.shift(1)
    order = {str(k): i for i, k in enumerate(view.kpis["kpi_id"])} if len(view.kpis) else {}
    t = targets[targets["quarter"].astype(str) == nq.label] if len(targets) and "quarter" in targets else targets.iloc[:0]
    sums = t.groupby("kpi_id")["target"].sum(min_count=1).to_dict() if len(t) else {}  # as the data request does
    pairs = sorted(((str(k), float(v)) for k, v in sums.items() if not is_missing(v)),
                   key=lambda kv: order.get(kv[0], len(order)))
    end = nq.end_date(view.config.fy_start)
    meeting, days = next_meeting(view.checkins, view.as_of)
    return NextQuarter(quarter=nq.label, targets=pairs, due=coming_due(view, end), next_meeting=meeting,
                       cadence_days=days, agenda=agenda_points(view))
