"""The figures: FX rates, targets and actuals (the `kpi_values` frame).

Targets and actuals have two paths that give the same rows. The careful one takes a record at a time and
reports what is wrong with it; the bulk one (`fast_targets`, `fast_actuals`) first takes every clean
record of a large sheet, converting each distinct partner, KPI, period, source, currency and note once,
and leaves the others to the careful one. Both resolve references with the same `Refs.resolve`, parse
periods with the same `Context.period`, and convert currencies with the one `in_reporting_currency`.
``tests/test_load.py`` holds them to identical frames and problems.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pipeline.core import problems as P
from pipeline.core.schema import SOURCES
from pipeline.read.raw import CellError, column_letter
from pipeline.reconcile.context import Context, Get, Report, provenance
from pipeline.reconcile.refs import cell_text
from pipeline.reconcile.sheets import Table
from pipeline.reconcile.values import Period, number_hint, parse_choice, parse_number, parse_percent

STAR = "*"  # the partner of a target for every partner without its own
PeriodKey = tuple[str, str, str]  # (label, kind, quarter label) of a period
_PLAIN_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
# the columns of `kpi_values` (`pipeline.core.schema.FRAMES`, then PROVENANCE) in the order `_actual` gives them
_ACTUAL_COLUMNS = ("partner_id", "kpi_id", "period", "period_kind", "quarter", "value", "source", "currency",
                   "original_value", "note", "cell", "file", "sheet", "row")


# ---- FX ------------------------------------------------------------------------------------------
class FxUnusable(ValueError):
    """A figure that cannot be had in the reporting currency; carries the problem to report."""

    def __init__(self, code: str, field: str, value: str | None, detail: str) -> None:
        super().__init__(code)
        self.code, self.field, self.value, self.detail = code, field, value, detail


def in_reporting_currency(fx: dict[tuple[str, str], float], reporting: str, number: float, currency: str,
                          unit: str | None, label: str, quarter: str) -> float:
    """`number` in the reporting currency. Only a currency KPI's figure in another currency converts: times
    the rate of its period, or failing that of its quarter. FxUnusable when there is no rate (FX_MISSING_RATE)
    or the product is not finite (FX_OVERFLOW)."""
    if not currency or currency == reporting or unit != "currency":
        return number
    rate = fx.get((label, currency)) or fx.get((quarter, currency))
    if rate is None:
        raise FxUnusable("FX_MISSING_RATE", "currency", currency, label)
    value = number * rate
    if not math.isfinite(value):
        found = label if (label, currency) in fx else quarter
        raise FxUnusable("FX_OVERFLOW", "value", None, f"{currency} rate {cell_text(rate)} for {found}")
    return value


def fx_rates(ctx: Context, table: Table) -> None:
    for r, vals, cols in table.records:
        get, problem, out = ctx.row(table, r, vals, cols, ("period", "currency", "rate"))
        period, cur, rate = ctx.read_period(get, problem, table.date1904), cell_text(get("currency")).upper(), None
        raw_rate = get("rate")
        if raw_rate is not None:
            try:
                rate = parse_number(raw_rate)
                if rate <= 0:
                    problem("VALUE_OUT_OF_RANGE", "rate", detail="a rate above 0")
                    rate = None
            except ValueError:
                problem("VALUE_NOT_NUMBER", "rate")
        if period is not None and cur and rate is not None:
            if (period.label, cur) in ctx.fx:
                problem("DUPLICATE_KEY", "rate", value=f"{cur} {period.label}", detail="an earlier row")
            else:
                ctx.fx[(period.label, cur)] = rate
                ctx.add("fx_rates", {"period": period.label, "period_kind": period.kind,
                                     "quarter": period.quarter.label, "currency": cur, "rate": rate,
                                     **provenance(table, r)})
        ctx.emit(out, None)


# ---- the careful paths ---------------------------------------------------------------------------
def _kpi_record(ctx: Context, table: Table, r: int, vals: list, cols: list, value_field: str
                ) -> tuple[Get, Report, list[P.Problem], str | None, str | None, Period | None, float | None]:
    """Shared by targets and actuals: (get, problem, out, pid, kid, period, number) of one record."""
    get, problem, out = ctx.row(table, r, vals, cols, ("partner_id", "kpi_id", "period", value_field))
    raw_pid = get("partner_id")
    pid = None
    if raw_pid is not None:
        pid = STAR if value_field == "target" and cell_text(raw_pid) == STAR else ctx.partner_refs.find(raw_pid, problem)
    raw_kid = get("kpi_id")
    kid = ctx.kpi_refs.find(raw_kid, problem) if raw_kid is not None else None
    period = ctx.read_period(get, problem, table.date1904)
    raw = get(value_field)
    number = None
    if raw is not None:
        percent = ctx.kpi_unit.get(kid or "") == "percent"
        try:
            number = (parse_percent if percent else parse_number)(raw)
        except ValueError:
            problem("VALUE_NOT_NUMBER", value_field, hint=number_hint(raw, percent))
    return get, problem, out, pid, kid, period, number


def whose(pid: str | None, kid: str | None, period: Period | None) -> str:
    """The record a problem belongs to, as far as it was told: "partner ACME, KPI revenue, 2026-Q2" (a
    reference that could not be resolved is the problem itself, so it is not repeated here)."""
    partner = "every partner" if pid == STAR else f"partner {pid}" if pid else ""
    return ", ".join(part for part in (partner, f"KPI {kid}" if kid else "", period.label if period else "") if part)


def _about(out: list[P.Problem], pid: str | None, kid: str | None, period: Period | None) -> list[P.Problem]:
    text = whose(pid, kid, period) if out else ""
    return [p.about(text) for p in out]


def _usable(out: list[P.Problem]) -> bool:
    return not any(p.severity == P.ERROR for p in out)


def _key(period: Period) -> PeriodKey:
    return period.label, period.kind, period.quarter.label


def targets(ctx: Context, table: Table) -> None:
    fast = fast_targets(ctx, table)
    for j, (r, vals, cols) in enumerate(table.records):
        if j in fast:
            continue
        _get, _problem, out, pid, kid, period, number = _kpi_record(ctx, table, r, vals, cols, "target")
        if pid and kid and period and number is not None and _usable(out):
            _add_target(ctx, table, r, cols, pid, kid, _key(period), number)
        ctx.emit(_about(out, pid, kid, period), pid if pid != STAR else None)


def actuals(ctx: Context, table: Table) -> None:
    reporting = str(ctx.config.currency).upper()
    request = table.request
    fast = fast_actuals(ctx, table, reporting) if request is None else set()
    blanks, vi = 0, table.index.get("value")
    for j, (r, vals, cols) in enumerate(table.records):
        if j in fast:
            continue
        if request is not None and vi is not None and _blank(vals[vi]):
            blanks += 1   # a figure the partner left blank in its data request: not reported yet
            continue
        get, problem, out, pid, kid, period, number = _kpi_record(ctx, table, r, vals, cols, "value")
        if request is not None:
            owned = ctx.own_partner(request, pid, problem)
            if (owned is not None or pid is None) and period is not None and period.quarter.label != request["quarter"]:
                problem("REQUEST_OTHER_QUARTER", "period", detail=request["quarter"])
            pid = owned
        source = ctx.choice(get, problem, "source", SOURCES, "internal")
        cur = cell_text(get("currency")).upper()
        note = cell_text(get("note"))
        added = False
        if pid and kid and period and number is not None and _usable(out):
            try:
                value = in_reporting_currency(ctx.fx, reporting, number, cur, ctx.kpi_unit.get(kid),
                                              period.label, period.quarter.label)
            except FxUnusable as no:
                problem(no.code, no.field, value=no.value, detail=no.detail)
            else:
                cell = table.cell(r, table.fields.index("value"), cols)
                _add_actuals(ctx, [_actual(table, r, pid, kid, _key(period), value, source, cur, number, note, cell)])
                added = True
        if pid and pid != STAR and kid and period and not added:   # a figure was there, and is left out
            ctx.rec.excluded_figures.append((pid, kid, period.quarter.label, "partner" if request is not None else source))
        ctx.emit(_about(out, pid, kid, period), request["partner_id"] if request is not None else pid)
    if blanks and request is not None:
        ctx.rec.problems.add(P.make("REQUEST_BLANKS", file=table.file, sheet=table.sheet, detail=request["partner_id"],
                                    count=blanks, partner_id=request["partner_id"]))


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _add_target(ctx: Context, table: Table, r: int, cols: list, pid: str, kid: str, period: PeriodKey,
                number: float) -> None:
    label, kind, quarter = period
    row = {"partner_id": pid, "kpi_id": kid, "period": label, "period_kind": kind, "quarter": quarter,
           "target": number, "from_default": False, "cell": table.cell(r, table.fields.index("target"), cols),
           **provenance(table, r)}
    if pid == STAR:
        ctx.star_targets.append(row)
    else:
        ctx.add("targets", row)


def _actual(table: Table, r: int, pid: str, kid: str, period: PeriodKey, value: float, source: str,
            currency: str, number: float, note: str, cell: str) -> tuple:
    label, kind, quarter = period
    return pid, kid, label, kind, quarter, value, source, currency, number, note, cell, table.file, table.sheet, r


def _add_actuals(ctx: Context, rows: list[tuple]) -> None:
    if rows:
        d = ctx.data["kpi_values"]
        for c, column in zip(_ACTUAL_COLUMNS, zip(*rows)):
            d[c].extend(column)


# ---- the bulk paths ------------------------------------------------------------------------------
def _any_number_text(x: str, unit: str | None) -> float | None:
    """Actuals: a plain number, or for a KPI that is no percentage any text `parse_number` reads."""
    if _PLAIN_NUMBER.fullmatch(x):
        return float(x)
    if unit == "percent":
        return None
    try:
        return parse_number(x)
    except ValueError:
        return None


def _plain_number_text(x: str, unit: str | None) -> float | None:
    """Targets: only a plain number of a KPI that is no percentage (the careful path takes the rest, and
    which rows go in bulk decides the order of the frame's rows: keep it)."""
    return float(x) if unit != "percent" and _PLAIN_NUMBER.fullmatch(x) else None


class _Bulk:
    """A table's records column-wise, each distinct value of a column converted once."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.ix = table.index
        self.columns = list(zip(*(v for _, v, _ in table.records)))

    def lookup(self, field: str, fn: Callable[[Any], Any]) -> tuple[Sequence[Any], dict[Any, Any]]:
        """The column of `field` and what `fn` makes of each of its values (None for an error cell or a
        ValueError). A missing column is all None."""
        if field not in self.ix:
            return [None] * len(self.table.records), {None: fn(None)}
        col = self.columns[self.ix[field]]
        found = {}
        for v in set(col):
            try:
                found[v] = None if isinstance(v, CellError) else fn(v)
            except ValueError:
                found[v] = None
        return col, found

    def clean(self, ctx: Context, value_field: str, number_text: Callable[[str, str | None], float | None],
              star: bool = False) -> Iterator[tuple[int, int, list, str, str, PeriodKey, float]]:
        """(position, row, cols, pid, kid, period, number) of every record whose partner (or `*`, with
        `star`) and KPI resolve, whose period parses, whose figure is a finite number (text only as
        `number_text` takes it) and that has no formula without a value."""
        table, partners, kpis = self.table, ctx.partner_refs, ctx.kpi_refs
        pids, pmap = self.lookup("partner_id", lambda v: None if v is None else
                                 STAR if star and cell_text(v) == STAR else partners.resolve(v))
        kids, kmap = self.lookup("kpi_id", lambda v: None if v is None else kpis.resolve(v))
        pers, permap = self.lookup("period", lambda v: None if v is None else _key(ctx.period(v, table.date1904)))
        values = self.columns[self.ix[value_field]]
        formula_rows = {row for row, _ in table.formulas}
        units = ctx.kpi_unit
        for j, (r, _, cols) in enumerate(table.records):
            pid, kid, per, x = pmap[pids[j]], kmap[kids[j]], permap[pers[j]], values[j]
            if not pid or not kid or per is None or r in formula_rows:
                continue
            if x.__class__ is str:
                x = number_text(x, units.get(kid))
                if x is None:
                    continue
            elif x.__class__ is not float and x.__class__ is not int:
                continue
            x = float(x)
            if math.isfinite(x):
                yield j, r, cols, pid, kid, per, x


def fast_targets(ctx: Context, table: Table) -> set[int]:
    """The clean records of a Targets table added in bulk: a known partner (or ``*``) and KPI, a period, a
    number. Returns the positions of the records handled; the others take the careful path in `targets`."""
    bulk = _Bulk(table)
    if not table.records or not all(f in bulk.ix for f in ("partner_id", "kpi_id", "period", "target")):
        return set()
    handled: set[int] = set()
    for j, r, cols, pid, kid, per, x in bulk.clean(ctx, "target", _plain_number_text, star=True):
        _add_target(ctx, table, r, cols, pid, kid, per, x)
        handled.add(j)
    return handled


def fast_actuals(ctx: Context, table: Table, reporting: str) -> set[int]:
    """The clean records of an Actuals table added in bulk (a large sheet is mostly clean rows), converted
    to the `reporting` currency. Returns the positions of the records handled; the others take the
    careful path in `actuals`, which reports what is wrong."""
    bulk = _Bulk(table)
    if not table.records or "value" not in bulk.ix:
        return set()
    srcs, smap = bulk.lookup("source", lambda v: parse_choice(v, SOURCES, "source") or "internal")
    curs, cmap = bulk.lookup("currency", lambda v: cell_text(v).upper())
    notes, nmap = bulk.lookup("note", cell_text)
    vi = bulk.ix["value"]
    letters: dict[int, str] = {}
    out: list[tuple] = []
    handled: set[int] = set()
    for j, r, cols, pid, kid, per, x in bulk.clean(ctx, "value", _any_number_text):
        src, cur, note = smap[srcs[j]], cmap[curs[j]], nmap[notes[j]]
        if src is None or cur is None or note is None:
            continue
        try:
            value = in_reporting_currency(ctx.fx, reporting, x, cur, ctx.kpi_unit.get(kid), per[0], per[2])
        except FxUnusable:
            continue
        col = cols[vi]
        letter = letters.get(col) or letters.setdefault(col, column_letter(col))
        out.append(_actual(table, r, pid, kid, per, value, src, cur, x, note, f"{letter}{r}"))
        handled.add(j)
    _add_actuals(ctx, out)
    return handled


# ---- after every table ---------------------------------------------------------------------------
def finish(ctx: Context) -> None:
    """Once every table is converted: each ``*`` target given to every partner without its own, then the
    rows that would roll up to a quarter figure that is not finite dropped (`_drop_overflowing`)."""
    t = ctx.data["targets"]
    own = set(zip(t["partner_id"], t["kpi_id"], t["period"]))
    for star in ctx.star_targets:
        for pid in ctx.partner_refs.ids.values():
            if (pid, star["kpi_id"], star["period"]) not in own:
                ctx.add("targets", {**star, "partner_id": pid, "from_default": True})
    _drop_overflowing(ctx, "kpi_values", "value", "original_value")
    _drop_overflowing(ctx, "targets", "target", "target")


def _drop_overflowing(ctx: Context, name: str, column: str, typed: str) -> None:
    """The rows of `name` whose months would roll up to a quarter figure that is not finite (three months
    of 1e308 sum to infinity): each is ROLLUP_OVERFLOW and dropped, so that quarter has no figure from
    that source, never an infinite one. The roll-up is `pipeline.analyse.kpis._rollup`'s: per partner, KPI,
    quarter (and source, for actuals) the months are added up (``sum``, and ``mean`` through the sum),
    one figure per month (for actuals the less favourable of two, for targets the more demanding); a
    quarterly row wins over its months, which are then never added, and ``last`` adds nothing up."""
    d = ctx.data[name]
    values = d[column]
    if math.isfinite(sum(map(abs, values))):  # nothing can overflow: the usual case, one pass
        return
    k = ctx.data["kpis"]
    aggregation, direction = dict(zip(k["kpi_id"], k["aggregation"])), dict(zip(k["kpi_id"], k["direction"]))
    actuals = name == "kpi_values"
    quarterly: set[tuple] = set()
    months: dict[tuple, list[int]] = {}
    for i, (pid, kid, quarter, kind) in enumerate(zip(d["partner_id"], d["kpi_id"], d["quarter"], d["period_kind"])):
        key = (pid, kid, quarter, d["source"][i] if actuals else "")
        if kind == "quarter":
            quarterly.add(key)
        else:
            months.setdefault(key, []).append(i)
    drop: list[int] = []
    for key, rows in months.items():
        if key in quarterly or aggregation.get(key[1]) == "last":
            continue
        pick = min if (direction.get(key[1]) == "lower") != actuals else max
        figure: dict[str, float] = {}
        for i in rows:
            period = d["period"][i]
            figure[period] = pick(figure[period], values[i]) if period in figure else values[i]
        total = 0.0
        for period in sorted(figure):
            total += figure[period]
        if not math.isfinite(total):
            drop.extend(rows)
    for i in sorted(drop, key=lambda i: (d["file"][i], d["sheet"][i], d["row"][i])):
        kid, quarter = d["kpi_id"][i], d["quarter"][i]
        what = f"{kid} for {quarter} ({d['source'][i]} figures)" if actuals else f"the {kid} target for {quarter}"
        own = actuals or not d["from_default"][i]
        ctx.rec.problems.add(P.make("ROLLUP_OVERFLOW", file=d["file"][i], sheet=d["sheet"][i], cell=d["cell"][i],
                                    value=cell_text(d[typed][i]), detail=what,
                                    partner_id=d["partner_id"][i] if own else ""))
    gone = set(drop)
    for c, col in d.items():
        d[c] = [v for j, v in enumerate(col) if j not in gone]
