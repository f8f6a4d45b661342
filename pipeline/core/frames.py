"""The containers passed between stages: what `load` returns (`Reconciled`), what `analyse` returns
(`Analysis`), and the one-partner slice the partner review is rendered from (`PartnerView`).

Column meanings are documented in `pipeline.core.schema.FRAMES` and `pipeline.core.schema.ANALYSIS_FRAMES`.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.core.periods import Quarter
from pipeline.core.problems import Problem, Problems
from pipeline.core.schema import ANALYSIS_FRAMES, FRAMES, PROVENANCE
from pipeline.core.settings import Config


def empty_frame(name: str) -> pd.DataFrame:
    """An empty reconciled frame with its documented columns plus provenance (file, sheet, row)."""
    return pd.DataFrame(columns=list(FRAMES[name]) + list(PROVENANCE))


def empty_analysis_frame(name: str) -> pd.DataFrame:
    return pd.DataFrame(columns=[c for c in ANALYSIS_FRAMES[name] if c != "..."])



def is_missing(value: object) -> bool:
    """None, NaN or NaT: a value nobody reported, never zero (for single values; pandas' isna for columns)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):
        return False


def text_of(value: Any) -> str:
    """A cell as text: '' for a value nobody gave (None, NaN, NaT, pd.NA), otherwise trimmed."""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value).strip()


def true(x: object) -> bool:
    """A flag that is set (missing counts as not set)."""
    return not is_missing(x) and bool(x)


def count(values: Iterable[Any]) -> list[tuple[Any, int]]:
    """(value, count), most frequent first, ties in order of first appearance: what
    ``pd.Series(values).value_counts().items()`` gives for the few distinct values counted here."""
    seen: dict[Any, int] = {}
    for v in values:
        seen[v] = seen.get(v, 0) + 1
    return sorted(seen.items(), key=lambda kv: -kv[1])


def records(df: pd.DataFrame, columns: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The rows as dicts, as ``df.to_dict("records")`` gives them (pd.NA as None) at a fraction of the cost;
    with `columns`, only those of them the frame has."""
    if columns is None:
        items = list(df.items())
    else:
        present = set(df.columns)
        items = [(c, df[c]) for c in columns if c in present]
    cols = [str(c) for c, _ in items]
    data = [[None if x is pd.NA else x for x in col.tolist()] for _, col in items]
    return [dict(zip(cols, row)) for row in zip(*data)]


def partner_spans(pids: Any) -> dict[str, tuple[int, int]]:
    """partner_id -> (first, stop) positions of its rows, for a column of ids sorted by partner (numpy array):
    every partner's rows as a slice, without a frame per partner."""
    import numpy as np

    if not len(pids):
        return {}
    starts = np.flatnonzero(np.r_[True, pids[1:] != pids[:-1]])
    stops = np.r_[starts[1:], len(pids)]
    return {str(pids[a]): (int(a), int(b)) for a, b in zip(starts, stops)}


@dataclass
class InputFile:
    """One file found in the input folder and what became of it."""

    path: str                      # relative to the input folder, with '/' separators
    sha256: str = ""
    kind: str = ""                 # xlsx, xlsm, xls, ods, csv, or '' for skipped files
    status: str = "read"           # read | skipped | refused
    sheets: list[tuple[str, str]] = field(default_factory=list)  # (sheet name, sheet type key or 'ignored')


@dataclass
class Reconciled:
    """Everything read from the input folder, matched across files."""

    partners: pd.DataFrame = field(default_factory=lambda: empty_frame("partners"))
    kpis: pd.DataFrame = field(default_factory=lambda: empty_frame("kpis"))
    kpi_values: pd.DataFrame = field(default_factory=lambda: empty_frame("kpi_values"))
    targets: pd.DataFrame = field(default_factory=lambda: empty_frame("targets"))
    commitments: pd.DataFrame = field(default_factory=lambda: empty_frame("commitments"))
    checkins: pd.DataFrame = field(default_factory=lambda: empty_frame("checkins"))
    fx_rates: pd.DataFrame = field(default_factory=lambda: empty_frame("fx_rates"))
    pulse: pd.DataFrame = field(default_factory=lambda: empty_frame("pulse"))   # how partners rate the partnership
    canvas: pd.DataFrame = field(default_factory=lambda: empty_frame("canvas"))  # our negotiation prep: never partner-facing
    problems: Problems = field(default_factory=Problems)
    inputs: list[InputFile] = field(default_factory=list)
    config: Config = field(default_factory=Config)
    has_checkins_sheet: bool = False  # NO_CHECKIN is only raised when a Check-ins sheet exists
    # the KPI figures of a known partner, KPI and period that were left out (a blank, a word, an error cell...):
    # (partner_id, kpi_id, quarter, source) with source "internal" (our records) or "partner" (their figure);
    # the problem that says why is in `problems`. A quarter without a figure is then not "reported by neither".
    excluded_figures: list[tuple[str, str, str, str]] = field(default_factory=list)

    FRAME_NAMES = ("partners", "kpis", "kpi_values", "targets", "commitments", "checkins", "fx_rates", "pulse",
                   "canvas")

    def frames(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in self.FRAME_NAMES}

    def quarters_with_actuals(self) -> list[Quarter]:
        labels = sorted(set(self.kpi_values["quarter"].dropna()))
        return [Quarter.parse(q) for q in labels]

    def active_partner_ids(self) -> list[str]:
        p = self.partners
        return list(p.loc[p["status"] != "ended", "partner_id"])

    def has_figures(self, quarter: Quarter) -> bool:
        """Whether any partner has an actual or a target in `quarter` (a default ``*`` target counts)."""
        return bool((self.kpi_values["quarter"] == quarter.label).any()
                    or (self.targets["quarter"] == quarter.label).any())

    def first_quarters(self) -> dict[str, Quarter]:
        """Each partner's first quarter on record: its earliest actual, own target or check-in. A default
        ``*`` target is nobody's evidence, and a commitment has no date it was made, so neither counts."""
        own_targets = self.targets[~self.targets["from_default"].astype(bool)] if len(self.targets) else self.targets
        seen = pd.concat([f[["partner_id", "quarter"]] for f in (self.kpi_values, own_targets, self.checkins)])
        seen = seen.dropna()
        parsed = {label: Quarter.parse(label) for label in set(seen["quarter"].astype(str))}  # each label once
        first: dict[str, Quarter] = {}
        for pid, label in zip(seen["partner_id"].astype(str), seen["quarter"].astype(str)):
            q = parsed[label]
            if pid not in first or q.index < first[pid].index:
                first[pid] = q
        return first


@dataclass(frozen=True)
class Thresholds:
    """The thresholds the analysis applied, so that a review can state its rules ("80% or more is on
    track"); a renderer formats them and never applies them again (the verdicts are in the frames)."""

    on_track: float    # attainment at or above: status on_track (kpi.attainment_medium)
    at_risk: float     # at or above, under on_track: at_risk; under: off_track (kpi.attainment_high)
    tolerance: float   # the two sides' figures disagree when further apart than this share (kpi.discrepancy_tolerance)
    green: float       # health score at or above: green (health.green)
    amber: float       # at or above, under green: amber; under: red (health.amber)

    @property
    def edges(self) -> tuple[float, ...]:
        """The attainments where a KPI's band changes (at risk, on track) and the target itself: a shown
        attainment is never rounded up to one of them (`wording.attainment_pct`)."""
        return (self.at_risk, self.on_track, 1.0)

    @classmethod
    def of(cls, config: Config) -> Thresholds:
        kpi, health = config.kpi, config.health
        return cls(on_track=float(kpi.attainment_medium), at_risk=float(kpi.attainment_high),
                   tolerance=float(kpi.discrepancy_tolerance), green=health.green, amber=health.amber)


def _default_thresholds() -> Thresholds:
    return Thresholds.of(Config())


@dataclass
class Story:
    """What page 1 of a partner review says, decided by `pipeline.analyse.story` (renderers only format it)."""

    verdict: str = ""                                   # the quarter in one sentence
    wins: list[str] = field(default_factory=list)       # what went well: KPIs beating target, commitments kept early
    attention: list[str] = field(default_factory=list)  # what needs attention: one line per top theme
    asks: list[tuple[str, str]] = field(default_factory=list)  # (us | partner | joint, what we ask of them next quarter)
    health_trend: list[tuple[str, float]] = field(default_factory=list)  # (quarter, score) known, oldest first


@dataclass
class NextQuarter:
    """The review's "Next quarter" section, decided by `pipeline.analyse.story`."""

    quarter: str = ""                                    # its label
    targets: list[tuple[str, float]] = field(default_factory=list)  # (kpi_id, target), in the KPIs' order
    due: list[str] = field(default_factory=list)         # commitment_ids open and due by its end, soonest first
    next_meeting: dt.date | None = None                  # the proposed date of the next review (None: no cadence known)
    cadence_days: int | None = None                      # the check-in cadence it follows
    agenda: list[str] = field(default_factory=list)      # the meeting's points as plain sentences (manifest, e-mail)


@dataclass
class PartnerView:
    """One partner's slice of the analysis: the only thing a partner review is rendered from.

    Built by `pipeline.analyse.analysis.partner_view`; holds no other partner's rows and no ``internal_note``.
    """

    quarter: Quarter
    quarters: list[Quarter]                 # the trend window, oldest first, ending with `quarter`
    partner: dict[str, Any]                 # the partner's registry row
    organisation: str                       # us ("prepared by")
    kpis: pd.DataFrame                      # definitions of the KPIs this partner has targets or actuals for
    kpi_quarterly: pd.DataFrame             # this partner's rows, every known quarter (+ schema.VIEW_COLUMNS)
    commitments: pd.DataFrame               # commitment_status rows without internal_note
    delivery: pd.DataFrame                  # per party
    flags: pd.DataFrame                     # most severe first
    health: dict[str, Any]                  # score, status, previous_score, change_reasons
    health_breakdown: pd.DataFrame
    checkins: pd.DataFrame
    problems: list[Problem]                 # data notes: this partner's excluded rows
    sources: list[str]                      # input files that held this partner's rows (relative paths)
    config: Config = field(default_factory=Config)
    changes: list[str] = field(default_factory=list)      # what changed since last quarter, in sentences
    why: str = ""                                         # the health score explained (the points it misses and why)
    track_record: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["partner_id"]))  # per party
    disagreements: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["partner_id"]))  # both sides' figures
    as_of: dt.date = field(default_factory=dt.date.today)  # the date the review bears (report --as-of)
    summary: list[str] = field(default_factory=list)  # the sentences the PDF, the manifest and the e-mail share
    thresholds: Thresholds = field(default_factory=_default_thresholds)  # the rules applied, for the review to state
    findings: pd.DataFrame = field(default_factory=lambda: empty_analysis_frame("findings"))  # one per subject, by theme
    themes: pd.DataFrame = field(default_factory=lambda: empty_analysis_frame("themes"))      # most important first
    top_gaps: list[str] = field(default_factory=list)  # the finding sentences, most severe first (manifest: first 3)
    agenda: list[tuple[str, str]] = field(default_factory=list)  # (discussion point, whose move): one per theme
    pulse: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["partner_id"]))  # their ratings, by quarter
    pulse_sentence: str = ""   # how they rated the partnership this quarter, in a sentence ('' when they did not)
    story: Story = field(default_factory=Story)              # page 1: verdict, wins, attention, asks, health trend
    next_quarter: NextQuarter = field(default_factory=NextQuarter)  # targets, commitments due, the next meeting


def _empty(*columns: str) -> Any:
    """A default factory: an empty frame with these columns."""
    return lambda: pd.DataFrame(columns=list(columns))


@dataclass
class Programme:
    """The programme as a whole, for the alliance director's portfolio (`pipeline.analyse.programme`): every
    total, count, sentence and list the portfolio shows, decided there; the renderer only formats it."""

    # per currency KPI: the totals over partners this quarter, against target, last quarter and a year ago
    money: pd.DataFrame = field(default_factory=_empty("kpi_id", "kpi_name", "actual", "target", "attainment",
                                                       "status"))
    money_rows: pd.DataFrame = field(default_factory=_empty("partner_id", "kpi_id", "quarter", "actual", "target"))
    # partners reviewed by tier and band, the last row all partners
    bands: pd.DataFrame = field(default_factory=_empty("tier", "green", "amber", "red", "paused", "not_scored",
                                                       "total"))
    # the headline numbers: partners, green, amber, red, paused, not_scored, previous (last quarter's label, ''
    # without one), average_score, average_change (on the same partners last quarter, NaN without one), late
    # (our commitments late or slipped), overdue (of them), disputed (figures), not_returned (data requests)
    headline: dict[str, Any] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)  # what changed since last quarter, in sentences
    decisions: pd.DataFrame = field(default_factory=_empty("kind", "sentence", "partners"))  # most pressing first
    quarters: list[str] = field(default_factory=list)  # the quarters the history holds and this one, oldest first
    # one row per partner, today's score and band, then one score column per quarter in `quarters`
    grid: pd.DataFrame = field(default_factory=_empty("partner_id", "partner_name", "tier", "score", "status"))
    grid_status: pd.DataFrame = field(default_factory=_empty("partner_id"))  # the band of each of grid's cells
    movers: pd.DataFrame = field(default_factory=_empty("partner_id", "previous_score", "score", "change",
                                                        "previous_status", "status", "reason"))
    late: pd.DataFrame = field(default_factory=_empty("owner", "partner_id", "commitment_id", "party", "description",
                                                      "due_date", "days_late", "slip_days", "why"))
    owners: pd.DataFrame = field(default_factory=_empty("owner", "made", "open", "late", "done", "done_on_time",
                                                        "on_time_share"))
    missing: pd.DataFrame = field(default_factory=_empty("partner_id", "kpis_asked", "without_their_figure", "kpis",
                                                         "request", "disagreements"))
    unattributed: pd.DataFrame = field(default_factory=_empty("file", "sheet", "cell", "code", "severity", "message",
                                                              "fix", "did_you_mean"))
    # the analysts' export (reconciled.xlsx, sheet history): one row per partner and recorded quarter
    history: pd.DataFrame = field(default_factory=_empty("partner_id", "partner_name", "tier", "quarter", "score",
                                                         "status"))


@dataclass
class Analysis:
    """The analysis of one quarter over the reconciled frames (see schema.ANALYSIS_FRAMES)."""

    quarter: Quarter
    quarters: list[Quarter]
    kpi_quarterly: pd.DataFrame
    commitment_status: pd.DataFrame
    delivery: pd.DataFrame
    flags: pd.DataFrame
    health: pd.DataFrame
    health_breakdown: pd.DataFrame
    reconciled: Reconciled
    kpi_definitions: pd.DataFrame | None = None  # analyse.kpis.kpi_definitions of the KPIs sheet
    conflicts: pd.DataFrame | None = None        # KPI_CONFLICT evidence: one source, two values
    restated: pd.DataFrame | None = None         # KPI_RESTATED evidence: history against the workbooks
    track_record: pd.DataFrame | None = None     # each party's delivery over the last quarters
    disagreements: pd.DataFrame | None = None    # where the two sides' figures differ
    changes: dict[str, list[str]] = field(default_factory=dict)  # partner_id -> what changed, in sentences
    as_of: dt.date = field(default_factory=dt.date.today)  # the date the reviews bear (report --as-of)
    reviewed: list[str] = field(default_factory=list)  # the partners reviewed (`analyse.analysis.reviewed_partner_ids`)
    pulse: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["partner_id"]))  # `analyse.pulse.pulse_table`
    returns: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["partner_id"]))  # `analyse.pulse.request_returns`
    not_yet: dict[str, Quarter] = field(default_factory=dict)  # active partners whose first quarter is later
    thresholds: Thresholds = field(default_factory=_default_thresholds)  # the rules applied, for the reviews to state
    findings: pd.DataFrame | None = None         # the flags, one finding per subject (analyse.findings)
    themes: pd.DataFrame | None = None           # the findings' themes per partner, most important first
    programme: Programme = field(default_factory=Programme)  # the programme as a whole (analyse.programme)
    no_alternative: list[str] = field(default_factory=list)  # reviewed partners whose Canvas has no alternative of ours
    health_trend: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["partner_id"]))  # scores by quarter
    # every partner's slices, made once (analyse.analysis._slices) and pickled with the analysis to the workers
    slices: Any = field(default=None, repr=False, compare=False)
