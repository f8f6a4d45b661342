"""The health score (0-100, red/amber/green) with its breakdown and the reasons it moved.

score = sum of four components' points; each component earns ``share x 100 x value`` where value is
the measured ratio (0..1) and share its configured weight, renormalised over the components that had
something to measure. Points are whole numbers that sum exactly to the score (largest remainder).
See docs/analysis.md for the formula in words.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.analyse.flags import count_words, pct
from pipeline.analyse.kpis import beyond_tolerance
from pipeline.core.periods import Quarter
from pipeline.core.problems import ERROR, Problem
from pipeline.core.schema import DISCREPANCY
from pipeline.core.settings import Config

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
                   f"joint ones count for both sides)"
                   for a, n, late, o in zip(g["done_on_time"], due, g["done_late"], g["overdue"])]
    return g[["value", "detail"]]


def _data_component(now: pd.DataFrame, partner_ids: list[str], problems: list[Problem], config: Config) -> pd.DataFrame:
    tol = config.kpi.discrepancy_tolerance
    penalty = config.health.data_error_penalty
    t = now.assign(expected=now["target"].notna(), reported=now["target"].notna() & now["actual"].notna(),
                   has=now["actual"].notna(),
                   bad=now["actual"].notna() & (beyond_tolerance(now[DISCREPANCY], tol) | now["conflict"].astype(bool)))
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
    parts = {"kpi_attainment": _kpi_component(now, kpi_defs, config.health.attainment_cap,
                                                     config.health.attainment_floor),
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
    green, amber = config.health.green, config.health.amber
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


STATUS_WORDS = {"on_track": "on track", "at_risk": "at risk", "off_track": "off track", "missing": "not reported",
                "no_target": "without a target"}
COMPONENT_NAMES = {"kpi_attainment": "KPI attainment", "our_delivery": "our on-time delivery",
                   "partner_delivery": "your on-time delivery", "data_quality": "data quality"}
WHOSE = {"partner": ("of your commitments", "of your commitments"), "us": ("of our commitments", "of our commitments"),
         "joint": ("joint commitment", "joint commitments")}


def change_reasons(health: pd.DataFrame, breakdown: pd.DataFrame, previous: pd.DataFrame, previous_parts: pd.DataFrame,
                   kpi_quarterly: pd.DataFrame, kpi_defs: pd.DataFrame, commitments: pd.DataFrame,
                   quarter: Quarter) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Fill previous_score and change_reasons from what history recorded; returns the health frame and,
    per partner, plain sentences with their numbers: first the score's move, then each component whose
    points moved by one or more, each KPI whose status changed (or, failing that, the KPI whose
    attainment moved most, by five points or more), and the commitments that slipped or were dropped
    this quarter. Only measured changes are named; nothing is said without an earlier run."""
    health = health.copy()
    if previous is None or not len(previous):
        return health, {}
    prev = previous.set_index("partner_id")
    health["previous_score"] = health["partner_id"].map(prev["score"]).astype(float)
    reasons: dict[str, list[str]] = {}
    q0 = quarter.previous().label
    if previous_parts is not None and len(previous_parts):
        m = breakdown.merge(previous_parts, on=["partner_id", "component"], suffixes=("", "_prev"))
        known = m["value"].notna()
        moved = known & m["value_prev"].notna() & ((m["points"] - m["points_prev"]).abs() >= 1) & (
            (m["value"] * 100).round() != (m["value_prev"] * 100).round())
        new = known & m["value_prev"].isna() & m["points_prev"].notna()
        for r in m[moved | new].itertuples():
            name = COMPONENT_NAMES[r.component]
            why = _short_detail(r.detail)
            if pd.isna(r.value_prev):
                text = (f"{name[0].upper()}{name[1:]} now counts: {int(r.points)} of {r.max_points:.0f} points "
                        f"({why}); nothing was due in {q0}.")
            elif round(r.max_points) == round(r.max_points_prev):
                way = "up" if r.points > r.points_prev else "down"
                text = (f"{name[0].upper()}{name[1:]} earns {int(r.points)} of {r.max_points:.0f} points, "
                        f"{way} from {int(r.points_prev)} ({why}).")
            else:
                text = (f"{name[0].upper()}{name[1:]} earns {int(r.points)} of {r.max_points:.0f} points "
                        f"({int(r.points_prev)} of {r.max_points_prev:.0f} in {q0}; {why}).")
            reasons.setdefault(r.partner_id, []).append(text)
    for pid, texts in _kpi_moves(kpi_quarterly, kpi_defs, quarter).items():
        reasons.setdefault(pid, []).extend(texts)
    for pid, texts in _commitment_moves(commitments).items():
        reasons.setdefault(pid, []).extend(texts)
    changes: dict[str, list[str]] = {}
    texts = []
    for pid, score, before in zip(health["partner_id"], health["score"], health["previous_score"]):
        if pd.isna(before):
            texts.append("")
            continue
        was = str(prev.at[pid, "status"]) if "status" in prev and pid in prev.index else ""
        now = str(health.loc[health["partner_id"] == pid, "status"].iloc[0])
        q0 = str(prev.at[pid, "quarter"]) if "quarter" in prev and pid in prev.index else "last quarter"
        if int(before) == int(score):
            head = f"Health held at {int(score)} since {q0} ({now})."
        else:
            verb = "rose" if score > before else "fell"
            band = f"still {now}" if was == now or not was else f"{was} to {now}"
            head = f"Health {verb} from {int(before)} in {q0} to {int(score)} ({band})."
        changes[pid] = [head] + reasons.get(pid, [])
        texts.append(" ".join(changes[pid]))
    health["change_reasons"] = texts
    return health, changes


def _short_detail(detail: object) -> str:
    """The measured part of a breakdown detail: "weighted attainment 71% over 6 KPIs"."""
    import re

    text = str(detail or "").split(":")[0].split(" (")[0]
    m = re.match(r"(we|the partner) delivered (\d+) of (\d+) commitments due on time", text)
    if m:
        whose = "our" if m.group(1) == "we" else "your"
        return f"{m.group(2)} of {m.group(3)} of {whose} and the joint commitments due were delivered on time"
    return text


_RANK = {"off_track": 0, "missing": 0, "at_risk": 1, "on_track": 2}


def _kpi_moves(kq: pd.DataFrame, defs: pd.DataFrame, quarter: Quarter) -> dict[str, list[str]]:
    """Per partner, sentences on the KPIs whose status changed since the previous quarter (one sentence per
    kind of change); when none changed, the KPI whose (weighted) attainment moved most, by five points or more."""
    from pipeline.analyse.flags import fmt_value

    cols = ["partner_id", "kpi_id", "attainment", "status", "actual", "target"]
    now = kq[kq["qindex"] == quarter.index][cols]
    before = kq[kq["qindex"] == quarter.index - 1][cols]
    m = now.merge(before, on=["partner_id", "kpi_id"], suffixes=("", "_prev"))
    if not len(m):
        return {}
    m = m.merge(defs[["kpi_id", "kpi_name", "unit", "weight", "direction"]], on="kpi_id", how="left")
    q0 = quarter.previous().label
    out: dict[str, list[str]] = {}

    def figures(r, suffix: str = "") -> str:
        a, t, att = getattr(r, "actual" + suffix), getattr(r, "target" + suffix), getattr(r, "attainment" + suffix)
        if pd.isna(a):
            return "no figure"
        s = fmt_value(a, r.unit) + ("" if pd.isna(t) else f" against a target of {fmt_value(t, r.unit)}")
        return s + ("" if pd.isna(att) else f" ({pct(att)} {'attainment' if r.direction == 'lower' else 'of target'})")

    skip = ["no_target"]
    changed = m[(m["status"] != m["status_prev"]) & ~m["status"].isin(skip) & ~m["status_prev"].isin(skip)]
    for (pid, s0, s1), g in changed.groupby(["partner_id", "status_prev", "status"], sort=False):
        rows = list(g.itertuples())
        if s1 == "missing":
            names = "; ".join(f"{r.kpi_name}, which was {figures(r, '_prev')} in {q0}" for r in rows)
            out.setdefault(pid, []).append(f"No figure this quarter for {names}.")
            continue
        verb = "improved" if _RANK.get(s1, 0) > _RANK.get(s0, 0) else "slipped"
        change = f"from {STATUS_WORDS.get(s0, s0)} to {STATUS_WORDS.get(s1, s1)}"
        if len(rows) == 1:
            r = rows[0]
            out.setdefault(pid, []).append(f"{r.kpi_name} {verb} {change}: {figures(r)} now, "
                                           f"{'no figure' if pd.isna(r.actual_prev) else pct(r.attainment_prev)} in {q0}.")
        else:
            each = ", ".join(f"{r.kpi_name} {pct(r.attainment_prev)} to {pct(r.attainment)}" for r in rows)
            out.setdefault(pid, []).append(f"{count_words(len(rows)).capitalize()} KPIs {verb} {change} "
                                           f"(attainment in {q0} to now): {each}.")
    m = m.dropna(subset=["attainment", "attainment_prev"])
    m = m[~m["partner_id"].isin(out) & ((m["attainment"] - m["attainment_prev"]).abs() >= 0.05)]
    if len(m):
        m = m.assign(move=((m["attainment"] - m["attainment_prev"]) * m["weight"].fillna(1.0)).abs())
        for r in m.loc[m.groupby("partner_id")["move"].idxmax()].itertuples():
            verb = "rose" if r.attainment > r.attainment_prev else "fell"
            out.setdefault(r.partner_id, []).append(
                f"{r.kpi_name} attainment {verb} from {pct(r.attainment_prev)} in {q0} to {pct(r.attainment)} "
                f"({fmt_value(r.actual_prev, r.unit)} against {fmt_value(r.target_prev, r.unit)} then, "
                f"{fmt_value(r.actual, r.unit)} against {fmt_value(r.target, r.unit)} now), "
                f"still {STATUS_WORDS.get(r.status, r.status)}.")
    return out


def _commitment_moves(cs: pd.DataFrame) -> dict[str, list[str]]:
    """Per partner and party: the commitments that slipped or were dropped this quarter, named."""
    from pipeline.analyse.flags import day

    out: dict[str, list[str]] = {}
    for (pid, party), g in cs[cs["slipped_now"].astype(bool) | cs["is_dropped"].astype(bool)].groupby(
            ["partner_id", "party"], sort=True):
        slipped = g[g["slipped_now"].astype(bool)]
        dropped = g[g["is_dropped"].astype(bool)]
        if len(slipped):
            n = len(slipped)
            what = WHOSE.get(party, WHOSE["joint"])[n > 1]
            moves = ", ".join(f"{r.commitment_id} from {day(r.previous_due_date)} to {day(r.due_date)}"
                              for r in slipped.itertuples())
            out.setdefault(pid, []).append(f"{count_words(n).capitalize()} {what} slipped: {moves}.")
        if len(dropped):
            n = len(dropped)
            what = WHOSE.get(party, WHOSE["joint"])[n > 1]
            verbs = "were open last quarter and are" if n > 1 else "was open last quarter and is"
            ids = ", ".join(dropped["commitment_id"].astype("str"))
            out.setdefault(pid, []).append(f"{count_words(n).capitalize()} {what} {verbs} no longer in the log: {ids}.")
    return out


def score_explanation(health: dict, breakdown: pd.DataFrame) -> str:
    """One sentence on where the score's missing points are: "56 of 100: 29 points short on KPI
    attainment (...), 15 on your on-time delivery (...)". Empty when the score is full or unknown."""
    score = health.get("score")
    if score is None or pd.isna(score):
        return ""
    b = breakdown.assign(short=breakdown["max_points"].round().astype(int) - breakdown["points"].astype(int))
    b = b[b["short"] > 0].sort_values("short", ascending=False, kind="stable")
    if not len(b):
        return f"The score is {int(score)} of 100: every component earned its full points."
    parts = [f"{int(r.short)} on {COMPONENT_NAMES.get(r.component, r.component)} ({_short_detail(r.detail)})"
             for r in b.itertuples()]
    return f"The score is {int(score)} of 100; the points it misses: " + ", ".join(parts) + "."
