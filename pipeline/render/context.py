"""What every section of the partner review shares: the vocabulary (flag titles, status words) and
`Ctx`, the names and lookups taken from one `PartnerView` once."""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.core.frames import count, true  # noqa: F401 - the sections import them from here
from pipeline.render import layout as L
from pipeline.render.layout import fmt_number, is_missing

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import PartnerView

FLAG_TITLES = {
    "KPI_BELOW_TARGET": "KPI below target", "KPI_DECLINING": "KPI declining", "KPI_MISSING": "KPI not reported",
    "KPI_DISCREPANCY": "Figures disagree", "KPI_CONFLICT": "Conflicting figures", "KPI_RESTATED": "Past figure restated",
    "COMMITMENT_OVERDUE": "Commitment overdue", "COMMITMENT_SLIPPED": "Commitment slipped",
    "COMMITMENT_DROPPED": "Commitment dropped", "COMMITMENT_STALE": "Commitment not updated",
    "COMMITMENT_INCOMPLETE": "Commitment incomplete", "RECIPROCITY_IMBALANCE": "Delivery out of balance",
    "NO_CHECKIN": "No check-in", "DATA_PROBLEM": "Data excluded",
}
KPI_STATUS = {"on_track": ("On track", "green"), "at_risk": ("At risk", "amber"), "off_track": ("Off track", "red"),
              "missing": ("Not reported", "none"), "partial": ("Partial quarter", "none"), "no_target": ("No target", "none")}
PARTIES = {"us": "Us", "partner": "You", "joint": "Both of us"}  # the review speaks to the partner
HEALTH_WORDS = {"green": "Healthy", "amber": "Needs attention", "red": "At risk"}
COMPONENTS = {"kpi_attainment": "KPI attainment", "our_delivery": "Our delivery",
              "partner_delivery": "Partner's delivery", "data_quality": "Data quality"}

COMMITMENT_FIELDS = ("commitment_id", "party", "owner", "description", "note", "linked_kpi_id", "status", "due_date",
                     "completed_date", "on_time", "percent_complete", "slip_days", "is_open", "is_overdue",
                     "days_overdue", "is_dropped")


class Ctx:
    """Names and lookups every section needs, taken from the view once."""

    def __init__(self, view: PartnerView) -> None:
        self.view = view
        self.partner = str(view.partner.get("partner_name") or view.partner.get("partner_id") or "")
        self.lead = str(view.partner.get("partner_lead") or "") or self.partner
        self.us = view.organisation   # '' when organisation.name is not set: never invented
        self.q = view.quarter.label
        self.currency = view.config.currency
        self.kpi = {r["kpi_id"]: r for r in L.records(view.kpis)}

    @cached_property
    def current(self) -> list[dict[str, Any]]:
        """The KPI rows of the review's quarter, as dicts (read from the frame once; sections loop over them)."""
        return L.records(current(self.view))

    @cached_property
    def commitments(self) -> list[dict[str, Any]]:
        """The commitments as dicts of the columns the review shows (never ``internal_note``)."""
        return L.records(self.view.commitments, COMMITMENT_FIELDS)

    @cached_property
    def flags(self) -> list[dict[str, Any]]:
        """The partner's flags as dicts, in the view's order (most severe first)."""
        return L.records(self.view.flags)

    @cached_property
    def findings(self) -> list[dict[str, Any]]:
        """The partner's findings (one per subject) as dicts, theme by theme in the view's order."""
        return L.records(self.view.findings)

    @cached_property
    def themes(self) -> list[dict[str, Any]]:
        """The partner's themes as dicts, most important first."""
        return L.records(self.view.themes)

    @property
    def paused(self) -> bool:
        """The analysis's state: the partnership is paused (its registry status)."""
        return self.view.health.get("state") == "paused"

    def party(self, code: object) -> str:
        """Who, as the review speaks to the partner: us, you, both of us."""
        return PARTIES.get(str(code or ""), "—")

    def subject(self, subject: object) -> str:
        s = "" if is_missing(subject) else str(subject)
        return str(self.kpi[s]["kpi_name"]) if s in self.kpi else s

    def value(self, kpi_id: str, v: object) -> str:
        return fmt_number(v, str(self.kpi.get(kpi_id, {}).get("unit") or "count"), self.currency)


def current(v: PartnerView) -> pd.DataFrame:
    """The KPI rows of the review's own quarter."""
    kq = v.kpi_quarterly
    return kq[kq["quarter"] == v.quarter.label]


