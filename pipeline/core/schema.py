"""The shapes of things: input sheet types (the contract of ``workbooks.md``) and the reconciled and
analysis frames. Column names are constants here and nowhere else.

Header and sheet names match after `normalise` (case, spaces, ``_`` and ``-`` ignored).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

# --------------------------------------------------------------------------------------------------
# value vocabularies
UNITS = ("currency", "count", "percent", "ratio", "score", "days")
DIRECTIONS = ("higher", "lower")
AGGREGATIONS = ("sum", "last", "mean")
SOURCES = ("internal", "partner")
PARTIES = ("us", "partner", "joint")
COMMITMENT_STATES = ("not_started", "in_progress", "done", "blocked", "cancelled")
OPEN_STATES = ("not_started", "in_progress", "blocked")
PARTNER_STATUSES = ("active", "paused", "ended")
# a KPI-quarter's status: its attainment band (decided once, in `pipeline.analyse.kpis`) or why it has none
KPI_STATUSES = ("on_track", "at_risk", "off_track", "missing", "partial", "no_target")
BELOW_TARGET = ("at_risk", "off_track")  # the statuses under `kpi.attainment_medium`: KPI_BELOW_TARGET


def normalise(name: object) -> str:
    """Key for matching sheet and header names: lower case, without spaces, ``_``, ``-`` (and line breaks)."""
    return _normalise(name) if isinstance(name, str) else _SEPARATORS.sub("", str(name or "")).lower()


_SEPARATORS = re.compile(r"[\s_\-]+")


@lru_cache(maxsize=4096)
def _normalise(name: str) -> str:  # header texts repeat in every workbook and every candidate header row
    return _SEPARATORS.sub("", name).lower()


@dataclass(frozen=True)
class Column:
    name: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    kind: str = "text"  # text | id | number | period | date | choice | email | percent
    choices: tuple[str, ...] = ()
    help: str = ""

    @cached_property
    def keys(self) -> tuple[str, ...]:
        return (normalise(self.name),) + tuple(normalise(a) for a in self.aliases)


@dataclass(frozen=True)
class SheetType:
    key: str                # partners, kpis, targets, actuals, commitments, checkins, fx_rates
    title: str              # the canonical sheet name used by the templates
    aliases: tuple[str, ...]
    columns: tuple[Column, ...]
    optional: bool = False
    wide_value: str = ""    # for sheets that also come wide (targets, actuals): the value column

    @cached_property
    def keys(self) -> tuple[str, ...]:
        return (normalise(self.title), normalise(self.key)) + tuple(normalise(a) for a in self.aliases)

    @property
    def required(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


C = Column
PARTNERS = SheetType("partners", "Partners", ("Partner Registry", "Registry"), (
    C("partner_id", True, ("Partner ID", "ID"), "id", help="stable key used in every other sheet"),
    C("partner_name", True, ("Partner", "Name", "Partner Name"), help="shown in the review"),
    C("tier", help="e.g. Strategic, Gold, Silver"),
    C("partner_lead", aliases=("Partner Contact",), help="the person at the partner who receives the review"),
    C("partner_lead_email", aliases=("Partner Email", "Contact Email"), kind="email", help="one or more addresses, separated by ; or ,"),
    C("internal_owner", aliases=("Owner", "Alliance Manager"), help="our person accountable for the partnership"),
    C("internal_owner_email", kind="email", help="copied on the review e-mail"),
    C("status", kind="choice", choices=PARTNER_STATUSES, help="active (default), paused, ended: ended partners get no review"),
))
KPIS = SheetType("kpis", "KPIs", ("KPI Definitions", "Metrics"), (
    C("kpi_id", True, ("KPI ID", "Metric ID"), "id", help="key"),
    C("kpi_name", True, ("KPI", "Metric"), help="shown in the review"),
    C("unit", kind="choice", choices=UNITS, help="currency, count, percent, ratio, score, days (default count)"),
    C("direction", kind="choice", choices=DIRECTIONS, help="higher (default) or lower: for lower, beating the target means being under it"),
    C("aggregation", kind="choice", choices=AGGREGATIONS, help="how months roll up to a quarter: sum (default for currency and count), last, mean"),
    C("weight", kind="number", help="weight in the health score (default 1)"),
))
TARGETS = SheetType("targets", "Targets", ("KPI Targets",), (
    C("partner_id", True, ("Partner ID", "Partner"), "id", help="partner_id or exact partner_name; * for every partner"),
    C("kpi_id", True, ("KPI ID", "KPI", "Metric ID"), "id"),
    C("period", True, ("Quarter", "Month"), "period", help="2026-Q2, Q2 2026, 2026-05, a date"),
    C("target", True, ("Target Value",), "number"),
), wide_value="target")
ACTUALS = SheetType("actuals", "Actuals", ("KPI Actuals", "Results", "Performance"), (
    C("partner_id", True, ("Partner ID", "Partner"), "id"),
    C("kpi_id", True, ("KPI ID", "KPI", "Metric ID"), "id"),
    C("period", True, ("Quarter", "Month"), "period"),
    C("value", True, ("Actual", "Actual Value"), "number"),
    C("source", kind="choice", choices=SOURCES, help="internal (default) or partner: who reported the figure"),
    C("currency", help="when it is not the reporting currency"),
    C("note"),
), wide_value="value")
COMMITMENTS = SheetType("commitments", "Commitments", ("Commitment Log", "Joint Business Plan", "Action Items"), (
    C("commitment_id", True, ("ID", "Ref"), "id", help="stable from quarter to quarter"),
    C("partner_id", True, ("Partner ID", "Partner"), "id"),
    C("party", True, ("Owner Party", "Committed By"), "choice", PARTIES, help="us, partner or joint"),
    C("description", True, help="what was promised"),
    C("owner", help="the person responsible"),
    C("due_date", kind="date"),
    C("baseline_due_date", aliases=("Original Due Date",), kind="date", help="the date first agreed; later due dates are slips"),
    C("status", kind="choice", choices=COMMITMENT_STATES, help="not_started, in_progress, done, blocked, cancelled"),
    C("percent_complete", kind="percent"),
    C("linked_kpi_id", help="the KPI this commitment moves"),
    C("last_updated", kind="date"),
    C("completed_date", kind="date"),
    C("note", help="shown in the review"),
    C("internal_note", help="ours alone: never in a partner-facing output"),
))
CHECKINS = SheetType("checkins", "Check-ins", ("Meetings", "Cadence", "Checkins"), (
    C("partner_id", True, ("Partner ID", "Partner"), "id"),
    C("date", True, ("Meeting Date",), "date"),
    C("type", help="e.g. QBR, monthly sync, executive sponsor"),
    C("attendees"),
    C("summary"),
), optional=True)
FX_RATES = SheetType("fx_rates", "FX Rates", ("FX", "Exchange Rates"), (
    C("period", True, ("Quarter", "Month"), "period"),
    C("currency", True),
    C("rate", True, kind="number", help="units of the reporting currency per one unit of currency"),
), optional=True)
PULSE = SheetType("pulse", "Pulse", ("Partnership Pulse", "Partner Pulse"), (
    C("partner_id", True, ("Partner ID", "Partner"), "id"),
    C("period", True, ("Quarter",), "period", help="the quarter rated, e.g. 2026-Q3"),
    C("question_id", True, ("Question ID",), "id", help="the question's key, as in the data request"),
    C("question", help="the question as asked"),
    C("score", True, ("Rating",), "number", help="a whole number from 1 (poor) to 5 (excellent); blank = not answered"),
    C("comment", help="what they would like us to know, in their words"),
), optional=True)
CANVAS_SIDES = ("us", "partner")
CANVAS_KINDS = ("goal", "interest", "alternative", "limit", "priority", "offer", "ask")
CANVAS = SheetType("canvas", "Canvas", ("Negotiation Canvas", "Negotiation Prep"), (
    C("partner_id", True, ("Partner ID", "Partner"), "id"),
    C("side", True, (), "choice", CANVAS_SIDES, "whose it is: us or partner"),
    C("kind", True, (), "choice", CANVAS_KINDS, "goal, interest, alternative, limit, priority, offer or ask"),
    C("text", True, ("Entry",), help="what we know or want, in words: ours alone, never shown to the partner"),
    C("weight", kind="number", help="how much it matters: 1, 2 or 3"),
), optional=True)
del C

SHEET_TYPES: tuple[SheetType, ...] = (PARTNERS, KPIS, TARGETS, ACTUALS, COMMITMENTS, CHECKINS, FX_RATES, PULSE, CANVAS)
PULSE_SCORES = (1, 5)   # the lowest and highest score of a pulse question
# the line in a data request's Instructions sheet (JSON after it) by which a returned request is recognised
REQUEST_MARK = "partner-review data request"
SHEET_TYPE_BY_KEY = {t.key: t for t in SHEET_TYPES}

# --------------------------------------------------------------------------------------------------
# reconciled frames (pipeline.reconcile.load.Reconciled). Provenance columns are on every frame:
PROVENANCE = ("file", "sheet", "row")  # file relative to the input folder, sheet name, 1-based Excel row

FRAMES: dict[str, dict[str, str]] = {
    "partners": {
        "partner_id": "stable key (str)",
        "partner_name": "display name (str)",
        "tier": "str or empty",
        "partner_lead": "str or empty",
        "recipients": "partner lead addresses joined by '; ' (str, may be empty)",
        "internal_owner": "str or empty",
        "internal_owner_email": "str or empty",
        "status": "active | paused | ended",
    },
    "kpis": {
        "kpi_id": "key (str)",
        "kpi_name": "display name (str)",
        "unit": "one of UNITS",
        "direction": "higher | lower",
        "aggregation": "sum | last | mean",
        "weight": "float >= 0",
    },
    "kpi_values": {
        "partner_id": "registered partner_id (references by name already resolved)",
        "kpi_id": "defined kpi_id",
        "period": "as reported, normalised: '2026-05' (month) or '2026-Q2' (fiscal quarter)",
        "period_kind": "month | quarter",
        "quarter": "fiscal quarter label the period falls in, e.g. '2026-Q2'",
        "value": "float, in the reporting currency (percent KPIs as fractions: 15% -> 0.15)",
        "source": "internal | partner",
        "currency": "currency as reported (empty = reporting currency)",
        "original_value": "float as reported, before FX",
        "note": "str or empty",
        "cell": "cell of the value, e.g. 'D17'",
    },
    "targets": {
        "partner_id": "registered partner_id ('*' rows expanded to every partner without its own)",
        "kpi_id": "defined kpi_id",
        "period": "as in kpi_values",
        "period_kind": "month | quarter",
        "quarter": "fiscal quarter label",
        "target": "float",
        "from_default": "True when expanded from a '*' row",
        "cell": "cell of the target",
    },
    "commitments": {
        "commitment_id": "key (str)",
        "partner_id": "registered partner_id",
        "party": "us | partner | joint",
        "description": "str, as typed",
        "owner": "str or empty",
        "due_date": "Timestamp or NaT",
        "baseline_due_date": "Timestamp or NaT",
        "status": "one of COMMITMENT_STATES",
        "status_raw": "the status as typed",
        "percent_complete": "float 0..1 or NaN",
        "linked_kpi_id": "str or empty",
        "last_updated": "Timestamp or NaT",
        "completed_date": "Timestamp or NaT",
        "note": "str or empty (partner-facing)",
        "internal_note": "str or empty: NEVER partner-facing",
    },
    "checkins": {
        "partner_id": "registered partner_id",
        "date": "Timestamp",
        "quarter": "fiscal quarter label",
        "type": "str or empty",
        "attendees": "str or empty",
        "summary": "str or empty",
    },
    "pulse": {
        "partner_id": "registered partner_id",
        "quarter": "fiscal quarter label of the quarter rated",
        "question_id": "key of the question (str)",
        "question": "the question as asked (str or empty)",
        "score": "float 1..5 (whole numbers), NaN when not answered (never zero)",
        "comment": "str or empty, as typed (partner-facing: their own words)",
    },
    "canvas": {
        "partner_id": "registered partner_id",
        "side": "us | partner",
        "kind": "one of CANVAS_KINDS",
        "text": "str, as typed: OURS ALONE, never partner-facing (like internal_note)",
        "weight": "float 1..3, NaN when not given",
    },
    "fx_rates": {
        "period": "normalised period",
        "period_kind": "month | quarter",
        "quarter": "fiscal quarter label",
        "currency": "upper-case code",
        "rate": "float: reporting currency per unit",
    },
}

# --------------------------------------------------------------------------------------------------
# analysis frames (pipeline.analyse.analysis.Analysis)
# the columns that carry the analysis's verdicts, by name (the renderers format them, never re-decide them)
STATUS = "status"                      # kpi_quarterly: KPI_STATUSES
ATTAINMENT = "attainment"              # kpi_quarterly
DISCREPANCY = "discrepancy"            # kpi_quarterly
BEYOND_TOLERANCE = "beyond_tolerance"  # PartnerView.kpi_quarterly (see VIEW_COLUMNS)
ANALYSIS_FRAMES: dict[str, dict[str, str]] = {
    "kpi_quarterly": {
        "partner_id": "", "kpi_id": "", "quarter": "label", "qindex": "Quarter.index (int)",
        "target": "float or NaN (rolled up by the KPI's aggregation)",
        "internal": "our figure for the quarter, rolled up (float or NaN)",
        "partner": "the partner's own figure, rolled up (float or NaN)",
        "actual": "the figure that drives attainment (float or NaN)",
        "actual_source": "internal | partner | '' (which figure drives attainment, see docs/analysis.md)",
        "months_reported": "for monthly data: how many of the three months were reported (int); 0 for quarterly",
        "partial": "True for a summed KPI with only 1 or 2 of the quarter's months reported: shown, not measured",
        "attainment": "actual/target (direction=higher) or target/actual (lower); NaN when either is missing or partial",
        "change_qoq": "relative change of actual on the previous quarter (NaN when unknown)",
        "change_yoy": "relative change of actual on the same quarter a year earlier",
        "status": "the attainment band: on_track (>= kpi.attainment_medium) | at_risk (>= kpi.attainment_high) | "
                  "off_track; or missing | partial | no_target when there is no attainment",
        "discrepancy": "relative gap between internal and partner figures (NaN unless both)",
        "conflict": "True when one source reported two different values",
        "conflict_source": "the source(s) that conflicted, e.g. 'partner' or 'internal, partner' ('' if none)",
        "origin": "workbook | history: where the quarter's figures came from (the workbook wins)",
        "sources": "every cell behind the row: 'internal: file › sheet › D17, D18 | partner: … | target: …' (or the history run)",
        "internal_cells": "cells of our figure, 'file › sheet › D17, D18' ('; ' between files; '' if none)",
        "partner_cells": "cells of the partner's figure, same form",
        "target_cells": "cells of the target, same form",
    },
    "commitment_status": {
        "...": "every commitments column except internal_note is kept (internal_note only in the portfolio copy)",
        "is_open": "bool", "is_overdue": "bool", "days_overdue": "int",
        "slip_days": "days the due date moved past the baseline (int, 0 if none)",
        "slip_count": "times the due date moved (history included)",
        "is_stale": "bool", "is_dropped": "bool (rows carried from history)", "incomplete": "'; '-joined reasons or ''",
        "on_time": "True/False for done commitments with a due date, else NA",
        "first_due_date": "the baseline, or failing that the first due date history recorded (Timestamp or NaT)",
        "previous_due_date": "the due date history recorded last quarter (Timestamp or NaT)",
        "slipped_now": "bool: the due date moved later since last quarter's record",
    },
    "delivery": {
        "partner_id": "", "party": "us | partner | joint", "made": "int", "open": "int", "done": "int",
        "done_on_time": "int", "done_late": "int", "overdue": "int", "slipped": "int", "slip_days": "int",
        "dropped": "int", "on_time_rate": "float 0..1 or NaN",
    },
    "flags": {
        "quarter": "", "partner_id": "", "code": "flag code", "severity": "high | medium | low",
        "subject": "kpi_id or commitment_id or ''", "message": "with the evidence in numbers",
        "whose_move": "us | partner | joint | '' : who acts next",
        "agenda": "the discussion point for the review meeting",
        "clause": "the evidence without its subject's name, for the finding's sentence (the message when no subject)",
    },
    "findings": {
        "quarter": "", "partner_id": "",
        "theme": "results | our_commitments | partner_commitments | joint | figures | data (analyse.findings.THEMES)",
        "subject": "kpi_id or commitment_id, or '' (check-ins, balance of commitments, data)",
        "title": "the subject in words: the KPI's name, 'C-1 (description)', 'Check-ins'",
        "detail": "every flag on the subject, in one clause each, joined", "sentence": "'title: detail.'",
        "severity": "the most severe of its flags", "codes": "its flags' codes, ';'-joined, most severe first",
        "whose_move": "us | partner | joint | '': the one party every flag names, joint when they differ",
    },
    "themes": {
        "quarter": "", "partner_id": "", "theme": "as in findings", "title": "the theme in words",
        "severity": "the most severe of its findings", "whose_move": "us | partner | joint",
        "findings": "how many findings (int)", "agenda": "the theme's line in the meeting's agenda",
    },
    "health": {
        "partner_id": "", "quarter": "", "score": "0..100 (int), or None when the state is paused or not_scored",
        "status": "green | amber | red | paused | not_scored",
        "previous_score": "float or NaN", "change_reasons": "plain sentences, ' '-joined (each ends with '.')",
        "state": "scored | paused | not_scored", "state_note": "why there is no score, in words ('' when scored)",
        "rule": "the rule that set the band over the points, in words ('' when none did)",
        "confidence": "what the score is based on: 'based on 5 of 6 KPIs measured; ...'",
        "kpis_measured": "KPIs with a target and a full quarter's figure (int)",
        "kpis_expected": "KPIs with a target this quarter (int)",
    },
    "health_breakdown": {
        "partner_id": "", "component": "results | delivery | relationship | rule",
        "weight": "share of the score (0..1)", "points": "points earned (the rule line: what the rule moved)",
        "max_points": "the part's fixed points (50 / 40 / 10; 0 for the rule line)",
        "detail": "how the points were computed, in words",
        "value": "the measured ratio behind the points (0..1, NaN when there was nothing to measure)",
        "measured": "whether the part had something to measure this quarter",
    },
}

# the columns a `PartnerView` adds to its slice of an analysis frame: verdicts over its own rows, computed by
# `pipeline.analyse.analysis.partner_view` (not in the analysis frame, so reconciled.xlsx and the review
# fingerprints, made from the frames and the settings these follow from, are as before)
VIEW_COLUMNS: dict[str, dict[str, str]] = {
    "kpi_quarterly": {
        BEYOND_TOLERANCE: "True when both figures exist and `discrepancy` > kpi.discrepancy_tolerance "
                          "(`pipeline.analyse.kpis.beyond_tolerance`)",
    },
}

FLAGS_CSV_COLUMNS = ("quarter", "partner_id", "code", "severity", "subject", "message")
FLAG_CODES = (
    "KPI_BELOW_TARGET", "KPI_DECLINING", "KPI_MISSING", "KPI_DISCREPANCY", "KPI_CONFLICT", "KPI_RESTATED",
    "COMMITMENT_OVERDUE", "COMMITMENT_SLIPPED", "COMMITMENT_DROPPED", "COMMITMENT_STALE",
    "COMMITMENT_INCOMPLETE", "RECIPROCITY_IMBALANCE", "NO_CHECKIN", "DATA_PROBLEM",
)
FLAG_SEVERITIES = ("high", "medium", "low")
