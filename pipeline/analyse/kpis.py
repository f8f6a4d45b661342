"""KPIs per quarter: months rolled up, the driving figure chosen, attainment and changes.

Pure functions from the reconciled frames (and what history recorded) to the ``kpi_quarterly`` frame
documented in `pipeline.core.schema.ANALYSIS_FRAMES`. The rules are written out in docs/analysis.md.
"""
from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from pipeline.core.schema import DISCREPANCY
from pipeline.core.settings import Config

KEYS = ["partner_id", "kpi_id", "quarter"]
_DEF_COLS = ["kpi_id", "kpi_name", "unit", "direction", "aggregation", "weight"]


def kpi_definitions(kpis: pd.DataFrame) -> pd.DataFrame:
    """One row per kpi_id with every default filled (unit count, direction higher, weight 1,
    aggregation sum for currency and count, mean otherwise)."""
    d = kpis.reindex(columns=_DEF_COLS).drop_duplicates("kpi_id").reset_index(drop=True)
    blank = lambda s: s.isna() | (s.astype("str").str.strip() == "")  # noqa: E731
    unit = d["unit"].astype("object").where(~blank(d["unit"]), "count")
    direction = d["direction"].astype("object").where(~blank(d["direction"]), "higher")
    default_agg = np.where(unit.isin(["currency", "count"]), "sum", "mean")
    aggregation = d["aggregation"].astype("object").where(~blank(d["aggregation"]), pd.Series(default_agg, index=d.index))
    name = d["kpi_name"].astype("object").where(~blank(d["kpi_name"]), d["kpi_id"])
    weight = pd.to_numeric(d["weight"], errors="coerce").fillna(1.0).clip(lower=0)
    return pd.DataFrame({"kpi_id": d["kpi_id"].astype("str"), "kpi_name": name.astype("str"), "unit": unit.astype("str"),
                         "direction": direction.astype("str"), "aggregation": aggregation.astype("str"),
                         "weight": weight.astype(float)})


def _with_defs(frame: pd.DataFrame, defs: pd.DataFrame) -> pd.DataFrame:
    out = frame.merge(defs[["kpi_id", "direction", "aggregation"]], on="kpi_id", how="inner")
    out["sign"] = np.where(out["direction"] == "lower", -1.0, 1.0)
    return out


def _key(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """One int64 group key for the given columns (grouping on it is far faster than on strings)."""
    key = np.zeros(len(frame), dtype=np.int64)
    for c in cols:
        codes, uniques = pd.factorize(frame[c])
        key = key * (len(uniques) + 1) + codes
    return key


def _resolve(values: pd.DataFrame, value_col: str, by_source: bool) -> pd.DataFrame:
    """One figure per (partner, kpi, period[, source]): when a source gave two different values, keep the
    less favourable one (the lower for direction=higher, the higher for lower) and mark ``conflict``."""
    keys = ["partner_id", "kpi_id", "period"] + (["source"] if by_source else [])
    key = _key(values, keys)
    num = pd.DataFrame({"k": key, "fav": values[value_col].to_numpy() * values["sign"].to_numpy(),
                        "v": values[value_col].to_numpy()})
    stats = num.groupby("k", sort=True).agg(fav=("fav", "min"), high=("v", "max"), low=("v", "min"))
    firsts = pd.Series(key).drop_duplicates().sort_values()
    out = values.iloc[firsts.index.to_numpy()].drop(columns=[value_col]).reset_index(drop=True)
    out[value_col] = stats["fav"].to_numpy() * out["sign"].to_numpy()
    out["high"], out["low"] = stats["high"].to_numpy(), stats["low"].to_numpy()
    with np.errstate(over="ignore", invalid="ignore"):  # 1e308 against -1e308: an infinite gap is a conflict
        out["conflict"] = (out["high"] - out["low"]) > 1e-9 * np.maximum(1.0, out["high"].abs())
    return out


def _rollup(resolved: pd.DataFrame, value_col: str, by_source: bool) -> pd.DataFrame:
    """Quarter figures: a quarterly row as reported, else the months rolled up by the KPI's aggregation.
    ``months_reported`` counts the months behind a monthly roll-up (0 for a quarterly figure). A roll-up
    that is not finite is missing (NaN), never infinite: `pipeline.reconcile.convert` reports and drops the rows
    behind one, so this only guards frames handed in directly."""
    keys = KEYS + (["source"] if by_source else [])
    cols = keys + [value_col, "months_reported", "conflict"]
    is_q = (resolved["period_kind"] == "quarter").to_numpy()
    q = resolved[is_q].assign(months_reported=0)[cols]
    monthly = resolved[~is_q]
    if len(monthly):
        key = _key(monthly, keys)
        order = np.lexsort((pd.factorize(monthly["period"], sort=True)[0], key))  # by key, then month
        monthly, key = monthly.iloc[order], key[order]
        num = pd.DataFrame({"k": key, "v": monthly[value_col].to_numpy(), "c": monthly["conflict"].to_numpy(dtype=bool)})
        g = num.groupby("k", sort=True)
        with np.errstate(over="ignore", invalid="ignore"):  # the sum of a `last` KPI may overflow unused
            stats = g.agg(s=("v", "sum"), mean=("v", "mean"), last=("v", "last"), n=("v", "size"), c=("c", "any"))
        first = ~np.r_[False, key[1:] == key[:-1]]
        m = monthly[first][keys + ["aggregation"]].reset_index(drop=True)
        agg = m.pop("aggregation").to_numpy()
        m[value_col] = np.select([agg == "sum", agg == "last"], [stats["s"].to_numpy(), stats["last"].to_numpy()],
                                 stats["mean"].to_numpy())
        m[value_col] = m[value_col].where(np.isfinite(m[value_col]))
        m["months_reported"] = stats["n"].to_numpy()
        m["conflict"] = stats["c"].to_numpy()
        if len(q):  # a quarterly figure wins over months of the same source
            held = pd.MultiIndex.from_frame(q[keys])
            m = m[~pd.MultiIndex.from_frame(m[keys]).isin(held)]
        q = pd.concat([q, m], ignore_index=True) if len(q) else m
    return q.reset_index(drop=True)


def rolled_targets(targets: pd.DataFrame, defs: pd.DataFrame) -> pd.DataFrame:
    """(partner, kpi, quarter) -> target rolled up like the actuals."""
    t = targets.reindex(columns=["partner_id", "kpi_id", "period", "period_kind", "quarter", "target"])
    t = t[t["target"].notna()].astype({"target": float})
    t = _with_defs(t, defs)
    t["sign"] = -t["sign"]  # two different targets for one period: the more demanding one is kept
    return _rollup(_resolve(t, "target", False), "target", False)


def _widen(actuals: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """Side by side per (partner, kpi, quarter): internal, partner, target, months and conflicts per source."""
    idx = actuals.set_index(KEYS + ["source"])
    wide = cast(pd.DataFrame, idx[["value", "months_reported", "conflict"]].unstack("source"))  # a frame unstacks to a frame
    wide.columns = [f"{c}_{s}" for c, s in cast(pd.MultiIndex, wide.columns)]  # (column, source) after unstack
    for s in ("internal", "partner"):
        for c, default in (("value", np.nan), ("months_reported", np.nan), ("conflict", False)):
            if f"{c}_{s}" not in wide:
                wide[f"{c}_{s}"] = default
    wide = wide.rename(columns={"value_internal": "internal", "value_partner": "partner"}).reset_index()
    out = wide.merge(targets[KEYS + ["target"]], on=KEYS, how="outer")
    for s in ("internal", "partner"):
        out[f"conflict_{s}"] = out[f"conflict_{s}"].astype("boolean").fillna(False).astype(bool)
    return out


def _from_history(hist: pd.DataFrame | None) -> pd.DataFrame:
    """History's recorded rows (source internal | partner | target) in the wide shape."""
    if hist is None or not len(hist):
        return pd.DataFrame(columns=KEYS)
    value = pd.to_numeric(hist["value"], errors="coerce").astype(float)
    hist = hist.assign(value=value.where(np.isfinite(value)))  # an infinite figure recorded before: missing
    act = hist[hist["source"].isin(["internal", "partner"])].assign(conflict=False)
    tgt = hist[hist["source"] == "target"].rename(columns={"value": "target"})
    return _widen(act[KEYS + ["source", "value", "months_reported", "conflict"]], tgt[KEYS + ["target"]])


CELL_SEP = " › "


def _cells(frame: pd.DataFrame, by_source: bool) -> pd.DataFrame:
    """Per (partner, kpi, quarter[, source]) the cells rolled into its figure, as
    "file › sheet › D17, D18" ('; '-joined across files). A quarterly row wins over months, as in `_rollup`."""
    keys = KEYS + (["source"] if by_source else [])
    cols = keys + ["period_kind", "file", "sheet", "row", "cell"]
    f = frame.reindex(columns=cols)
    f = f[f["cell"].notna() & (f["cell"].astype("str") != "")]
    if not len(f):
        return pd.DataFrame(columns=keys + ["cells"])
    f = f.assign(_q=(f["period_kind"] == "quarter").to_numpy(), _row=pd.to_numeric(f["row"], errors="coerce"))
    has_q = f.groupby(keys, sort=False)["_q"].transform("any")
    f = f[f["_q"] | ~has_q].sort_values(keys + ["file", "sheet", "_row"], kind="stable")
    f = f.astype({"file": "str", "sheet": "str", "cell": "str"})
    g = _joined(f, keys + ["file", "sheet"], "cell", ", ")
    g["cells"] = g["file"] + CELL_SEP + g["sheet"] + CELL_SEP + g["cell"]
    return _joined(g, keys, "cells", "; ")


def _joined(frame: pd.DataFrame, keys: list[str], col: str, sep: str) -> pd.DataFrame:
    """``frame.groupby(keys, sort=False)[col].agg(sep.join).reset_index()``, without pandas' per-group
    Python aggregation (7x faster on a 1,000-partner portfolio; same rows, order and dtypes)."""
    codes = frame.groupby(keys, sort=False).ngroup().to_numpy()
    ok = codes >= 0
    first = frame.loc[ok & ~pd.Series(codes).duplicated().to_numpy(), keys].reset_index(drop=True)
    parts: list[list[str]] = [[] for _ in range(len(first))]
    for code, value in zip(codes[ok], frame[col].to_numpy()[ok]):
        parts[code].append(value)
    return first.assign(**{col: [sep.join(p) for p in parts]})


def cell_sources(kpi_values: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """Provenance of every (partner, kpi, quarter) figure: ``internal_cells``, ``partner_cells``,
    ``target_cells`` and ``sources`` (the three labelled and joined by ' | ')."""
    v = kpi_values[kpi_values["value"].notna()] if "value" in kpi_values else kpi_values
    v = v.assign(source=v["source"].astype("object").where(v["source"].isin(["internal", "partner"]), "internal"))
    act = _cells(v, True)
    t = targets[targets["target"].notna()] if "target" in targets else targets
    out = _cells(t, False).rename(columns={"cells": "target_cells"})
    for s in ("internal", "partner"):
        part = act[act["source"] == s].drop(columns=["source"]).rename(columns={"cells": f"{s}_cells"})
        out = out.merge(part, on=KEYS, how="outer")
    for c in ("internal_cells", "partner_cells", "target_cells"):
        out[c] = out[c].astype("object").where(out[c].notna(), "")
    out["sources"] = [" | ".join(f"{label}: {x}" for label, x in (("internal", i), ("partner", p), ("target", t)) if x)
                      for i, p, t in zip(out["internal_cells"], out["partner_cells"], out["target_cells"])]
    return out


def kpi_quarterly(kpi_values: pd.DataFrame, targets: pd.DataFrame, kpis: pd.DataFrame, config: Config,
                  last_qindex: int, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every (partner, kpi, quarter) known up to the reviewed quarter (index ``last_qindex``), from the
    workbooks or, for a (partner, kpi, quarter) the workbooks do not hold, from history."""
    return kpi_tables(kpi_values, targets, kpis, config, last_qindex, history)[0]


def kpi_tables(kpi_values: pd.DataFrame, targets: pd.DataFrame, kpis: pd.DataFrame, config: Config,
               last_qindex: int, history: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`kpi_quarterly` and the conflicts behind it: one row per (partner, kpi, period, source) whose
    source reported different values, with ``low`` and ``high`` (the evidence for KPI_CONFLICT)."""
    from pipeline.core.periods import Quarter

    defs = kpi_definitions(kpis)
    v = kpi_values.reindex(columns=["partner_id", "kpi_id", "period", "period_kind", "quarter", "value", "source"])
    v = v[v["value"].notna()].astype({"value": float})
    v["source"] = v["source"].astype("object").where(v["source"].isin(["internal", "partner"]), "internal")
    resolved = _resolve(_with_defs(v, defs), "value", True)
    conflicts = resolved.loc[resolved["conflict"], ["partner_id", "kpi_id", "period", "quarter", "source", "low", "high"]]
    actuals = _rollup(resolved, "value", True)
    wide = _widen(actuals, rolled_targets(targets, defs)).assign(origin="workbook")
    wide = wide.merge(cell_sources(kpi_values, targets), on=KEYS, how="left")
    past = _from_history(history)
    if len(past):
        held = pd.MultiIndex.from_frame(wide[KEYS])
        past = past[~pd.MultiIndex.from_frame(past[KEYS]).isin(held)].assign(origin="history")
        assert history is not None  # past is empty without history
        runs = history.groupby(KEYS)["run_quarter"].max() if "run_quarter" in history else pd.Series(dtype="str")
        past["sources"] = [f"history: as recorded by the {runs.get(k, 'earlier')} run"
                           for k in zip(past["partner_id"], past["kpi_id"], past["quarter"])]
        wide = pd.concat([wide, past], ignore_index=True)
    if not len(wide):
        from pipeline.core.frames import empty_analysis_frame

        return empty_analysis_frame("kpi_quarterly"), conflicts.reset_index(drop=True)
    qindex = {label: Quarter.parse(label).index for label in wide["quarter"].dropna().unique()}
    wide["qindex"] = wide["quarter"].map(qindex).astype(int)
    wide = wide[wide["qindex"] <= last_qindex].merge(defs[["kpi_id", "direction", "aggregation"]], on="kpi_id",
                                                     how="inner")
    return _derive(wide.reset_index(drop=True), config), conflicts.reset_index(drop=True)


def _derive(w: pd.DataFrame, config: Config) -> pd.DataFrame:
    driving = config.kpi.driving_source
    other = "partner" if driving == "internal" else "internal"
    has_drive = w[driving].notna()
    w["actual"] = w[driving].where(has_drive, w[other])
    w["actual_source"] = np.where(has_drive, driving, np.where(w[other].notna(), other, ""))
    months = w[f"months_reported_{driving}"].where(has_drive, w[f"months_reported_{other}"])
    w["months_reported"] = months.fillna(0).astype(int)
    ci, cp = w["conflict_internal"], w["conflict_partner"]
    w["conflict"] = ci | cp
    w["conflict_source"] = np.select([ci & cp, ci, cp], ["internal, partner", "internal", "partner"], "")
    # a summed KPI with only some of the quarter's months reported is a partial figure: shown, but never set
    # against a full quarter's target or the last quarter (that would read the missing months as zero)
    w["partial"] = (w["aggregation"] == "sum") & w["months_reported"].between(1, 2)
    comparable = w["actual"].where(~w["partial"])
    w["attainment"] = attainment(comparable, w["target"], w["direction"], config.health.attainment_cap)
    both = w["internal"].notna() & w["partner"].notna()
    base = w[driving].abs()
    with np.errstate(over="ignore"):  # a gap too large for a float is infinite, like a gap over a zero base
        gap = (w["internal"] - w["partner"]).abs()
        w["discrepancy"] = np.where(both, np.where(base > 0, gap / base.where(base > 0, 1), np.where(gap > 0, np.inf, 0.0)),
                                    np.nan)
    w["status"] = _status(w, config)
    w = w.sort_values(["partner_id", "kpi_id", "qindex"], kind="stable").reset_index(drop=True)
    w["comparable"] = w["actual"].where(~w["partial"])
    for col, lag in (("change_qoq", 1), ("change_yoy", 4)):
        shifted = w[["partner_id", "kpi_id", "qindex", "comparable"]].assign(qindex=w["qindex"] + lag)
        prev = w[["partner_id", "kpi_id", "qindex"]].merge(shifted, on=["partner_id", "kpi_id", "qindex"],
                                                           how="left")["comparable"]
        with np.errstate(over="ignore"):
            change = ((w["comparable"] - prev) / prev.abs().where(prev.abs() > 0)).astype(float)
        w[col] = change.where(np.isfinite(change))  # a change too large to compute is unknown, never infinite
    cols = ["partner_id", "kpi_id", "quarter", "qindex", "target", "internal", "partner", "actual", "actual_source",
            "months_reported", "partial", "attainment", "change_qoq", "change_yoy", "status", "discrepancy", "conflict",
            "conflict_source", "origin", "sources", "internal_cells", "partner_cells", "target_cells"]
    for c in cols[-4:]:
        w[c] = w[c].astype("object").where(w[c].notna(), "").astype("str") if c in w else ""
    out = w[cols].copy()
    for c in ("target", "internal", "partner", "actual", "attainment", "discrepancy"):
        out[c] = out[c].astype(float)
    return out


def attainment(actual: pd.Series, target: pd.Series, direction: pd.Series, cap: float) -> pd.Series:
    """actual/target for direction=higher, target/actual for lower; NaN when either is missing.

    Degenerate denominators (a target of zero or below; for lower, an actual of zero or below) give
    ``cap`` when the actual meets the target and 0 when it does not, so no division by zero is shown;
    so does a ratio too large for a float (1e300 against a target of 1e-10), never an infinite one."""
    actual, target = actual.astype(float), target.astype(float)
    lower = direction == "lower"
    num = np.where(lower, target, actual)
    den = np.where(lower, actual, target)
    known = actual.notna() & target.notna()
    ok_den = den > 0
    with np.errstate(over="ignore"):
        ratio = np.divide(num, den, out=np.full(len(actual), np.nan), where=ok_den & known.to_numpy())
    meets = np.where(lower, actual <= target, actual >= target)
    degenerate = np.where(meets, float(cap), 0.0)
    out = np.where(known, np.where(ok_den & ~np.isinf(ratio), ratio, degenerate), np.nan)
    return pd.Series(out, index=actual.index, dtype=float)


def at_target(rows: pd.DataFrame, direction: pd.Series, config: Config) -> pd.DataFrame:
    """`kpi_quarterly` rows as they would be had each KPI's figure for the quarter been its target exactly
    (the meeting brief's what-if): the figure, its attainment and its status, by the rules above."""
    out = rows.copy()
    out["actual"] = out["target"].astype(float)
    out["partial"] = False
    out["attainment"] = attainment(out["actual"], out["target"], direction.reset_index(drop=True).set_axis(out.index),
                                   config.health.attainment_cap)
    out["status"] = _status(out, config)
    return out


def _status(w: pd.DataFrame, config: Config) -> np.ndarray:
    """The attainment band, decided here and nowhere else: flags, the health explanation, the reviews'
    summaries, scorecards and heat map all read ``status``."""
    att = w["attainment"]
    has_target, has_actual = w["target"].notna(), w["actual"].notna()
    return np.select(
        [has_target & ~has_actual, has_target & w["partial"], ~has_target, att >= config.kpi.attainment_medium,
         att >= config.kpi.attainment_high],
        ["missing", "partial", "no_target", "on_track", "at_risk"], "off_track")


DISAGREEMENT_COLUMNS = ["partner_id", "kpi_id", "quarter", "internal", "partner", "gap", "discrepancy", "actual_source",
                        "internal_cells", "partner_cells", "since", "quarters"]


def beyond_tolerance(discrepancy: pd.Series, tolerance: float) -> pd.Series[bool]:
    """The one rule for "the two sides' figures disagree": both figures exist and their relative gap
    (``discrepancy``) is over ``tolerance`` (`kpi.discrepancy_tolerance`). KPI_DISCREPANCY, the
    reconciliation statement, the health score's data quality and the data notes all apply it."""
    d = discrepancy.astype(float)
    return d.notna() & (d > tolerance)


def disagreements(kq: pd.DataFrame, quarter_index: int, tolerance: float) -> pd.DataFrame:
    """The reconciliation statement: every (partner, KPI) whose internal and partner figures for the
    quarter ``quarter_index`` differ by more than ``tolerance``, with both figures, the gap (internal −
    partner), the cells each came from, and ``since``: the first quarter of the unbroken run of quarters
    (each with both figures, each beyond tolerance) that ends with this one; ``quarters`` counts them."""
    differ = kq[beyond_tolerance(kq[DISCREPANCY], tolerance)]
    now = differ[differ["qindex"] == quarter_index]
    if not len(now):
        return pd.DataFrame(columns=DISAGREEMENT_COLUMNS)
    seen = set(zip(differ["partner_id"], differ["kpi_id"], differ["qindex"].astype(int)))
    labels = dict(zip(differ["qindex"].astype(int), differ["quarter"]))
    since, count = [], []
    for pid, kid in zip(now["partner_id"], now["kpi_id"]):
        k = quarter_index
        while (pid, kid, k - 1) in seen:
            k -= 1
        since.append(labels[k])
        count.append(quarter_index - k + 1)
    out = now.assign(gap=now["internal"] - now["partner"], since=since, quarters=count)
    out = out.reindex(columns=DISAGREEMENT_COLUMNS)
    for c in ("internal_cells", "partner_cells"):
        out[c] = out[c].fillna("").astype("str")
    return out.sort_values(["partner_id", "kpi_id"], kind="stable").reset_index(drop=True)
