"""The health score (0-100, red/amber/green) with its breakdown and the reasons it moved.

score = sum of four components' points; each component earns ``share x 100 x value`` where value is
the measured ratio (0..1) and share its configured weight, renormalised over the components that had
something to measure. Points are whole numbers that sum exactly to the score (largest remainder).
See docs/analysis.md for the formula in words.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.flags import count_words, pct
from pipeline.periods import Quarter
from pipeline.problems import ERROR, Problem

COMPONENTS = ("kpi_attainment", "our_delivery", "partner_delivery", "data_quality")
WEIGHT_KEYS = {"kpi_attainment": "health.weight_kpi", "our_delivery": "health.weight_our_delivery",
               "partner_delivery": "health.weight_partner_delivery", "data_quality": "health.weight_data"}
LABELS = {"kpi_attainment": "weighted KPI attainment", "our_delivery": "our on-time delivery",
          "partner_delivery": "your on-time delivery", "data_quality": "data quality"}


def _kpi_component(now: pd.DataFrame, defs: pd.DataFrame, cap: float, floor: float) -> pd.DataFrame:
    """Weighted mean attainment (each KPI capped at `cap`), scaled so that `floor` or less earns nothing and
    100% or more earns every point: a partner at 70% of plan is well short of 70% healthy."""
    k = now[now["attainment"].notna()].merge(defs[["kpi_id", "weight"]], on="kpi_id", how="left")
    k = k.assign(w=k["weight"].fillna(1.0), wa=k["weight"].fillna(1.0) * k["attainment"].clip(upper=cap))
    g = k.groupby("partner_id").agg(w=("w", "sum"), wa=("wa", "sum"), n=("kpi_id", "size"))
    mean = g["wa"] / g["w"].where(g["w"] > 0)
    g["value"] = ((mean - floor) / (1.0 - floor)).clip(lower=0.0, upper=1.0)
    g["detail"] = [f"weighted attainment {pct(m) if m == m else 'n/a'} over {int(n)} KPI{'s' if n != 1 else ''} "
                   f"(each capped at {cap * 100:.0f}%): no points at {floor * 100:.0f}% or less, "
                   f"full points from 100%" for m, n in zip(mean, g["n"])]
    return g[["value", "detail"]]


def _delivery_component(delivery: pd.DataFrame, parties: tuple[str, ...], who: str) -> pd.DataFrame:
    d = delivery[delivery["party"].isin(parties)]
    g = d.groupby("partner_id")[["done_on_time", "done_late", "overdue"]].sum()
    due = g.sum(axis=1)
    g["value"] = g["done_on_time"] / due.where(due > 0)
    g["detail"] = [f"{who} delivered {int(a)} of {int(n)} commitments due on time (late {int(late)}, overdue {int(o)}; "
                   f"joint ones count for both sides)" for a, n, late, o in zip(g["done_on_time"], due, g["done_late"], g["overdue"])]
    return g[["value", "detail"]]


def _data_component(now: pd.DataFrame, partner_ids: list[str], problems: list[Problem], config: Config) -> pd.DataFrame:
    tol = config["kpi.discrepancy_tolerance"]
    penalty = config["health.data_error_penalty"]
    t = now.assign(expected=now["target"].notna(), reported=now["target"].notna() & now["actual"].notna(),
                   has=now["actual"].notna(),
                   bad=now["actual"].notna() & ((now["discrepancy"] > tol) | now["conflict"].astype(bool)))
    g = t.groupby("partner_id")[["expected", "reported", "has", "bad"]].sum().reindex(partner_ids, fill_value=0)
    errors = pd.Series([p.partner_id for p in problems if p.severity == ERROR], dtype="str").value_counts()
    g["errors"] = errors.reindex(g.index, fill_value=0)
    reported = (g["reported"] / g["expected"].where(g["expected"] > 0)).fillna(1.0)
    consistent = (1 - g["bad"] / g["has"].where(g["has"] > 0)).fillna(1.0)
    clean = (1 - penalty * g["errors"]).clip(lower=0)
    g["value"] = (reported + consistent + clean) / 3
    g["detail"] = [f"mean of reported {int(r)}/{int(e)} KPIs with a target, consistent {int(h - b)}/{int(h)} "
                   f"(no discrepancy or conflict), clean {pct(c)} ({int(n)} excluded row{'s' if n != 1 else ''}, "
                   f"-{penalty * 100:.0f}% each)" for r, e, h, b, c, n in
                   zip(g["reported"], g["expected"], g["has"], g["bad"], clean, g["errors"])]
    return g[["value", "detail"]]


def _largest_remainder(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole points per component (rows: partners) that sum exactly to the rounded total."""
    raw = np.nan_to_num(raw)
    total = np.floor(raw.sum(axis=1) + 0.5)
    base = np.floor(raw + 1e-9)
    short = (total - base.sum(axis=1)).astype(int)
    order = np.argsort(-(raw - base), axis=1, kind="stable")
    ranks = np.argsort(order, axis=1, kind="stable")
    base += (ranks < short[:, None]).astype(float)
    return base.astype(int), total.astype(int)


def health_scores(quarter: Quarter, config: Config, partner_ids: list[str], kpi_quarterly: pd.DataFrame,
                  kpi_defs: pd.DataFrame, delivery: pd.DataFrame, problems: list[Problem]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(health, health_breakdown) for ``partner_ids``; previous_score and change_reasons are filled by
    `change_reasons`."""
    kq = kpi_quarterly
    now = kq[(kq["qindex"] == quarter.index) & kq["partner_id"].isin(partner_ids)]
    parts = {"kpi_attainment": _kpi_component(now, kpi_defs, config["health.attainment_cap"],
                                                     config["health.attainment_floor"]),
             "our_delivery": _delivery_component(delivery, ("us", "joint"), "we"),
             "partner_delivery": _delivery_component(delivery, ("partner", "joint"), "the partner"),
             "data_quality": _data_component(now, partner_ids, problems, config)}
    value = np.column_stack([parts[c]["value"].reindex(partner_ids).to_numpy(dtype=float) for c in COMPONENTS])
    weight = np.array([config[WEIGHT_KEYS[c]] for c in COMPONENTS], dtype=float)
    active = ~np.isnan(value)
    eff = np.where(active, weight, 0.0)
    eff = eff / np.where(eff.sum(axis=1, keepdims=True) > 0, eff.sum(axis=1, keepdims=True), 1.0)
    raw = eff * 100 * np.nan_to_num(value)
    points, score = _largest_remainder(raw)
    green, amber = config["health.green"], config["health.amber"]
    health = pd.DataFrame({"partner_id": partner_ids, "quarter": quarter.label, "score": score,
                           "status": np.where(score >= green, "green", np.where(score >= amber, "amber", "red")),
                           "previous_score": np.nan, "change_reasons": ""})
    rows = []
    for j, comp in enumerate(COMPONENTS):
        detail = parts[comp]["detail"].reindex(partner_ids)
        text = np.where(active[:, j], detail.astype(object).fillna("").to_numpy(dtype=object),
                        "nothing to measure this quarter: its weight went to the other components")
        rows.append(pd.DataFrame({"partner_id": partner_ids, "component": comp, "weight": eff[:, j],
                                  "points": points[:, j], "max_points": eff[:, j] * 100, "detail": text, "value": value[:, j]}))
    breakdown = pd.concat(rows, ignore_index=True)
    order = {c: i for i, c in enumerate(COMPONENTS)}
    breakdown = breakdown.sort_values(["partner_id", "component"], key=lambda s: s.map(order) if s.name == "component" else s,
                                      kind="stable").reset_index(drop=True)
    return health, breakdown


def change_reasons(health: pd.DataFrame, breakdown: pd.DataFrame, previous: pd.DataFrame, previous_parts: pd.DataFrame,
                   kpi_quarterly: pd.DataFrame, kpi_defs: pd.DataFrame, commitments: pd.DataFrame,
                   quarter: Quarter) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Fill previous_score and change_reasons from what history recorded; returns the health frame and,
    per partner, the sentences (first the headline, then each measured reason). Only measured changes
    are named: a component whose points moved by one or more, the KPI whose attainment moved most,
    and the commitments that slipped or were dropped this quarter."""
    health = health.copy()
    if previous is None or not len(previous):
        return health, {}
    health["previous_score"] = health["partner_id"].map(previous.set_index("partner_id")["score"]).astype(float)
    reasons: dict[str, list[str]] = {}
    if len(previous_parts):
        m = breakdown.merge(previous_parts, on=["partner_id", "component"], suffixes=("", "_prev"))
        moved = (m["value"].notna() & m["value_prev"].notna() & ((m["points"] - m["points_prev"]).abs() >= 1)
                 & ((m["value"] * 100).round() != (m["value_prev"] * 100).round()))
        for pid, comp, v0, v1 in zip(*(m.loc[moved, c] for c in ("partner_id", "component", "value_prev", "value"))):
            reasons.setdefault(pid, []).append(f"{LABELS[comp]} {'rose' if v1 > v0 else 'fell'} from {pct(v0)} to {pct(v1)}")
    for pid, text in _kpi_moves(kpi_quarterly, kpi_defs, quarter).items():
        reasons.setdefault(pid, []).append(text)
    cs = commitments[commitments["slipped_now"].astype(bool) | commitments["is_dropped"].astype(bool)]
    events = cs.groupby(["partner_id", "party"]).agg(slipped=("slipped_now", "sum"), dropped=("is_dropped", "sum")).reset_index()
    whose = {"partner": "of your commitments", "us": "of our commitments", "joint": "joint commitments"}
    for pid, party, n_s, n_d in zip(events["partner_id"], events["party"], events["slipped"], events["dropped"]):
        if n_s:
            reasons.setdefault(pid, []).append(f"{count_words(n_s)} {whose[party]} slipped")
        if n_d:
            verb = "were dropped" if n_d > 1 or party == "joint" else "was dropped"
            reasons.setdefault(pid, []).append(f"{count_words(n_d)} {whose[party]} {verb}")
    changes: dict[str, list[str]] = {}
    texts = []
    for pid, score, before in zip(health["partner_id"], health["score"], health["previous_score"]):
        if pd.isna(before):
            texts.append("")
            continue
        head = f"Health {int(before)} to {int(score)}" if int(before) != int(score) else f"Health unchanged at {int(score)}"
        own = reasons.get(pid, [])
        texts.append(head + (": " + "; ".join(own) if own else ""))
        changes[pid] = [head] + own
    health["change_reasons"] = texts
    return health, changes


def _kpi_moves(kq: pd.DataFrame, defs: pd.DataFrame, quarter: Quarter) -> dict[str, str]:
    """Per partner, the KPI whose (weighted) attainment moved most since the previous quarter, when it
    moved by five points or more."""
    now = kq[kq["qindex"] == quarter.index][["partner_id", "kpi_id", "attainment"]]
    before = kq[kq["qindex"] == quarter.index - 1][["partner_id", "kpi_id", "attainment"]]
    m = now.merge(before, on=["partner_id", "kpi_id"], suffixes=("", "_prev")).dropna()
    if not len(m):
        return {}
    m = m.merge(defs[["kpi_id", "kpi_name", "weight"]], on="kpi_id", how="left")
    m["move"] = (m["attainment"] - m["attainment_prev"]) * m["weight"].fillna(1.0)
    m = m[(m["attainment"] - m["attainment_prev"]).abs() >= 0.05]
    top = m.loc[m["move"].abs().groupby(m["partner_id"]).idxmax()] if len(m) else m
    return {r.partner_id: f"{r.kpi_name} attainment {'rose' if r.attainment > r.attainment_prev else 'fell'} "
                          f"from {pct(r.attainment_prev)} to {pct(r.attainment)}" for r in top.itertuples()}
