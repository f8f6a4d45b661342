"""What each partner's data request asks for next quarter (the loop back, review.md): decided here, written
by `pipeline.write.requests`.

For every partner reviewed: its KPIs with next quarter's target and the periods to report (the three months
when the partner reported the KPI by month this quarter, else the quarter), last quarter's figure beside
them for reference (theirs where they reported one, else ours); its own and the joint commitments that
are still open, to update; ours, open, for reference; the pulse questions; and the date the answers are
due (``report.request_due_days`` after the quarter asked for ends). Only this partner's rows, and never
an ``internal_note``.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.core.frames import records
from pipeline.core.periods import Quarter

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import Analysis

def questions(entries: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(question_id, question) of each 'question_id: question' setting (`report.pulse_questions`)."""
    return tuple((e.split(":", 1)[0].strip(), e.split(":", 1)[1].strip()) for e in entries)


@dataclass(frozen=True)
class RequestKpi:
    kpi_id: str
    kpi_name: str
    unit: str
    periods: tuple[str, ...]        # the periods to report: the quarter, or its three months
    target: float | None            # next quarter's target, when the plan has one
    last_value: float | None        # last quarter's figure, for reference
    last_source: str                # "partner" (their own figure) or "internal" (ours), "" when none


@dataclass(frozen=True)
class RequestCommitment:
    commitment_id: str
    party: str                      # us | partner | joint
    description: str
    owner: str
    due_date: dt.date | None
    status: str                     # one of COMMITMENT_STATES
    percent_complete: float | None  # 0..1
    note: str


@dataclass(frozen=True)
class DataRequest:
    partner_id: str
    partner_name: str
    partner_lead: str
    internal_owner: str
    internal_owner_email: str
    organisation: str
    reviewed: str                   # the quarter just reviewed
    quarter: str                    # the quarter the request asks about
    due: dt.date                    # when the answers are due back
    kpis: tuple[RequestKpi, ...]
    theirs: tuple[RequestCommitment, ...]   # the partner's and the joint open commitments: to update
    ours: tuple[RequestCommitment, ...]     # our open commitments: for reference
    questions: tuple[tuple[str, str], ...]


def data_request(analysis: Analysis, partner_id: str) -> DataRequest:
    """The request sent with `partner_id`'s review of ``analysis.quarter``, for the quarter after it."""
    return data_requests(analysis, [partner_id])[0]


def data_requests(analysis: Analysis, partner_ids: list[str]) -> list[DataRequest]:
    """The requests of `partner_ids`, each frame filtered once for all of them and read as plain rows."""
    rec, config = analysis.reconciled, analysis.reconciled.config
    reviewed = analysis.quarter
    nxt = reviewed.shift(1)
    wanted = set(partner_ids)
    partners = {str(r["partner_id"]): r for r in records(rec.partners[rec.partners["partner_id"].isin(wanted)])}
    t = rec.targets
    t = t[(t["quarter"] == nxt.label) & t["partner_id"].isin(wanted)]
    targets = {pid: g.groupby("kpi_id")["target"].sum(min_count=1).to_dict() for pid, g in t.groupby("partner_id")}
    kq = analysis.kpi_quarterly
    kq = kq[(kq["qindex"] == reviewed.index) & kq["partner_id"].isin(wanted)]
    now: dict[str, dict[str, dict[str, Any]]] = {}   # partner -> KPI -> its row this quarter
    for r in records(kq, ("partner_id", "kpi_id", "partner", "internal")):
        now.setdefault(str(r["partner_id"]), {}).setdefault(str(r["kpi_id"]), r)
    v = rec.kpi_values
    v = v[(v["quarter"] == reviewed.label) & (v["period_kind"] == "month") & (v["source"] == "partner")
          & v["partner_id"].isin(wanted)]
    monthly: dict[str, set[str]] = {}
    for pid, kid in zip(v["partner_id"], v["kpi_id"]):
        monthly.setdefault(pid, set()).add(kid)
    cs = analysis.commitment_status
    cs = cs[cs["partner_id"].isin(wanted) & cs["is_open"].astype(bool) & ~cs["is_dropped"].astype(bool)]
    cs = cs.sort_values(["due_date", "commitment_id"], na_position="last", kind="stable")
    open_: dict[str, list[RequestCommitment]] = {}
    for r in records(cs, ("partner_id", *_COMMITMENT_FIELDS)):
        open_.setdefault(r["partner_id"], []).append(_commitment(r))
    defs = {str(k): (_text(n) or str(k), _text(u) or "count")
            for k, n, u in zip(rec.kpis["kpi_id"], rec.kpis["kpi_name"], rec.kpis["unit"])} if len(rec.kpis) else {}
    months = tuple(f"{y}-{m:02d}" for y, m in nxt.months(config.fy_start))
    due = nxt.end_date(config.fy_start) + dt.timedelta(days=int(config.report.request_due_days))
    asked = questions(config.report.pulse_questions)
    out = []
    for pid in partner_ids:
        partner = partners[str(pid)]
        mine = open_.get(pid, [])
        out.append(DataRequest(
            partner_id=pid, partner_name=_text(partner.get("partner_name")) or pid,
            partner_lead=_text(partner.get("partner_lead")), internal_owner=_text(partner.get("internal_owner")),
            internal_owner_email=_text(partner.get("internal_owner_email")).split(";")[0].split(",")[0].strip(),
            organisation=config.organisation, reviewed=reviewed.label, quarter=nxt.label, due=due,
            kpis=_kpis(now.get(pid, {}), targets.get(pid, {}), monthly.get(pid, set()), defs, months, nxt),
            theirs=tuple(c for c in mine if c.party in ("partner", "joint")),
            ours=tuple(c for c in mine if c.party == "us"), questions=asked))
    return out


def _kpis(now: dict[str, dict[str, Any]], target_of: dict, monthly: set, defs: dict[str, tuple[str, str]],
          months: tuple[str, ...], nxt: Quarter) -> tuple[RequestKpi, ...]:
    """The KPIs the partner has this quarter or a target for next quarter, in that order."""
    out = []
    for kid in dict.fromkeys([*now, *map(str, target_of)]):
        if kid not in defs:
            continue
        last_value, last_source = None, ""
        row = now.get(kid, {})
        for source in ("partner", "internal"):
            if _number(row.get(source)) is not None:
                last_value, last_source = _number(row.get(source)), source
                break
        name, unit = defs[kid]
        out.append(RequestKpi(kpi_id=kid, kpi_name=name, unit=unit, periods=months if kid in monthly else (nxt.label,),
                              target=_number(target_of.get(kid)), last_value=last_value, last_source=last_source))
    return tuple(out)


_COMMITMENT_FIELDS = ("commitment_id", "party", "description", "owner", "due_date", "status", "percent_complete", "note")


def _commitment(r: dict[str, Any]) -> RequestCommitment:
    due = r.get("due_date")
    return RequestCommitment(
        commitment_id=_text(r.get("commitment_id")), party=_text(r.get("party")), description=_text(r.get("description")),
        owner=_text(r.get("owner")), due_date=None if due is None or pd.isna(due) else pd.Timestamp(due).date(),
        status=_text(r.get("status")), percent_complete=_number(r.get("percent_complete")),
        note=_text(r.get("note")))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
