"""What every rule of the flag catalog (`pipeline.analyse.flags`) reads and returns: the analysis so far
(`FlagInputs`), the ``flags`` frame's columns, and the helpers that turn a rule's rows into that frame."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.core.periods import Quarter
from pipeline.core.problems import Problem
from pipeline.core.settings import Config

COLUMNS = ["quarter", "partner_id", "code", "severity", "subject", "message", "whose_move", "agenda", "clause"]
# What a pause changes (docs/analysis.md "Paused partners"): a paused partner's targets are not held against it,
# so the flags that judge its figures against plan are not raised; every other flag is.
PAUSE_SUSPENDS = ("KPI_BELOW_TARGET", "KPI_DECLINING", "KPI_MISSING")
STATUS_WORDS = {"not_started": "not started", "in_progress": "in progress", "blocked": "blocked", "done": "done",
                "cancelled": "cancelled"}


@dataclass
class FlagInputs:
    quarter: Quarter
    config: Config
    partner_ids: list[str]               # the partners flags are raised for (active and paused)
    kpi_quarterly: pd.DataFrame
    kpi_defs: pd.DataFrame               # kpis.kpi_definitions
    conflicts: pd.DataFrame              # kpis.kpi_tables()[1]
    commitments: pd.DataFrame            # commitment_status
    delivery: pd.DataFrame
    checkins: pd.DataFrame
    has_checkins_sheet: bool
    problems: list[Problem]
    restated: pd.DataFrame = field(default_factory=pd.DataFrame)  # restatements.restatements()
    previous_run: Quarter | None = None
    now: pd.DataFrame | None = None      # cache of _now()
    paused: list[str] = field(default_factory=list)  # registry status paused: PAUSE_SUSPENDS not raised for them
    their_files: dict[str, set[str]] = field(default_factory=dict)  # partner_id -> the files it sent us
    excluded: list[tuple[str, str, str, str]] = field(default_factory=list)  # Reconciled.excluded_figures


def flag_frame(rows: pd.DataFrame | list[dict[str, Any]], **const: Any) -> pd.DataFrame:
    df = pd.DataFrame(rows) if isinstance(rows, list) else rows
    for k, v in const.items():
        df[k] = v
    return df.reindex(columns=COLUMNS[1:]) if len(df) else pd.DataFrame(columns=COLUMNS[1:])


def rows_of(frame: pd.DataFrame) -> Iterable[Any]:
    """``frame.itertuples()``, each row typed Any: its fields hold text, numbers, NaN and dates side by side,
    which pandas-stubs can only type as the union of every scalar (so no field could be formatted)."""
    return frame.itertuples()
