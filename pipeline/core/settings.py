"""Settings from an optional ``partner-review.toml`` in the input folder.

Every setting has a documented default (see ``docs/configuration.md``, kept equal to `DEFAULTS` by a
test). Unknown keys and bad values become ``CONFIG_INVALID`` problems and the default is used.
"""
from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pipeline.core import problems as P

CONFIG_FILE = "partner-review.toml"

def _setting(default: Any, doc: str) -> Any:
    """One setting: its default and the sentence docs/configuration.md prints for it."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class OrganisationSettings:
    """[organisation]"""

    name: str = _setting("", "our organisation's name, shown as 'prepared by' and in e-mail subjects; never invented: "
                            "until it is set, validate and report warn and email --send refuses")
    fiscal_year_start_month: int = _setting(1, "first month of the fiscal year (1 = January); fiscal years are named by the calendar year they end in")
    reporting_currency: str = _setting("USD", "currency all currency KPIs are reported in; others convert with FX Rates")
    day_first_dates: bool = _setting(False, "read text dates like 03/04/2026 as day-first (3 April); otherwise only ISO text dates are read")
    watermark: str = _setting("", "text printed across every page, e.g. SAMPLE DATA or DRAFT")


@dataclass(frozen=True)
class KpiSettings:
    """[kpi]"""

    attainment_medium: float = _setting(0.9, "KPI_BELOW_TARGET (medium) when attainment is under this")
    attainment_high: float = _setting(0.75, "KPI_BELOW_TARGET is high when attainment is under this")
    declining_quarters: int = _setting(2, "KPI_DECLINING when the KPI moved the wrong way this many quarters running")
    discrepancy_tolerance: float = _setting(0.05, "KPI_DISCREPANCY when internal and partner figures differ by more than this share")
    restated_tolerance: float = _setting(0.005, "KPI_RESTATED when a past quarter's figure moved by more than this share of what history recorded")
    driving_source: str = _setting("internal", "which figure drives attainment when both exist: internal or partner")


@dataclass(frozen=True)
class CommitmentsSettings:
    """[commitments]"""

    stale_days: int = _setting(45, "COMMITMENT_STALE when an open commitment was not updated in this many days before the quarter's end")
    reciprocity_share: float = _setting(0.75, "RECIPROCITY_IMBALANCE when one party holds at least this share of open commitments")
    reciprocity_min_open: int = _setting(4, "... and at least this many commitments are open")
    reciprocity_rate_gap: float = _setting(0.3, "RECIPROCITY_IMBALANCE when the parties' on-time rates differ by this much")
    overdue_high_days: int = _setting(30, "COMMITMENT_OVERDUE is high when the commitment is more than this many days overdue")
    slip_high_days: int = _setting(60, "COMMITMENT_SLIPPED is high when the due date moved this many days or more past the baseline")
    slip_high_count: int = _setting(2, "COMMITMENT_SLIPPED is high from this many slips on (history included)")


@dataclass(frozen=True)
class HealthSettings:
    """[health]"""

    green: int = _setting(75, "health score at or above this is green")
    amber: int = _setting(50, "at or above this (and below green) is amber; below is red")
    weight_results: float = _setting(0.5, "share of the score from results against plan (KPI attainment)")
    weight_delivery: float = _setting(0.4, "share from commitments kept on time, ours, the partner's and joint, each counted once")
    weight_relationship: float = _setting(0.1, "share from the relationship kept up (a check-in in the quarter, where a Check-ins sheet is kept)")
    attainment_cap: float = _setting(1.2, "the attainment shown for a met target of zero or less, where actual/target cannot be divided")
    attainment_floor: float = _setting(0.5, "a KPI at or below this attainment earns none of its results points; it earns them all from kpi.attainment_medium (on track)")
    late_days: int = _setting(60, "a commitment late or overdue loses its delivery points evenly over this many days (30 days late keeps half)")
    green_needs_on_track: float = _setting(0.5, "never green while less than this share of the KPIs with a target (by weight) is on track")


@dataclass(frozen=True)
class ReportSettings:
    """[report]"""

    trend_quarters: int = _setting(8, "quarters shown in each trend chart")
    history_file: str = _setting("", "SQLite history file; empty = history.sqlite in the output folder")
    pulse_questions: tuple[str, ...] = _setting((
        "communication: How well do we keep you informed about what matters to the partnership?",
        "value: How much value does the partnership bring your business?",
        "responsiveness: How quickly and well do we respond when you need something from us?",
        "figures: How far do you trust the figures we share and review together?",
        "planning: How well do we plan together (goals, commitments, next steps)?",
    ), "the pulse questions every data request asks, each 'question_id: question' (keep an id once used, so its trend goes on)")
    request_due_days: int = _setting(10, "the data request sent with each review asks for its answers this many days after the quarter it asks about ends")


@dataclass(frozen=True)
class LimitsSettings:
    """[limits]"""

    file_seconds: int = _setting(60, "a workbook that takes longer than this to read is stopped and reported")
    file_memory_mb: int = _setting(2048, "a workbook that needs more memory than this to read is stopped and reported")
    max_file_mb: int = _setting(200, "workbooks larger than this on disk are refused")
    max_inflated_mb: int = _setting(1024, "workbooks whose parts unpack to more than this are refused")
    max_cells: int = _setting(20_000_000, "a sheet whose used range spans more cells than this is refused (or read sparsely)")


# section -> its settings class: the single source of every setting, its type, default and documentation
SECTIONS: dict[str, type] = {
    'organisation': OrganisationSettings,
    'kpi': KpiSettings,
    'commitments': CommitmentsSettings,
    'health': HealthSettings,
    'report': ReportSettings,
    'limits': LimitsSettings,
}

# section -> key -> (default, description), as docs/configuration.md and the checks of partner-review.toml use it
DEFAULTS: dict[str, dict[str, tuple[Any, str]]] = {
    section: {f.name: (f.default, f.metadata["doc"]) for f in fields(cls)} for section, cls in SECTIONS.items()}


ORGANISATION_UNSET = ("organisation.name is not set (partner-review.toml in the input folder, [organisation] name = ...): "
                      "the reviews name no organisation as their author, only our internal owner, and email --send "
                      "refuses to send until it is set")


@dataclass
class Config:
    values: dict[str, dict[str, Any]] = field(default_factory=lambda: {s: {k: v[0] for k, v in keys.items()} for s, keys in DEFAULTS.items()})
    source: str = ""  # the file it came from, relative to the input folder, or '' for defaults

    def __getitem__(self, dotted: str) -> Any:
        section, key = dotted.split(".")
        return self.values[section][key]

    # each section as its typed settings object: config.kpi.attainment_medium
    @property
    def org(self) -> OrganisationSettings:
        return OrganisationSettings(**self.values["organisation"])

    @property
    def kpi(self) -> KpiSettings:
        return KpiSettings(**self.values["kpi"])

    @property
    def commitments(self) -> CommitmentsSettings:
        return CommitmentsSettings(**self.values["commitments"])

    @property
    def health(self) -> HealthSettings:
        return HealthSettings(**self.values["health"])

    @property
    def report(self) -> ReportSettings:
        return ReportSettings(**self.values["report"])

    @property
    def limits(self) -> LimitsSettings:
        return LimitsSettings(**self.values["limits"])

    # the settings used everywhere, as attributes
    @property
    def organisation(self) -> str:
        """Our organisation's name, or '' when ``organisation.name`` is not set (see ORGANISATION_UNSET)."""
        return str(self["organisation.name"]).strip()

    @property
    def fy_start(self) -> int:
        return self["organisation.fiscal_year_start_month"]

    @property
    def currency(self) -> str:
        return self["organisation.reporting_currency"]


def load_config(input_dir: Path | None) -> tuple[Config, list[P.Problem]]:
    """Read ``partner-review.toml`` from the input folder, if any. Never raises on bad content."""
    config = Config()
    problems: list[P.Problem] = []
    if input_dir is None:
        return config, problems
    path = Path(input_dir) / CONFIG_FILE
    if not os.path.lexists(path):
        return config, problems
    try:
        raw = _read_small(path)
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.append(P.make("CONFIG_INVALID", file=CONFIG_FILE, detail=f"it cannot be read ({why}); every default is used"))
        return config, problems
    config.source = CONFIG_FILE
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.append(P.make("CONFIG_INVALID", file=CONFIG_FILE, detail=f"not valid TOML ({exc}); every default is used"))
        return config, problems
    for section, entries in data.items():
        if section not in DEFAULTS or not isinstance(entries, dict):
            problems.append(P.make("CONFIG_INVALID", file=CONFIG_FILE, detail=f"unknown section [{section}]"))
            continue
        for key, value in entries.items():
            if key not in DEFAULTS[section]:
                problems.append(P.make("CONFIG_INVALID", file=CONFIG_FILE, detail=f"unknown setting {section}.{key}"))
                continue
            default = DEFAULTS[section][key][0]
            ok = _coerce(value, default)
            if ok is None or not _valid(section, key, ok):
                problems.append(P.make("CONFIG_INVALID", file=CONFIG_FILE, value=value,
                                       detail=f"{section}.{key} = {value!r} is not valid; default {default!r} used"))
                continue
            config.values[section][key] = ok
    return config, problems


MAX_CONFIG_BYTES = 1 << 20


def _read_small(path: Path) -> bytes:
    """The config file's bytes: a regular file (opened without blocking, so a FIFO costs nothing) of at
    most `MAX_CONFIG_BYTES` (a pseudo-file that streams forever is cut off). Raises OSError, ValueError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("it is not a regular file")
        data = fh.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"it is larger than {MAX_CONFIG_BYTES // 2**20} MB")
    return data


def _coerce(value: Any, default: Any) -> Any:
    if isinstance(default, tuple):  # a list of 'id: text' entries, ids unique and not empty
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and ":" in v for v in value):
            return None
        ids = [v.split(":", 1)[0].strip() for v in value]
        return tuple(v.strip() for v in value) if all(ids) and len(set(ids)) == len(ids) else None
    if isinstance(default, bool):
        return value if isinstance(value, bool) else None
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(default, float):
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(default, str):
        return value if isinstance(value, str) else None
    return value


def _valid(section: str, key: str, value: Any) -> bool:
    if key == "fiscal_year_start_month":
        return 1 <= value <= 12
    if key == "driving_source":
        return value in ("internal", "partner")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value >= 0
    return True


def settings_reference() -> str:
    """The Markdown reference of every setting and its default (docs/configuration.md is kept equal to it)."""
    lines = [
        "# Configuration: `partner-review.toml`",
        "",
        "An optional `partner-review.toml` in the input folder changes these settings. Anything not set keeps",
        "its default. Unknown settings and bad values are reported (`CONFIG_INVALID`) and the default is used.",
        "This page is generated from `pipeline/core/settings.py` (`DEFAULTS`); a test keeps the two equal.",
        "",
        "```toml",
    ]
    for section, keys in DEFAULTS.items():
        lines.append(f"[{section}]")
        for key, (default, help_text) in keys.items():
            lines.append(f"{key} = {_toml(default)}".ljust(36) + f"  # {help_text}")
        lines.append("")
    lines[-1] = "```"
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 100_000 else str(value)
    return repr(value)
