"""The meeting brief (review.md "The meeting brief"): what the account owner reads before the quarterly review
meeting, which is also a negotiation. Ours alone: it holds the Canvas and internal owners' names.

Decided here, rendered by `pipeline.render.brief`: where both sides stand (delivery against promises on
each side, our own late items by owner, the figures to agree first), their side (the KPIs they miss, their
pulse, the Canvas entries for their side), our side (goals, alternative, limits from the Canvas), the
options (`pipeline.analyse.whatif`, target resets the trend supports, trades the asymmetries suggest) and
the questions and internal decisions to take before the meeting. docs/brief.md gives the rules.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline.analyse.kpis import attainment, kpi_definitions, rolled_targets
from pipeline.analyse.pulse import LOW_SCORE
from pipeline.analyse.trades import TRADE_COLUMNS, canvas_trades, commitment_trades, key
from pipeline.analyse.whatif import what_if
from pipeline.analyse.wording import fmt_value, lower_first
from pipeline.core.frames import partner_spans, records, text_of

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import Analysis

SIDE_KINDS = ("goal", "alternative", "limit", "interest", "priority", "ask", "offer")  # the order they are read in
RESET_QUARTERS = 2       # the run rate: the mean of the last this many quarters' figures
RESET_RAISE = 1.25       # the run rate at or above this share of next quarter's target: the target is too easy
# what to ask about a finding, by its most severe flag: the interest behind the position
QUESTIONS: dict[str, str | dict[str, str]] = {
    "KPI_BELOW_TARGET": "What would make {kpi} a priority for you next quarter, and what stands in its way?",
    "KPI_DECLINING": "What has changed on your side that moves {kpi} the wrong way?",
    # a figure of ours left out is ours to correct ("us": nothing to ask them); one of theirs, theirs to send again
    "KPI_MISSING": {"joint": "Can you send us your {quarter} figure for {kpi}, and what would make it easy to send "
                             "every quarter?",
                    "partner": "Can you send your {quarter} figure for {kpi} again, in a form we can read?", "us": ""},
    "KPI_DISCREPANCY": "Which figure for {kpi} should we both work from, and which system should be the source?",
    "KPI_CONFLICT": "Which figure for {kpi} should we both work from, and which system should be the source?",
    "KPI_RESTATED": "What changed in your past figures for {kpi}, and should we both restate them?",
    "COMMITMENT_OVERDUE": {"partner": "What stands in the way of “{what}”, and what would help you deliver it?",
                           "us": "What has our delay on “{what}” cost you, and what would make up for it?",
                           "joint": "Who on each side owns “{what}”, and what would it take to finish it?"},
    "COMMITMENT_SLIPPED": {"partner": "What keeps moving “{what}”, and what date can you hold?",
                           "us": "What has our delay on “{what}” cost you, and what would make up for it?",
                           "joint": "Who on each side owns “{what}”, and what date can we both hold?"},
    "COMMITMENT_DROPPED": "Is “{what}” still something we both want, or shall we agree to close it?",
    "COMMITMENT_STALE": "Where does “{what}” stand today?",
    "COMMITMENT_INCOMPLETE": "Who owns “{what}”, by when, and how will we know it is done?",
    "RECIPROCITY_IMBALANCE": "How should we share next quarter's commitments, so that both sides carry the plan?",
    "NO_CHECKIN": "How often should we meet, and who should be in the room?",
    "DATA_PROBLEM": {"joint": "Some of your figures could not be used: who on your side should we go through them with?",
                     "us": ""},
}
PAUSED_QUESTION = "What led to the pause, and what would need to be true for us to restart?"


@dataclass
class Brief:
    """One partner's meeting brief: frames and sentences, every judgement made; the renderer formats."""

    partner_id: str
    partner_name: str
    quarter: str
    next_quarter: str
    as_of: dt.date
    organisation: str
    internal_owner: str
    partner_lead: str
    tier: str
    currency: str                          # the reporting currency, for the sentences' figures
    health: dict[str, Any]                 # score, status, state, previous_score, confidence
    standing: pd.DataFrame                 # per party: made, done_on_time, done_late, open, overdue, slipped, dropped
    late: pd.DataFrame                     # late on each side (ours first, joint, theirs), by owner
    to_agree: pd.DataFrame                 # the open disagreements on figures, with both cells
    pressure: pd.DataFrame                 # the KPIs they miss this quarter
    pulse: pd.DataFrame                    # their answers this quarter: question, score, previous, comment
    rating: float | None                   # their mean rating this quarter (1-5), None when not answered
    theirs: pd.DataFrame                   # the Canvas entries for their side: kind, text, weight
    ours: pd.DataFrame                     # the Canvas entries for our side
    no_alternative: bool                   # no alternative recorded for our side: said first
    what_if: pd.DataFrame                  # analyse.whatif.WHAT_IF_COLUMNS, most valuable first
    resets: pd.DataFrame                   # kpi, unit, next target, run rate, attainment at that rate, suggestion
    trades: pd.DataFrame                   # give, get, why
    questions: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    edges: tuple[float, ...] = ()          # the attainment band edges (`Thresholds.edges`) its figures never round up to


def briefs(analysis: Analysis, partner_ids: list[str]) -> list[Brief]:
    """The briefs of `partner_ids`: every frame filtered and judged once for all of them (the what-if options
    scored in one call), then sliced per partner."""
    a, pids = analysis, [str(p) for p in partner_ids]
    rec, q = a.reconciled, a.quarter
    defs = a.kpi_definitions if a.kpi_definitions is not None else kpi_definitions(rec.kpis)
    names = dict(zip(defs["kpi_id"].astype(str), defs["kpi_name"].astype(str)))
    units = dict(zip(defs["kpi_id"].astype(str), defs["unit"].astype(str)))
    cs = _mine(a.commitment_status, pids)
    kq = _mine(a.kpi_quarterly, pids)
    options = what_if(a, pids)
    agree = _mine(a.disagreements, pids)
    agree = agree[agree["quarter"].astype(str) == q.label]
    agree = agree.assign(kpi=agree["kpi_id"].astype(str).map(names), unit=agree["kpi_id"].astype(str).map(units))
    canvas = _mine(rec.canvas, pids)
    canvas = canvas.assign(_k=canvas["kind"].map({k: i for i, k in enumerate(SIDE_KINDS)}),
                           _w=-pd.to_numeric(canvas["weight"], errors="coerce").fillna(0))
    canvas = canvas.sort_values(["partner_id", "_k", "_w"], kind="stable")
    parts = {
        "partners": _Split(_mine(rec.partners, pids)), "health": _Split(_mine(a.health, pids)),
        "standing": _Split(_standing(_mine(a.delivery, pids))), "late": _Split(_late(cs)),
        "to_agree": _Split(agree), "pressure": _Split(_pressure(kq[kq["qindex"] == q.index], names, units)),
        "pulse": _Split(_mine(a.pulse, pids)), "canvas": _Split(canvas), "what_if": _Split(options),
        "resets": _Split(_resets(a, pids, kq, defs)), "deals": _Split(commitment_trades(cs, options)),
        "findings": _Split(_mine(a.findings, pids)), "no_alternative": set(a.no_alternative),
    }
    return [_brief(a, pid, parts, names) for pid in pids]


def without_alternative(canvas: pd.DataFrame, partner_ids: list[str]) -> list[str]:
    """The partners (of `partner_ids`, in their order) whose Canvas records no alternative for our side: we would
    negotiate without knowing what we do if there is no agreement. Their briefs and the portfolio say so."""
    has = set(canvas.loc[(canvas["side"] == "us") & (canvas["kind"] == "alternative"), "partner_id"].astype(str)) \
        if len(canvas) else set()
    return [pid for pid in map(str, partner_ids) if pid not in has]


def _mine(frame: pd.DataFrame | None, pids: list[str]) -> pd.DataFrame:
    """The rows of `pids` (an empty frame with partner_id for None)."""
    if frame is None:
        return pd.DataFrame(columns=["partner_id"])
    return frame[frame["partner_id"].astype(str).isin(pids)]


class _Split:
    """A frame of many partners sorted once, each partner's rows a cheap slice."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame.sort_values("partner_id", kind="stable").reset_index(drop=True)
        self.spans = partner_spans(self.frame["partner_id"].astype("str").to_numpy())
        self._empty = self.frame.iloc[0:0]   # the rows of a partner without any (never changed in place)

    def take(self, pid: str) -> pd.DataFrame:
        span = self.spans.get(pid)
        if span is None:
            return self._empty
        return self.frame.iloc[span[0]:span[1]].reset_index(drop=True)

    def first(self, pid: str) -> dict[str, Any]:
        """The partner's first row as a dict ({} when it has none), without a frame per partner."""
        if pid not in self.spans:
            return {}
        if not hasattr(self, "_rows"):
            self._rows = [{str(k): (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                          for r in records(self.frame)]
        return self._rows[self.spans[pid][0]]



def _brief(a: Analysis, pid: str, parts: dict[str, Any], kpi_names: dict[str, str]) -> Brief:
    rec, q = a.reconciled, a.quarter
    partner = parts["partners"].first(pid)
    health = parts["health"].first(pid)
    pulse, rating = _pulse(parts["pulse"].take(pid), q.index)
    canvas = parts["canvas"].take(pid)[["side", "kind", "text", "weight"]]
    theirs = canvas[canvas["side"] == "partner"].reset_index(drop=True) if len(canvas) else canvas
    ours = canvas[canvas["side"] == "us"].reset_index(drop=True) if len(canvas) else canvas
    options = parts["what_if"].take(pid)
    deals = parts["deals"].take(pid)[TRADE_COLUMNS]
    offered = canvas_trades(theirs, ours)
    trades = deals.reset_index(drop=True) if not len(offered) else \
        offered if not len(deals) else pd.concat([offered, deals], ignore_index=True)
    b = Brief(
        partner_id=pid, partner_name=text_of(partner.get("partner_name")) or pid, quarter=q.label,
        next_quarter=q.shift(1).label, as_of=a.as_of, organisation=rec.config.organisation,
        internal_owner=text_of(partner.get("internal_owner")), partner_lead=text_of(partner.get("partner_lead")),
        tier=text_of(partner.get("tier")), currency=rec.config.org.reporting_currency, health=health,
        edges=a.thresholds.edges,
        standing=parts["standing"].take(pid),
        late=parts["late"].take(pid), to_agree=parts["to_agree"].take(pid),
        pressure=parts["pressure"].take(pid), pulse=pulse, rating=rating, theirs=theirs, ours=ours,
        no_alternative=pid in parts["no_alternative"], what_if=options,
        resets=parts["resets"].take(pid) if health.get("state") != "paused" else parts["resets"].take(""),
        trades=trades)
    b.questions = _questions(parts["findings"].take(pid), pulse, q.label, health.get("state") == "paused",
                             kpi_names)
    b.decisions = _decisions(b)
    return b


def _standing(delivery: pd.DataFrame) -> pd.DataFrame:
    cols = ["partner_id", "party", "made", "done_on_time", "done_late", "open", "overdue", "slipped", "dropped",
            "on_time_rate"]
    d = delivery.reindex(columns=cols)
    d = d.assign(_o=d["party"].map({"partner": 0, "us": 1, "joint": 2}))
    return d.sort_values(["partner_id", "_o"], kind="stable")[cols]


PARTY_ORDER = {"us": 0, "joint": 1, "partner": 2}


def _late(cs: pd.DataFrame) -> pd.DataFrame:
    """The commitments late on each side, ours first (our credibility at the table), then joint, then theirs:
    overdue at the quarter's end, done late, or moved past their first agreed date; by owner, latest first."""
    cols = ["partner_id", "party", "owner", "commitment_id", "description", "due_date", "first_due_date", "status",
            "days_late", "slip_days", "why"]
    live = cs[~cs["is_dropped"].astype(bool)]
    done_late = live["on_time"].astype("boolean").eq(False).fillna(False).astype(bool)
    overdue = live["is_overdue"].astype(bool)
    late = overdue | done_late | (live["slip_days"].astype(int) > 0)
    m = live[late]
    due, done = pd.to_datetime(m["due_date"]), pd.to_datetime(m["completed_date"])
    m = m.assign(days_late=m["days_overdue"].astype(int).where(overdue[late],
                                                               (done - due).dt.days.fillna(0).clip(lower=0).astype(int)),
                 why=np.select([overdue[late], done_late[late]], ["overdue", "done late"], "moved"),
                 owner=m["owner"].map(text_of).replace("", "no owner"), _p=m["party"].map(PARTY_ORDER))
    m = m.sort_values(["partner_id", "_p", "owner", "days_late", "slip_days"],
                      ascending=[True, True, True, False, False], kind="stable")
    return m.reindex(columns=cols)


def _pressure(now: pd.DataFrame, names: dict, units: dict) -> pd.DataFrame:
    """The KPIs with a target that are not on track this quarter: their pressure, and ours."""
    cols = ["partner_id", "kpi_id", "kpi", "unit", "target", "actual", "attainment", "status", "change_qoq"]
    miss = now[now["target"].notna() & now["status"].isin(["off_track", "at_risk", "missing"])]
    miss = miss.assign(kpi=miss["kpi_id"].astype(str).map(names), unit=miss["kpi_id"].astype(str).map(units),
                       _a=miss["attainment"].fillna(-1.0))
    return miss.sort_values(["partner_id", "_a", "kpi"], kind="stable").reindex(columns=cols)


def _pulse(table: pd.DataFrame, qindex: int) -> tuple[pd.DataFrame, float | None]:
    cols = ["question", "score", "previous", "comment"]
    if not len(table):
        return pd.DataFrame(columns=cols), None
    this = table[table["qindex"] == qindex]
    before = table[table["qindex"] < qindex].sort_values("qindex").groupby("question_id")["score"].last()
    out = pd.DataFrame({"question": [text_of(x) or text_of(i) for x, i in zip(this["question"], this["question_id"])],
                        "score": this["score"].astype(float).to_numpy(),
                        "previous": [before.get(i, float("nan")) for i in this["question_id"]],
                        "comment": this["comment"].map(text_of).to_numpy()})
    scores = out["score"].dropna()
    return out, (float(scores.mean()) if len(scores) else None)


def round_target(value: float, unit: str) -> float:
    """A target a person would propose: three significant figures (a whole number for counts, days and scores
    under 1,000; a tenth of a point for percentages)."""
    if not np.isfinite(value) or value == 0:
        return value
    if unit == "percent":
        return round(value, 3)
    digits = 2 - int(np.floor(np.log10(abs(value))))
    out = round(value, digits)
    return float(round(out)) if unit in ("count", "days", "score") and abs(out) >= 1 else float(out)


def _resets(a: Analysis, pids: list[str], kq: pd.DataFrame, defs: pd.DataFrame) -> pd.DataFrame:
    """The KPIs whose next-quarter target the recent run rate (the mean of the last `RESET_QUARTERS` quarters'
    full figures) would leave off track, or beat by `RESET_RAISE` or more: the reset the trend supports."""
    cols = ["partner_id", "kpi_id", "kpi", "unit", "target", "run_rate", "proposed", "quarters", "attainment",
            "move", "suggestion"]
    config, nxt_q = a.reconciled.config, a.quarter.shift(1)
    t = a.reconciled.targets
    t = t[t["partner_id"].astype(str).isin(pids) & (t["quarter"] == nxt_q.label)]
    if not len(t):
        return pd.DataFrame(columns=cols)
    nxt = rolled_targets(t, defs)[["partner_id", "kpi_id", "target"]]
    past = kq[(kq["qindex"] <= a.quarter.index) & kq["actual"].notna() & ~kq["partial"].astype(bool)]
    past = past.sort_values("qindex", kind="stable").groupby(["partner_id", "kpi_id"]).tail(RESET_QUARTERS)
    rate = past.groupby(["partner_id", "kpi_id"], as_index=False)["actual"].agg(run_rate="mean", quarters="count")
    r = nxt.merge(rate[rate["quarters"] >= RESET_QUARTERS], on=["partner_id", "kpi_id"]).merge(
        defs[["kpi_id", "kpi_name", "unit", "direction"]], on="kpi_id")
    r["attainment"] = attainment(r["run_rate"], r["target"], r["direction"], config.health.attainment_cap)
    off = (r["attainment"] < float(config.kpi.attainment_high)) | (r["attainment"] >= RESET_RAISE)
    r = r[off].rename(columns={"kpi_name": "kpi"})
    r["proposed"] = [round_target(v, u) for v, u in zip(r["run_rate"], r["unit"])]
    r = r[r["proposed"] != r["target"]]
    r["move"] = np.where(r["proposed"] < r["target"], "lower", "raise")
    cur = config.org.reporting_currency
    r["suggestion"] = [f"{m} the {nxt_q.label} target from {fmt_value(t_, u, cur)} to {fmt_value(p_, u, cur)}, the average "
                       f"of the last {n} quarters" for m, t_, p_, u, n in
                       zip(r["move"], r["target"], r["proposed"], r["unit"], r["quarters"])]
    return r.sort_values(["partner_id", "attainment"], kind="stable").reindex(columns=cols)


def _questions(findings: pd.DataFrame, pulse: pd.DataFrame, quarter: str, paused: bool,
               kpi_names: dict[str, str]) -> list[str]:
    """Questions to ask them, one per kind of finding (its most severe subject first, five at most), worded
    after the finding's most severe flag, with no code of ours in them; then one on their lowest pulse answer."""
    out: list[str] = [PAUSED_QUESTION] if paused else []
    asked: set[str] = set()   # one question per kind of finding: its most severe subject
    for codes, subject, title, whose in zip(findings["codes"].astype(str), findings["subject"].astype(str),
                                            findings["title"].astype(str), findings["whose_move"].astype(str)):
        found = QUESTIONS.get(codes.split(";")[0], "")
        template = found.get(whose, found["joint"]) if isinstance(found, dict) else found
        if not template or template in asked:
            continue
        asked.add(template)
        what = title.split(" (", 1)[1].rsplit(")", 1)[0] if " (" in title and title.endswith(")") else title
        out.append(template.format(kpi=lower_first(kpi_names.get(subject, title)), what=what, quarter=quarter))
    out = out[:5]
    answered = pulse[pulse["score"].notna()] if len(pulse) else pulse
    if len(answered):
        low = answered.sort_values("score", kind="stable").iloc[0]
        if float(low["score"]) <= LOW_SCORE:
            out.append(f"You gave “{low['question']}” {float(low['score']):.0f} out of 5: "
                       f"what would make it a 4 or a 5?")
    return out


def _decisions(b: Brief) -> list[str]:
    """What we decide among ourselves before the meeting; the missing alternative first."""
    out: list[str] = []
    if b.no_alternative:
        out.append("No alternative recorded: decide what we do without this agreement before the meeting, and add "
                   "it to the Canvas.")
    if not any(k == "limit" for k in b.ours["kind"]):
        out.append("No limit recorded: decide what we will not concede.")
    late = records(b.late, ("owner", "party", "commitment_id"))
    owners: dict[str, list[str]] = {}
    for r in late:
        if str(r["party"]) == "us":
            owners.setdefault(str(r["owner"]), []).append(str(r["commitment_id"]))
    for owner, ids in owners.items():
        out.append(f"Agree with {owner} a date we can keep for {', '.join(ids)} before we ask anything of them.")
    joint = [str(r["commitment_id"]) for r in late if r["party"] == "joint"]
    if joint:
        out.append(f"Agree who on our side drives the joint {', '.join(joint)}, and a date we can keep.")
    for r in records(b.to_agree, ("kpi", "unit", "internal", "partner")):
        unit = str(r["unit"])
        out.append(f"Decide which figure for {r['kpi']} we stand on: ours {fmt_value(float(r['internal']), unit, b.currency)} "
                   f"or theirs {fmt_value(float(r['partner']), unit, b.currency)}.")
    traded = {key(t) for t in b.trades["give"]}
    for r in records(b.theirs, ("kind", "text", "weight")):
        text = str(r["text"])
        if r["kind"] != "ask" or key(text) in traded:
            continue
        w = pd.to_numeric(r["weight"], errors="coerce")
        out.append(f"They will ask for “{text}” (they weigh it {1 if pd.isna(w) else w:.0f} of 3): decide whether we "
                   "give it, and for what.")
    low = [(q, float(sc)) for q, sc in zip(b.pulse["question"], b.pulse["score"]) if not pd.isna(sc) and sc <= LOW_SCORE]
    if low:
        said = "; ".join(f"“{q}” {sc:.0f} of 5" for q, sc in low)
        out.append(f"They rate us low on {said}: decide what we offer on it.")
    if len(b.resets):
        n = len(b.resets)
        out.append(f"Decide whether we propose the {'reset' if n == 1 else f'{n} resets'} of {b.next_quarter} "
                   "targets the trend supports (under Options), or hold the plan and trade the reset for something.")
    return out
