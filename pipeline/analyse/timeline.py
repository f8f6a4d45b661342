"""Health over time, for the portfolio and the analysts' export: every partner's score and band in every
quarter the history holds (and this one), the partners that moved since last quarter with the reason, and
the cross-quarter table of health, its components and KPI attainment per partner and quarter.

Pure: the history comes in as the snapshot's frames (`HistorySnapshot.health_runs`, `.component_runs`).
"""
from __future__ import annotations

import pandas as pd

from pipeline.core.frames import Programme, is_missing
from pipeline.core.periods import Quarter

COMPONENTS = ("results", "delivery", "relationship", "rule")  # health_breakdown's components, in the export's order


def _runs(health: pd.DataFrame, quarter_label: str, qindex: int, runs: pd.DataFrame | None) -> pd.DataFrame:
    """partner_id, qindex, quarter, score, status: the history's runs and this quarter's health."""
    now = pd.DataFrame({"partner_id": health["partner_id"].astype(str), "qindex": qindex, "quarter": quarter_label,
                        "score": pd.to_numeric(health["score"], errors="coerce").astype(float),
                        "status": health["status"].astype(str)})
    if runs is None or not len(runs):
        return now
    past = runs[runs["qindex"] < qindex].assign(partner_id=lambda d: d["partner_id"].astype(str))
    return pd.concat([past[list(now.columns)], now], ignore_index=True)


def health_grid(health: pd.DataFrame, partners: pd.DataFrame, quarter_label: str, qindex: int,
                runs: pd.DataFrame | None) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    """(quarters, grid, grid_status): one row per partner that has a health in any recorded quarter, one
    column per recorded quarter (oldest first, this one last) holding the score (NaN when not scored or not
    reviewed then), and the band of each cell. Sorted by today's score, best first (no score today last),
    ties by name."""
    all_runs = _runs(health, quarter_label, qindex, runs)
    order = all_runs.drop_duplicates("qindex").sort_values("qindex")
    quarters = order["quarter"].tolist()
    scores = all_runs.pivot_table(index="partner_id", columns="quarter", values="score", aggfunc="last", dropna=False)
    status = all_runs.pivot(index="partner_id", columns="quarter", values="status")
    ids = list(dict.fromkeys(all_runs["partner_id"]))
    names = dict(zip(partners["partner_id"].astype(str), partners["partner_name"].astype(str)))
    tiers = dict(zip(partners["partner_id"].astype(str), partners["tier"].fillna("").astype(str)))
    today = scores.reindex(index=ids, columns=[quarter_label]).iloc[:, 0] if ids else pd.Series(dtype=float)
    grid = pd.DataFrame({"partner_id": ids, "partner_name": [names.get(p, p) for p in ids],
                         "tier": [tiers.get(p, "") for p in ids], "score": today.to_numpy(),
                         "status": status.reindex(index=ids, columns=[quarter_label]).iloc[:, 0].fillna("").to_numpy()
                         if ids else []})
    grid["_sort"] = grid["score"].fillna(-1)
    grid = grid.sort_values(["_sort", "partner_name"], ascending=[False, True], kind="stable").drop(columns="_sort")
    ordered = grid["partner_id"].tolist()
    cells = scores.reindex(index=ordered, columns=quarters).reset_index(drop=True)
    grid = pd.concat([grid.reset_index(drop=True), cells], axis=1)
    bands = status.reindex(index=ordered, columns=quarters).fillna("").reset_index(drop=True)
    return quarters, grid, pd.concat([grid[["partner_id"]], bands], axis=1)


def movers(health: pd.DataFrame, previous_status: dict[str, str],
           changes: dict[str, list[str]]) -> pd.DataFrame:
    """The partners whose score or band changed since last quarter (none that stayed put), biggest move
    first, with the reason in words: `analyse.moves`' sentences after the first (which restates the move
    the table shows in numbers), or that one when it is all there is."""
    rows = []
    for r in health.to_dict("records"):
        pid = str(r["partner_id"])
        before, now = r.get("previous_score"), r.get("score")
        was, is_ = previous_status.get(pid, ""), str(r.get("status") or "")
        change = float("nan") if is_missing(before) or is_missing(now) else float(now) - float(before)  # type: ignore[arg-type]
        moved_score = not is_missing(change) and round(change) != 0
        moved_band = bool(was) and was != is_
        if not (moved_score or moved_band):
            continue
        said = changes.get(pid, [])
        rows.append({"partner_id": pid, "previous_score": before, "score": now, "change": change,
                     "previous_status": was, "status": is_, "reason": " ".join(said[1:]) or " ".join(said)})
    out = pd.DataFrame(rows, columns=list(Programme().movers.columns))
    out["_size"] = out["change"].abs().fillna(0)
    return out.sort_values("_size", ascending=False, kind="stable").drop(columns="_size").reset_index(drop=True)


def history_table(grid: pd.DataFrame, quarters: list[str], grid_status: pd.DataFrame, breakdown: pd.DataFrame,
                  component_runs: pd.DataFrame | None, qindex: int, kq: pd.DataFrame) -> pd.DataFrame:
    """The analysts' export: one row per partner and recorded quarter (long, so it pivots without SQL):
    partner_id, partner_name, tier, quarter, score, status, the points of each health component, then one
    ``attainment <kpi_id>`` column per KPI (NaN where there is none)."""
    if not len(grid):
        return Programme().history
    long = grid.drop(columns=["score", "status"]).melt(id_vars=["partner_id", "partner_name", "tier"],
                                                       value_vars=quarters, var_name="quarter", value_name="score")
    band = grid_status.melt(id_vars=["partner_id"], value_vars=quarters, var_name="quarter", value_name="status")
    long = long.merge(band, on=["partner_id", "quarter"], how="left")
    label = quarters[-1]
    now = breakdown.assign(quarter=label)[["partner_id", "quarter", "component", "points"]]
    parts = [now]
    if component_runs is not None and len(component_runs):
        past = component_runs[component_runs["qindex"] < qindex]
        parts.append(pd.DataFrame({"partner_id": past["partner_id"], "component": past["component"],
                                   "points": past["points"],
                                   "quarter": [Quarter.from_index(int(q)).label for q in past["qindex"]]}))
    comps = pd.concat(parts, ignore_index=True).assign(partner_id=lambda d: d["partner_id"].astype(str))
    comps = comps.pivot_table(index=["partner_id", "quarter"], columns="component", values="points", aggfunc="last")
    comps = comps.reindex(columns=[c for c in COMPONENTS if c in comps.columns] +
                          sorted(set(comps.columns) - set(COMPONENTS)))
    comps.columns = [f"{c} points" for c in comps.columns]
    long = long.merge(comps.reset_index(), on=["partner_id", "quarter"], how="left")
    k = kq[kq["quarter"].isin(quarters)].drop_duplicates(["partner_id", "kpi_id", "quarter"], keep="last")
    att = k.pivot(index=["partner_id", "quarter"], columns="kpi_id", values="attainment")
    att.columns = [f"attainment {c}" for c in att.columns]
    long = long.merge(att.reset_index().assign(partner_id=lambda d: d["partner_id"].astype(str)),
                      on=["partner_id", "quarter"], how="left")
    position = {q: i for i, q in enumerate(quarters)}
    order = {p: i for i, p in enumerate(grid["partner_id"])}
    long["_q"], long["_p"] = long["quarter"].map(position), long["partner_id"].map(order)
    return long.sort_values(["_p", "_q"], kind="stable").drop(columns=["_q", "_p"]).reset_index(drop=True)

