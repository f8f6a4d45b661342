"""What one reconciliation carries from table to table (the partner and KPI references, the units, the FX
rates, the rows of each frame) and the per-record helpers every sheet type's converter uses: a record's
fields with the problems of unusable cells, choices, dates, periods, duplicate keys.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal, overload

from pipeline.core import problems as P
from pipeline.core.frames import Reconciled
from pipeline.core.schema import FRAMES, PROVENANCE
from pipeline.core.settings import Config
from pipeline.read.raw import CellError
from pipeline.reconcile.refs import Refs, cell_text
from pipeline.reconcile.sheets import Table
from pipeline.reconcile.values import EarlyDate, Period, parse_choice, parse_date, parse_period

Get = Callable[[str], Any]              # a record's field -> its raw value, or None (the problem reported)
Report = Callable[..., None]            # report(code, field, value=None, **context): a problem at a field's cell


class Context:
    """Conversion state across tables: registries, FX rates, the rows of each frame."""

    def __init__(self, config: Config, rec: Reconciled) -> None:
        self.config = config
        self.rec = rec
        self.fy = config.fy_start
        self.day_first = bool(config.org.day_first_dates)
        self.partner_refs = Refs("partner_id", "REF_UNKNOWN_PARTNER", "REF_AMBIGUOUS_PARTNER")
        self.kpi_refs = Refs("kpi_id", "REF_UNKNOWN_KPI", "REF_AMBIGUOUS_KPI")
        self.kpi_unit: dict[str, str] = {}
        self.fx: dict[tuple[str, str], float] = {}   # (period label, currency) -> rate
        self.commitment_ids: dict[str, str] = {}
        self.pulse_keys: dict[Any, str] = {}   # (partner, quarter, question) -> where it was first rated
        self.data: dict[str, dict[str, list]] = {n: {c: [] for c in list(FRAMES[n]) + list(PROVENANCE)} for n in FRAMES}
        self.star_targets: list[dict[str, Any]] = []
        self._periods: dict[Any, Any] = {}
        self._choices: dict[tuple[str, Any], str] = {}

    def row(self, table: Table, r: int, vals: list, cols: list,
            required: tuple[str, ...]) -> tuple[Get, Report, list[P.Problem]]:
        """Per-record helpers: get(field) -> raw value or None (a problem added for unusable cells),
        problem(code, field, ...) and the list the problems go to (`emit` them when the record is done)."""
        fi = table.index
        out: list[P.Problem] = []

        def problem(code: str, field: str, value: Any = None, **ctx: Any) -> None:
            i = fi[field]
            out.append(P.make(code, file=table.file, sheet=table.sheet, cell=table.cell(r, i, cols),
                              column=table.header(i, cols), value=cell_text(vals[i]) if value is None else value, **ctx))

        def get(field: str) -> Any:
            i = fi.get(field)
            if i is None:
                return None
            v = vals[i]
            if v.__class__ is float or v.__class__ is int:
                return v
            if isinstance(v, CellError):
                problem("VALUE_ERROR_CELL", field, value=v.text)
                return None
            if v is None or (isinstance(v, str) and not v.strip()):
                formula = table.formulas.get((r, cols[i])) if not (table.wide and field == "period") else None
                if formula:
                    problem("VALUE_FORMULA_NO_VALUE", field, value=formula)
                elif field in required:
                    problem("ROW_MISSING_REQUIRED", field, value="")
                return None
            return v

        return get, problem, out

    @staticmethod
    def own_partner(request: dict[str, str] | None, pid: str | None, problem: Report) -> str | None:
        """A returned data request's row names the request's own partner, or is reported (REQUEST_OTHER_PARTNER)
        and given to nobody: the partner the row is for, or None."""
        if request is not None and pid is not None and pid != request["partner_id"]:
            problem("REQUEST_OTHER_PARTNER", "partner_id", detail=request["partner_id"])
            return None
        return pid

    def emit(self, problems: list[P.Problem], partner_id: str | None) -> None:
        """A record's problems, for the partner's review when it is known."""
        for p in problems:
            self.rec.problems.add(p.with_partner(partner_id) if partner_id else p)

    def add(self, name: str, row: dict[str, Any]) -> None:
        """One row of frame `name`, every column given."""
        for c, values in self.data[name].items():
            values.append(row[c])

    def period(self, v: Any, date1904: bool = False) -> Period:
        """`parse_period`, each distinct value parsed once (ValueError when it is no period)."""
        key = (v, True) if date1904 and v.__class__ in (int, float) else v  # a serial means another day in 1904
        try:
            hit = self._periods.get(key)
        except TypeError:
            hit = None
        if hit is None:
            try:
                hit = parse_period(v, self.fy, date1904)
            except ValueError as exc:
                hit = exc
            try:
                self._periods[key] = hit
            except TypeError:
                pass
        if isinstance(hit, ValueError):
            raise hit
        return hit

    def read_period(self, get: Get, problem: Report, date1904: bool = False) -> Period | None:
        """The record's period; None (reported unless blank) when it has none."""
        v = get("period")
        if v is None:
            return None
        try:
            return self.period(v, date1904)
        except EarlyDate:
            problem("VALUE_DATE_BEFORE_1900", "period")
        except ValueError:
            problem("VALUE_BAD_PERIOD", "period")
        return None

    @overload
    def choice(self, get: Get, problem: Report, field: str, choices: tuple[str, ...], default: str,
               required: Literal[False] = False) -> str: ...
    @overload
    def choice(self, get: Get, problem: Report, field: str, choices: tuple[str, ...], default: str,
               required: bool) -> str | None: ...
    def choice(self, get: Get, problem: Report, field: str, choices: tuple[str, ...], default: str,
               required: bool = False) -> str | None:
        """One of `choices` (`default` when blank); a value that is none of them is reported, as a warning
        with `default` used, or (`required`) as an error with None."""
        v = get(field)
        if v is None:
            return default
        try:
            hit = self._choices.get((field, v))
        except TypeError:
            hit = None
        if hit is None:
            try:
                hit = parse_choice(v, choices, field) or default
            except ValueError:
                hit = ""
            try:
                self._choices[(field, v)] = hit
            except TypeError:
                pass
        if hit:
            return hit
        problem("VALUE_BAD_CHOICE", field, detail=", ".join(choices), **({} if required else {"severity": P.WARNING}))
        return None if required else default

    def date(self, get: Get, problem: Report, field: str, date1904: bool = False) -> dt.date | None:
        v = get(field)
        if v is None:
            return None
        try:
            return parse_date(v, self.day_first, date1904)
        except EarlyDate:
            problem("VALUE_DATE_BEFORE_1900", field)
        except ValueError:
            problem("VALUE_BAD_DATE", field)
        return None

    @staticmethod
    def duplicate(seen: dict[Any, str], key: Any, table: Table, r: int, cols: list, problem: Report, field: str) -> bool:
        """True (and DUPLICATE_KEY reported) when `key` was defined before; else remember where it is defined."""
        if key in seen:
            problem("DUPLICATE_KEY", field, detail=seen[key])
            return True
        seen[key] = f"{table.file} › {table.sheet} › {table.cell(r, table.fields.index(field), cols)}"
        return False


def provenance(table: Table, r: int) -> dict[str, Any]:
    """The provenance columns (`pipeline.core.schema.PROVENANCE`) of a record."""
    return dict(zip(PROVENANCE, (table.file, table.sheet, r)))
