"""Reconcile: from the raw workbooks to the frames of `pipeline.core.frames.Reconciled`.

Types each sheet (`pipeline.reconcile.sheets`), converts each value (`pipeline.reconcile.values`) with one converter per
sheet type, resolves partner and KPI references across files, expands ``*`` targets, converts
currencies, and collects a Problem for every row or value it cannot use. No row is lost: each data
row ends up in a frame or in a problem that names its cell. The rules are in ``docs/reading.md``.
"""
from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import pandas as pd

from pipeline.core import problems as P
from pipeline.core.frames import Reconciled
from pipeline.core.periods import quarter_of_date
from pipeline.core.schema import FRAMES, PROVENANCE
from pipeline.core.settings import Config
from pipeline.read.raw import CellError, RawWorkbook, column_letter
from pipeline.reconcile.sheets import Table, classify, read_table
from pipeline.reconcile.values import (
    EarlyDate,
    control_characters,
    escape_controls,
    map_status,
    parse_choice,
    parse_date,
    parse_number,
    parse_percent,
    parse_period,
    split_emails,
)

ORDER = ("partners", "kpis", "fx_rates", "targets", "actuals", "commitments", "checkins")
_PLAIN_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
DEFAULT_AGGREGATION = {"currency": "sum", "count": "sum"}  # other units: mean


def reconcile(workbooks: list[RawWorkbook], config: Config | None = None) -> Reconciled:
    """The pure part of `load`: raw workbooks in, reconciled frames and problems out."""
    config = config or Config()
    rec = Reconciled(config=config)
    found: dict[str, list[Table]] = {key: [] for key in ORDER}
    for wb in workbooks:
        csv = wb.kind == "csv"
        known = 0
        for sheet in wb.sheets:
            stype = classify(sheet, csv, config.fy_start)
            if stype is None:
                code = "CSV_UNKNOWN" if csv else "SHEET_IGNORED"
                rec.problems.add(P.make(code, file=wb.path, sheet=sheet.name))
                continue
            known += 1
            rec.has_checkins_sheet |= stype.key == "checkins"
            table, problems = read_table(sheet, stype, wb.path, config.fy_start, wb.date1904)
            rec.problems.extend(problems)
            if table is None:
                continue
            if not table.data_rows:
                rec.problems.add(P.make("SHEET_EMPTY", file=wb.path, sheet=sheet.name))
            found[stype.key].append(table)
        if not known and not csv and wb.sheets:
            rec.problems.add(P.make("FILE_NO_SHEETS", file=wb.path))
    ctx = _Context(config, rec)
    if not found["partners"]:
        rec.problems.add(P.make("NO_PARTNERS"))
    for key in ORDER:
        convert = getattr(ctx, key)
        for table in found[key]:
            convert(table)
    ctx.finish()
    seen: set[tuple[str, str, str, str, str]] = set()
    unique = []
    for p in rec.problems.items:  # a wide row repeats its partner/KPI problems per period: list them once
        k = (p.code, p.file, p.sheet, p.cell, p.value)
        if p.cell and k in seen:
            continue
        seen.add(k)
        unique.append(p)
    rec.problems.items = unique
    return rec


def _text(v: Any) -> str:
    """A cell as trimmed text: 101.0 -> '101', dates as ISO."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return " ".join(str(v).split())


def _exact(v: Any) -> str:
    return unicodedata.normalize("NFC", _text(v))


def _key(v: Any) -> str:
    return _exact(v).casefold()


class _Refs:
    """Keys (partner_id, kpi_id) and display names a reference may use, matched trimmed (`matches`). A
    reference that matches two entries (one entry's key and another's name, or two names) resolves to
    nothing: it is ambiguous, never given to the first."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}            # casefolded key -> key
        self.exact_ids: dict[str, str] = {}      # key as typed (trimmed) -> key
        self.owners: dict[str, list[str]] = {}   # casefolded name -> every key with that name
        self.exact_owners: dict[str, list[str]] = {}  # name as typed (trimmed) -> every key with that name
        self.first: dict[str, str] = {}      # key -> where it was first defined
        self.key_names: dict[str, str] = {}      # key -> its name as typed
        self._hints: dict[str, str] = {}
        self._cache: dict[Any, str | None] = {}

    def clash(self, key: str, name: str) -> str:
        """What a new entry (key, name) could be taken for, in words ('' when nothing): another entry with
        the same name (ignoring case), an entry whose key is this name, or one whose name is this key."""
        def who(k: str) -> str:
            where = self.first.get(k.casefold(), "")
            return f"{k!r} ({self.key_names.get(k, '')}{', ' + where if where else ''})"

        found = [f"the name of {who(k)}" for k in self.owners.get(_key(name), []) if k != key]
        other = self.ids.get(_key(name))
        if other is not None and other != key:
            found.append(f"the id of {who(other)}" + ("" if _exact(name) == _exact(other) else " but for case"))
        if _key(key) != _key(name):
            found += [f"the name of {who(k)}, which is this partner's id" for k in self.owners.get(_key(key), [])
                      if k != key]
        return " and ".join(found)

    def add(self, key: str, name: str) -> None:
        self.ids[_key(key)] = key
        self.exact_ids[_exact(key)] = key
        self.owners.setdefault(_key(name), []).append(key)
        self.exact_owners.setdefault(_exact(name), []).append(key)
        self.key_names[key] = name
        self._cache.clear()

    def matches(self, v: Any) -> list[tuple[str, str]]:
        """Every entry `v` refers to, as (key, 'id' or 'name'). A key typed exactly (trimmed) is matched with
        the names typed exactly; otherwise keys and names are matched ignoring case. Names that differ only
        in case are one name: a reference to it is ambiguous, however it is typed."""
        exact = _exact(v)
        if exact in self.exact_ids:
            found = [(self.exact_ids[exact], "id")]
            owners = self.exact_owners.get(exact, [])
        else:
            k = _key(v)
            found = [(self.ids[k], "id")] if k in self.ids else []
            owners = self.owners.get(k, [])
        return found + [(key, "name") for key in owners if key not in {f for f, _ in found}]

    def resolve(self, v: Any) -> str | None:
        try:
            return self._cache[v]
        except (KeyError, TypeError):
            pass
        hits = self.matches(v)
        found = hits[0][0] if len(hits) == 1 else None
        try:
            self._cache[v] = found
        except TypeError:
            pass
        return found

    def describe(self, hits: list[tuple[str, str]]) -> str:
        """'P1 (Northwind) by its id or NW (P1) by its name'."""
        return " or ".join(f"{key!r} ({self.key_names.get(key, '')}) by its {how}" for key, how in hits)

    def hint(self, v: Any) -> str:
        """' (did you mean 'A', 'B'?)' from the closest ids and names, or ''."""
        text = _text(v)
        if text not in self._hints:
            display = {**self.ids, **{k: self.key_names[keys[0]] for k, keys in self.owners.items()}}
            close = difflib.get_close_matches(_key(text), list(display), n=3, cutoff=0.6)
            shown = list(dict.fromkeys(display[c] for c in close))
            self._hints[text] = f" (did you mean {', '.join(repr(s) for s in shown)}?)" if shown else ""
        return self._hints[text]


class _Context:
    """Conversion state across tables: registries, FX rates, the rows of each frame."""

    def __init__(self, config: Config, rec: Reconciled) -> None:
        self.config = config
        self.rec = rec
        self.fy = config.fy_start
        self.day_first = bool(config["organisation.day_first_dates"])
        self.partner_refs = _Refs()
        self.kpi_refs = _Refs()
        self.kpi_unit: dict[str, str] = {}
        self.fx: dict[tuple[str, str], float] = {}
        self.commitment_ids: dict[str, str] = {}
        self.data: dict[str, dict[str, list]] = {n: {c: [] for c in list(FRAMES[n]) + list(PROVENANCE)} for n in FRAMES}
        self.star_targets: list[dict[str, Any]] = []
        self._periods: dict[Any, Any] = {}
        self._choices: dict[tuple[str, Any], str] = {}

    # ---- helpers ---------------------------------------------------------------------------------
    def _row(self, table: Table, r: int, vals: list, cols: list, required: tuple[str, ...]):
        """Per-record helpers: get(field) -> raw value or None (a problem added for unusable cells)."""
        fi = table.index
        out: list[P.Problem] = []

        def problem(code: str, field: str, value: Any = None, **ctx: Any) -> None:
            i = fi[field]
            out.append(P.make(code, file=table.file, sheet=table.sheet, cell=table.cell(r, i, cols),
                              column=table.header(i, cols), value=_text(vals[i]) if value is None else value, **ctx))

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

    def _emit(self, problems: list[P.Problem], partner_id: str | None) -> None:
        for p in problems:
            self.rec.problems.add(p.with_partner(partner_id) if partner_id else p)

    def _period(self, v: Any, date1904: bool = False):
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

    def _partner(self, v: Any, get_problem: Callable, field: str = "partner_id") -> str | None:
        return self._ref(self.partner_refs, v, get_problem, field, "REF_UNKNOWN_PARTNER", "REF_AMBIGUOUS_PARTNER")

    def _kpi(self, v: Any, get_problem: Callable, code: str = "REF_UNKNOWN_KPI", field: str = "kpi_id") -> str | None:
        return self._ref(self.kpi_refs, v, get_problem, field, code, "REF_AMBIGUOUS_KPI")

    @staticmethod
    def _ref(refs: _Refs, v: Any, get_problem: Callable, field: str, unknown: str, ambiguous: str) -> str | None:
        """The key `v` refers to; None with the problem reported when it refers to none, or to two."""
        key = refs.resolve(v)
        if key is None:
            hits = refs.matches(v)
            if len(hits) > 1:
                get_problem(ambiguous, field, detail=refs.describe(hits))
            else:
                get_problem(unknown, field, detail=refs.hint(v))
        return key

    def _choice(self, get, problem, field: str, choices: tuple[str, ...], default: str, required: bool = False):
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

    def _date(self, get, problem, field: str, date1904: bool = False) -> dt.date | None:
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

    def _duplicate(self, seen: dict[str, str], key: str, table: Table, r: int, cols, problem, field: str) -> bool:
        """True (and DUPLICATE_KEY reported) when `key` was defined before; else remember where it is defined."""
        if key in seen:
            problem("DUPLICATE_KEY", field, detail=seen[key])
            return True
        seen[key] = f"{table.file} › {table.sheet} › {table.cell(r, table.fields.index(field), cols)}"
        return False

    @staticmethod
    def _prov(table: Table, r: int) -> dict[str, Any]:
        return {"file": table.file, "sheet": table.sheet, "row": r}

    # ---- sheet types -----------------------------------------------------------------------------
    def partners(self, table: Table) -> None:
        req = ("partner_id", "partner_name")
        for r, vals, cols in table.records:
            get, problem, out = self._row(table, r, vals, cols, req)
            pid, name = get("partner_id"), get("partner_name")
            pid_text = _text(pid)
            ok = pid is not None and name is not None
            if ok and self._duplicate(self.partner_refs.first, pid_text.casefold(), table, r, cols, problem, "partner_id"):
                ok = False
            if not ok:
                self._emit(out, self.partner_refs.resolve(pid) if pid is not None else None)
                continue
            name_text = _text(name)
            clash = self.partner_refs.clash(pid_text, name_text)
            self.partner_refs.add(pid_text, name_text)
            if clash:
                problem("PARTNER_DUPLICATE_NAME", "partner_name", detail=clash, partner=pid_text)
                self.rec.problems.add(out.pop())  # it names another partner: for us alone, never in a review
            emails = {}
            for field in ("partner_lead_email", "internal_owner_email"):
                valid, invalid = split_emails(get(field))
                for bad in invalid:
                    hidden = control_characters(bad)
                    if hidden:
                        problem("VALUE_EMAIL_CONTROL_CHAR", field, value=bad, shown=escape_controls(bad),
                                detail=", ".join(hidden))
                    else:
                        problem("VALUE_BAD_EMAIL", field, value=bad)
                emails[field] = "; ".join(valid)
            self._add("partners", {
                "partner_id": pid_text, "partner_name": name_text, "tier": _text(get("tier")),
                "partner_lead": _text(get("partner_lead")), "recipients": emails["partner_lead_email"],
                "internal_owner": _text(get("internal_owner")), "internal_owner_email": emails["internal_owner_email"],
                "status": self._choice(get, problem, "status", ("active", "paused", "ended"), "active"),
                **self._prov(table, r)})
            self._emit(out, pid_text)

    def kpis(self, table: Table) -> None:
        from pipeline.core.schema import AGGREGATIONS, DIRECTIONS, UNITS

        for r, vals, cols in table.records:
            get, problem, out = self._row(table, r, vals, cols, ("kpi_id", "kpi_name"))
            kid, name = get("kpi_id"), get("kpi_name")
            kid_text = _text(kid)
            ok = kid is not None and name is not None
            if ok and self._duplicate(self.kpi_refs.first, kid_text.casefold(), table, r, cols, problem, "kpi_id"):
                ok = False
            if not ok:
                self._emit(out, None)
                continue
            unit = self._choice(get, problem, "unit", UNITS, "count")
            weight = 1.0
            raw_weight = get("weight")
            if raw_weight is not None:
                try:
                    weight = parse_number(raw_weight)
                    if weight < 0:
                        problem("VALUE_OUT_OF_RANGE", "weight", detail="a weight of 0 or more", severity=P.WARNING)
                        weight = 1.0
                except ValueError:
                    problem("VALUE_NOT_NUMBER", "weight", severity=P.WARNING)
            clash = self.kpi_refs.clash(kid_text, _text(name))
            if clash:
                problem("KPI_DUPLICATE_NAME", "kpi_name", detail=clash, kpi=kid_text)
            self.kpi_refs.add(kid_text, _text(name))
            self.kpi_unit[kid_text] = unit
            self._add("kpis", {
                "kpi_id": kid_text, "kpi_name": _text(name), "unit": unit,
                "direction": self._choice(get, problem, "direction", DIRECTIONS, "higher"),
                "aggregation": self._choice(get, problem, "aggregation", AGGREGATIONS, DEFAULT_AGGREGATION.get(unit, "mean")),
                "weight": weight, **self._prov(table, r)})
            self._emit(out, None)

    def fx_rates(self, table: Table) -> None:
        for r, vals, cols in table.records:
            get, problem, out = self._row(table, r, vals, cols, ("period", "currency", "rate"))
            period, cur, rate = self._read_period(get, problem, table.date1904), _text(get("currency")).upper(), None
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
                if (period.label, cur) in self.fx:
                    problem("DUPLICATE_KEY", "rate", value=f"{cur} {period.label}", detail="an earlier row")
                else:
                    self.fx[(period.label, cur)] = rate
                    self._add("fx_rates", {"period": period.label, "period_kind": period.kind,
                                                  "quarter": period.quarter.label, "currency": cur, "rate": rate,
                                                  **self._prov(table, r)})
            self._emit(out, None)

    def _read_period(self, get, problem, date1904: bool = False):
        v = get("period")
        if v is None:
            return None
        try:
            return self._period(v, date1904)
        except EarlyDate:
            problem("VALUE_DATE_BEFORE_1900", "period")
        except ValueError:
            problem("VALUE_BAD_PERIOD", "period")
        return None

    def _kpi_record(self, table: Table, r: int, vals: list, cols: list, value_field: str):
        """Shared by targets and actuals: (get, problem, out, pid, kid, period, number) of one record."""
        req = ("partner_id", "kpi_id", "period", value_field)
        get, problem, out = self._row(table, r, vals, cols, req)
        raw_pid = get("partner_id")
        pid = None
        if raw_pid is not None:
            pid = "*" if value_field == "target" and _text(raw_pid) == "*" else self._partner(raw_pid, problem)
        raw_kid = get("kpi_id")
        kid = self._kpi(raw_kid, problem) if raw_kid is not None else None
        period = self._read_period(get, problem, table.date1904)
        raw = get(value_field)
        number = None
        if raw is not None:
            try:
                number = (parse_percent if self.kpi_unit.get(kid or "") == "percent" else parse_number)(raw)
            except ValueError:
                problem("VALUE_NOT_NUMBER", value_field)
        return get, problem, out, pid, kid, period, number

    def targets(self, table: Table) -> None:
        fast = self._fast_targets(table)
        for j, (r, vals, cols) in enumerate(table.records):
            if j in fast:
                continue
            _get, _problem, out, pid, kid, period, number = self._kpi_record(table, r, vals, cols, "target")
            if pid and kid and period and number is not None and not any(p.severity == P.ERROR for p in out):
                row = {"partner_id": pid, "kpi_id": kid, "period": period.label, "period_kind": period.kind,
                       "quarter": period.quarter.label, "target": number, "from_default": False,
                       "cell": table.cell(r, table.fields.index("target"), cols),
                       **self._prov(table, r)}
                self.star_targets.append(row) if pid == "*" else self._add("targets", row)
            self._emit(out, pid if pid != "*" else None)

    def actuals(self, table: Table) -> None:
        from pipeline.core.schema import SOURCES

        reporting = str(self.config.currency).upper()
        fast = self._fast_actuals(table, reporting)
        for j, (r, vals, cols) in enumerate(table.records):
            if j in fast:
                continue
            get, problem, out, pid, kid, period, number = self._kpi_record(table, r, vals, cols, "value")
            source = self._choice(get, problem, "source", SOURCES, "internal")
            cur = _text(get("currency")).upper()
            note = _text(get("note"))
            if pid and kid and period and number is not None and not any(p.severity == P.ERROR for p in out):
                value = number
                if cur and cur != reporting and self.kpi_unit.get(kid) == "currency":
                    rate = self.fx.get((period.label, cur)) or self.fx.get((period.quarter.label, cur))
                    if rate is None:
                        problem("FX_MISSING_RATE", "currency", value=cur, detail=period.label)
                        self._emit(out, pid)
                        continue
                    value = number * rate
                    if not math.isfinite(value):
                        found = period.label if (period.label, cur) in self.fx else period.quarter.label
                        problem("FX_OVERFLOW", "value", detail=f"{cur} rate {_text(rate)} for {found}")
                        self._emit(out, pid)
                        continue
                self._add("kpi_values", {
                    "partner_id": pid, "kpi_id": kid, "period": period.label, "period_kind": period.kind,
                    "quarter": period.quarter.label, "value": value, "source": source, "currency": cur,
                    "original_value": number, "note": note,
                    "cell": table.cell(r, table.fields.index("value"), cols),
                    **self._prov(table, r)})
            self._emit(out, pid)

    def commitments(self, table: Table) -> None:
        from pipeline.core.schema import PARTIES

        req = ("commitment_id", "partner_id", "party", "description")
        for r, vals, cols in table.records:
            get, problem, out = self._row(table, r, vals, cols, req)
            cid = get("commitment_id")
            raw_pid = get("partner_id")
            pid = self._partner(raw_pid, problem) if raw_pid is not None else None
            party = self._choice(get, problem, "party", PARTIES, "", required=True) if get("party") is not None else None
            desc = get("description")
            ok = cid is not None and pid is not None and party and desc is not None
            if ok and self._duplicate(self.commitment_ids, _key(cid), table, r, cols, problem, "commitment_id"):
                ok = False
            if not ok:
                self._emit(out, pid)
                continue
            status_raw = _text(get("status"))
            status, mapped = map_status(status_raw)
            if not mapped:
                problem("VALUE_UNMAPPED_STATUS", "status", detail=status)
            pct = float("nan")
            raw_pct = get("percent_complete")
            if raw_pct is not None:
                try:
                    pct = parse_percent(raw_pct)
                    if 1 < pct <= 100:  # 60 means 60 %
                        pct = pct / 100.0
                    if not 0 <= pct <= 1:
                        problem("VALUE_OUT_OF_RANGE", "percent_complete", detail="a percentage from 0% to 100%")
                        pct = float("nan")
                except ValueError:
                    problem("VALUE_NOT_NUMBER", "percent_complete")
            linked = ""
            raw_link = get("linked_kpi_id")
            if raw_link is not None:
                linked = self._kpi(raw_link, problem, "REF_UNKNOWN_LINKED_KPI", "linked_kpi_id") or ""
            self._add("commitments", {
                "commitment_id": _text(cid), "partner_id": pid, "party": party, "description": str(desc).strip(),
                "owner": _text(get("owner")), "due_date": self._date(get, problem, "due_date", table.date1904),
                "baseline_due_date": self._date(get, problem, "baseline_due_date", table.date1904), "status": status,
                "status_raw": status_raw, "percent_complete": pct, "linked_kpi_id": linked,
                "last_updated": self._date(get, problem, "last_updated", table.date1904),
                "completed_date": self._date(get, problem, "completed_date", table.date1904),
                "note": _text_keep(get("note")), "internal_note": _text_keep(get("internal_note")),
                **self._prov(table, r)})
            self._emit(out, pid)

    def checkins(self, table: Table) -> None:
        for r, vals, cols in table.records:
            get, problem, out = self._row(table, r, vals, cols, ("partner_id", "date"))
            raw_pid = get("partner_id")
            pid = self._partner(raw_pid, problem) if raw_pid is not None else None
            day = self._date(get, problem, "date", table.date1904)
            if pid and day:
                self._add("checkins", {
                    "partner_id": pid, "date": day, "quarter": quarter_of_date(day, self.fy).label,
                    "type": _text(get("type")), "attendees": _text(get("attendees")),
                    "summary": _text_keep(get("summary")), **self._prov(table, r)})
            self._emit(out, pid)

    # ---- frames ----------------------------------------------------------------------------------
    def finish(self) -> None:
        t = self.data["targets"]
        own = set(zip(t["partner_id"], t["kpi_id"], t["period"]))
        for star in self.star_targets:
            for pid in self.partner_refs.ids.values():
                if (pid, star["kpi_id"], star["period"]) not in own:
                    self._add("targets", {**star, "partner_id": pid, "from_default": True})
        self._drop_overflowing("kpi_values", "value", "original_value")
        self._drop_overflowing("targets", "target", "target")
        for name in FRAMES:
            setattr(self.rec, name, _frame(name, self.data[name]))

    def _drop_overflowing(self, name: str, column: str, typed: str) -> None:
        """The rows of `name` whose months would roll up to a quarter figure that is not finite (three months
        of 1e308 sum to infinity): each is ROLLUP_OVERFLOW and dropped, so that quarter has no figure from
        that source, never an infinite one. The roll-up is `pipeline.analyse.kpis._rollup`'s: per partner, KPI,
        quarter (and source, for actuals) the months are added up (``sum``, and ``mean`` through the sum),
        one figure per month (for actuals the less favourable of two, for targets the more demanding); a
        quarterly row wins over its months, which are then never added, and ``last`` adds nothing up."""
        d = self.data[name]
        values = d[column]
        if math.isfinite(sum(map(abs, values))):  # nothing can overflow: the usual case, one pass
            return
        k = self.data["kpis"]
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
            self.rec.problems.add(P.make("ROLLUP_OVERFLOW", file=d["file"][i], sheet=d["sheet"][i], cell=d["cell"][i],
                                         value=_text(d[typed][i]), detail=what,
                                         partner_id=d["partner_id"][i] if own else ""))
        gone = set(drop)
        for c, col in d.items():
            d[c] = [v for j, v in enumerate(col) if j not in gone]

    def _add(self, name: str, row: dict[str, Any]) -> None:
        for c, values in self.data[name].items():
            values.append(row[c])

    def _fast_actuals(self, table: Table, reporting: str) -> set[int]:
        """The clean records of an Actuals table, added in bulk (a large sheet is mostly clean rows):
        each distinct partner, KPI, period, source, currency and note is looked up once. Returns the
        positions of the records handled; the others take the careful path that reports what is wrong."""
        from pipeline.core.schema import SOURCES

        if not table.records:
            return set()
        ix = table.index
        columns = list(zip(*(v for _, v, _ in table.records)))
        n = len(table.records)

        def lookup(field: str, fn: Callable[[Any], Any]) -> tuple[Any, dict]:
            if field not in ix:
                return [None] * n, {None: fn(None)}
            col = columns[ix[field]]
            found = {}
            for v in set(col):
                try:
                    found[v] = None if isinstance(v, CellError) else fn(v)
                except ValueError:
                    found[v] = None
            return col, found

        def ref(refs: _Refs) -> Callable[[Any], Any]:
            return lambda v: refs.resolve(v) if v is not None else None

        def source(v: Any) -> str:
            return parse_choice(v, SOURCES, "source") or "internal"

        pids, pmap = lookup("partner_id", ref(self.partner_refs))
        kids, kmap = lookup("kpi_id", ref(self.kpi_refs))
        def period(v: Any) -> tuple[str, str, str] | None:
            p = self._period(v, table.date1904) if v is not None else None
            return (p.label, p.kind, p.quarter.label) if p else None

        pers, permap = lookup("period", period)
        srcs, smap = lookup("source", source)
        curs, cmap = lookup("currency", lambda v: _text(v).upper())
        notes, nmap = lookup("note", _text)
        vi = ix["value"]
        values = columns[vi]
        formula_rows = {row for row, _ in table.formulas}
        letters: dict[int, str] = {}
        out: list[tuple] = []
        handled: set[int] = set()
        file, sheet = table.file, table.sheet
        for j, (r, _, cols) in enumerate(table.records):
            pid, kid, per, x = pmap[pids[j]], kmap[kids[j]], permap[pers[j]], values[j]
            src, cur, note = smap[srcs[j]], cmap[curs[j]], nmap[notes[j]]
            if not pid or not kid or per is None or src is None or cur is None or note is None or r in formula_rows:
                continue
            if x.__class__ is str:
                if _PLAIN_NUMBER.fullmatch(x):
                    x = float(x)
                elif self.kpi_unit.get(kid) == "percent":
                    continue
                else:
                    try:
                        x = parse_number(x)
                    except ValueError:
                        continue
            elif x.__class__ is not float and x.__class__ is not int:
                continue
            value = x = float(x)
            if not math.isfinite(x):
                continue
            if cur and cur != reporting and self.kpi_unit.get(kid) == "currency":
                rate = self.fx.get((per[0], cur)) or self.fx.get((per[2], cur))
                if rate is None:
                    continue
                value = x * rate
                if not math.isfinite(value):
                    continue
            col = cols[vi]
            letter = letters.get(col) or letters.setdefault(col, column_letter(col))
            label, kind, quarter = per
            out.append((pid, kid, label, kind, quarter, value, src, cur, x, note, f"{letter}{r}", file, sheet, r))
            handled.add(j)
        if out:
            names = ("partner_id", "kpi_id", "period", "period_kind", "quarter", "value", "source", "currency",
                     "original_value", "note", "cell", "file", "sheet", "row")
            d = self.data["kpi_values"]
            for c, column in zip(names, zip(*out)):
                d[c].extend(column)
        return handled


    def _fast_targets(self, table: Table) -> set[int]:
        """The clean records of a Targets table added in bulk, as `_fast_actuals` does for actuals: a known
        partner (or ``*``) and KPI, a period, a number. The others take the careful path in `targets`."""
        ix = table.index
        if not table.records or not all(f in ix for f in ("partner_id", "kpi_id", "period", "target")):
            return set()
        columns = list(zip(*(v for _, v, _ in table.records)))

        def mapped(field: str, fn: Callable[[Any], Any]) -> dict[Any, Any]:
            found = {}
            for v in set(columns[ix[field]]):
                try:
                    found[v] = None if v is None or isinstance(v, CellError) else fn(v)
                except ValueError:
                    found[v] = None
            return found

        def period(v: Any) -> tuple[str, str, str]:
            p = self._period(v, table.date1904)
            return p.label, p.kind, p.quarter.label

        pmap = mapped("partner_id", lambda v: "*" if _text(v) == "*" else self.partner_refs.resolve(v))
        kmap = mapped("kpi_id", self.kpi_refs.resolve)
        permap = mapped("period", period)
        pids, kids, pers, values = (columns[ix[f]] for f in ("partner_id", "kpi_id", "period", "target"))
        ti = table.fields.index("target")
        formula_rows = {row for row, _ in table.formulas}
        handled: set[int] = set()
        for j, (r, _, cols) in enumerate(table.records):
            pid, kid, per, x = pmap[pids[j]], kmap[kids[j]], permap[pers[j]], values[j]
            if not pid or not kid or per is None or r in formula_rows:
                continue
            if x.__class__ is str:
                if not _PLAIN_NUMBER.fullmatch(x) or self.kpi_unit.get(kid) == "percent":
                    continue
            elif x.__class__ is not float and x.__class__ is not int:
                continue
            x = float(x)
            if not math.isfinite(x):
                continue
            label, kind, quarter = per
            row = {"partner_id": pid, "kpi_id": kid, "period": label, "period_kind": kind, "quarter": quarter,
                   "target": x, "from_default": False, "cell": table.cell(r, ti, cols), **self._prov(table, r)}
            self.star_targets.append(row) if pid == "*" else self._add("targets", row)
            handled.add(j)
        return handled


_DATE_COLUMNS = {"due_date", "baseline_due_date", "last_updated", "completed_date", "date"}
_FLOAT_COLUMNS = {"value", "original_value", "target", "weight", "rate", "percent_complete"}


def _text_keep(v: Any) -> str:
    """Free text as typed (line breaks kept), only trimmed."""
    return "" if v is None else (_text(v) if not isinstance(v, str) else v.strip())


def _frame(name: str, data: dict[str, list]) -> pd.DataFrame:
    columns = list(FRAMES[name]) + list(PROVENANCE)
    data = dict(data)
    for c in columns:
        if c in _DATE_COLUMNS:
            data[c] = pd.to_datetime(pd.Series(data[c], dtype=object)).astype("datetime64[ns]")
        elif c in _FLOAT_COLUMNS:
            data[c] = pd.Series(data[c], dtype="float64")
        elif c == "row":
            data[c] = pd.Series(data[c], dtype="int64")
        elif c == "from_default":
            data[c] = pd.Series(data[c], dtype="bool")
        else:
            data[c] = pd.Series(data[c], dtype="str")
    return pd.DataFrame(data, columns=columns)
