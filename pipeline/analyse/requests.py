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
    """The requests of `partner_ids`, each frame filtered and grouped once for all of them."""
    rec, config = analysis.reconciled, analysis.reconciled.config
    reviewed = analysis.quarter
    nxt = reviewed.shift(1)
    wanted = set(partner_ids)
    partners = rec.partners.set_index("partner_id")
    t = rec.targets
    t = t[(t["quarter"] == nxt.label) & t["partner_id"].isin(wanted)]
    targets = {pid: g.groupby("kpi_id")["target"].sum(min_count=1).to_dict() for pid, g in t.groupby("partner_id")}
    kq = analysis.kpi_quarterly
    kq = kq[(kq["qindex"] == reviewed.index) & kq["partner_id"].isin(wanted)]
    now = {pid: g.set_index("kpi_id") for pid, g in kq.groupby("partner_id")}
    v = rec.kpi_values
    v = v[(v["quarter"] == reviewed.label) & (v["period_kind"] == "month") & (v["source"] == "partner")
          & v["partner_id"].isin(wanted)]
    monthly = {pid: set(g["kpi_id"]) for pid, g in v.groupby("partner_id")}
    cs = analysis.commitment_status
    cs = cs[cs["partner_id"].isin(wanted) & cs["is_open"].astype(bool) & ~cs["is_dropped"].astype(bool)]
    cs = cs.sort_values(["due_date", "commitment_id"], na_position="last", kind="stable")
    open_ = {pid: g for pid, g in cs.groupby("partner_id")}
    defs = rec.kpis.set_index("kpi_id") if len(rec.kpis) else pd.DataFrame()
    months = tuple(f"{y}-{m:02d}" for y, m in nxt.months(config.fy_start))
    due = nxt.end_date(config.fy_start) + dt.timedelta(days=int(config.report.request_due_days))
    asked = questions(config.report.pulse_questions)
    out = []
    for pid in partner_ids:
        partner = partners.loc[pid]
        mine = open_.get(pid, cs.iloc[0:0])
        out.append(DataRequest(
            partner_id=pid, partner_name=_text(partner.get("partner_name")) or pid,
            partner_lead=_text(partner.get("partner_lead")), internal_owner=_text(partner.get("internal_owner")),
            internal_owner_email=_text(partner.get("internal_owner_email")).split(";")[0].split(",")[0].strip(),
            organisation=config.organisation, reviewed=reviewed.label, quarter=nxt.label, due=due,
            kpis=_kpis(now.get(pid), targets.get(pid, {}), monthly.get(pid, set()), defs, months, nxt),
            theirs=_commitments(mine[mine["party"].isin(("partner", "joint"))]),
            ours=_commitments(mine[mine["party"] == "us"]), questions=asked))
    return out


def _kpis(now: pd.DataFrame | None, target_of: dict, monthly: set, defs: pd.DataFrame, months: tuple[str, ...],
          nxt: Quarter) -> tuple[RequestKpi, ...]:
    """The KPIs the partner has this quarter or a target for next quarter, in that order."""
    now = now if now is not None else pd.DataFrame(columns=["partner", "internal"])
    out = []
    for kid in dict.fromkeys([*now.index.astype(str), *map(str, target_of)]):
        if kid not in defs.index:
            continue
        last_value, last_source = None, ""
        if kid in now.index:
            row = now.loc[kid]
            for source in ("partner", "internal"):
                if _number(row.get(source)) is not None:
                    last_value, last_source = _number(row.get(source)), source
                    break
        out.append(RequestKpi(kpi_id=kid, kpi_name=_text(defs.loc[kid, "kpi_name"]) or kid,
                              unit=_text(defs.loc[kid, "unit"]) or "count",
                              periods=months if kid in monthly else (nxt.label,),
                              target=_number(target_of.get(kid)), last_value=last_value, last_source=last_source))
    return tuple(out)


def _commitments(mine: pd.DataFrame) -> tuple[RequestCommitment, ...]:
    out = []
    for r in mine.to_dict("records"):
        due = r.get("due_date")
        out.append(RequestCommitment(
            commitment_id=_text(r["commitment_id"]), party=_text(r["party"]), description=_text(r.get("description")),
            owner=_text(r.get("owner")), due_date=None if pd.isna(due) else pd.Timestamp(due).date(),
            status=_text(r.get("status")), percent_complete=_number(r.get("percent_complete")),
            note=_text(r.get("note"))))
    return tuple(out)


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
