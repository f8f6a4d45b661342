"""The programme as a whole, for the alliance director: the portfolio's first page and what follows it.

`programme` builds a `frames.Programme` from the analysed quarter and the history snapshot: the money KPIs
summed over partners in the reporting currency (every figure already converted with the FX rates when it
was read) against their targets, with the change on last quarter and a year ago; the partners by band and
tier; what changed since last quarter in sentences; the decisions to take; then health over time
(`timeline`) and who owes what (`accountability`). Pure: frames in, frames out; every verdict is made here.

The totals: the actual is the sum of the partners' figures that count for attainment (`kpi_quarterly.actual`,
a partial quarter left out as it is for attainment), the target the sum of the partners' targets, and the
attainment their ratio (target / actual for a KPI where lower is better), banded like a partner's KPI.
A partner with a target and no figure counts as nothing: the total says how many reported.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.analyse import accountability, timeline
from pipeline.analyse.kpis import _status as attainment_band
from pipeline.core.frames import Programme, is_missing
from pipeline.core.periods import Quarter

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.analyse.history import HistorySnapshot
    from pipeline.core.frames import Analysis

MONEY_UNIT = "currency"
NAMES_SHOWN = 3          # partners named in one sentence; the rest are counted ("and 12 more")
DECISIONS = 5            # the decisions page 1 lists at most
STATES = ("green", "amber", "red", "paused", "not_scored")
NO_TIER = "(no tier)"
ALL_TIERS = "All partners"


def names_list(names: list[str], limit: int = NAMES_SHOWN) -> str:
    """'A, B and C'; past `limit` names, 'A, B, C, D and 12 more'."""
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""


def money_totals(kq: pd.DataFrame, defs: pd.DataFrame, quarter: Quarter, config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(money, money_rows): per currency KPI the programme's totals this quarter, last quarter and a year
    ago, and the partner rows they add up (this quarter's, for the reader who checks)."""
    money = defs[defs["unit"] == MONEY_UNIT]
    prev, year = quarter.previous().label, quarter.year_ago().label
    k = kq[kq["kpi_id"].isin(set(money["kpi_id"])) & kq["quarter"].isin({quarter.label, prev, year})]
    k = k.drop_duplicates(["partner_id", "kpi_id", "quarter"], keep="last")
    counted = k["actual"].where(~k["partial"].astype(bool))
    k = k.assign(counted=counted)
    sums = k.groupby(["kpi_id", "quarter"]).agg(actual=("counted", lambda s: s.sum(min_count=1)),
                                                 target=("target", lambda s: s.sum(min_count=1)),
                                                 reported=("counted", "count"), targeted=("target", "count"))
    rows = []
    for d in money.to_dict("records"):
        kid = d["kpi_id"]

        def get(q: str, col: str, kid: str = kid) -> float:
            return float(sums[col].get((kid, q), np.nan)) if (kid, q) in sums.index else np.nan

        actual, target = get(quarter.label, "actual"), get(quarter.label, "target")
        if is_missing(actual) and is_missing(target):
            continue
        lower = str(d.get("direction")) == "lower"
        att = np.nan if is_missing(actual) or is_missing(target) or (target if not lower else actual) == 0 else \
            (target / actual if lower else actual / target)
        last, ago = get(prev, "actual"), get(year, "actual")
        rows.append({"kpi_id": kid, "kpi_name": d.get("kpi_name") or kid, "direction": d.get("direction"),
                     "actual": actual, "target": target, "attainment": att,
                     "reported": int(get(quarter.label, "reported") or 0),
                     "targeted": int(get(quarter.label, "targeted") or 0),
                     "previous_quarter": prev, "previous_actual": last,
                     "change_qoq": (actual - last) / abs(last) if not is_missing(last) and last and not is_missing(actual)
                     else np.nan,
                     "year_ago_quarter": year, "year_ago_actual": ago,
                     "change_yoy": (actual - ago) / abs(ago) if not is_missing(ago) and ago and not is_missing(actual)
                     else np.nan})
    out = pd.DataFrame(rows, columns=["kpi_id", "kpi_name", "direction", "actual", "target", "attainment", "reported",
                                      "targeted", "previous_quarter", "previous_actual", "change_qoq",
                                      "year_ago_quarter", "year_ago_actual", "change_yoy"])
    band = out.assign(partial=False)
    out.insert(6, "status", attainment_band(band, config) if len(out) else [])
    now = k[k["quarter"] == quarter.label]
    return out, now[["partner_id", "kpi_id", "quarter", "counted", "target"]].rename(columns={"counted": "actual"}) \
        .reset_index(drop=True)


def bands_by_tier(health: pd.DataFrame, partners: pd.DataFrame) -> pd.DataFrame:
    """Partners reviewed by tier (registry order of first appearance) and band, with a last row for all."""
    tiers = dict(zip(partners["partner_id"].astype(str), partners["tier"].fillna("").astype(str)))
    h = pd.DataFrame({"tier": [tiers.get(str(p), "") or NO_TIER for p in health["partner_id"]],
                      "status": health["status"].astype(str).to_numpy()})
    order = list(dict.fromkeys(t or NO_TIER for t in partners["tier"].fillna("").astype(str)))
    counts = pd.crosstab(h["tier"], h["status"]).reindex(columns=list(STATES), fill_value=0)
    counts = counts.reindex([t for t in order if t in counts.index] + sorted(set(counts.index) - set(order)))
    counts.loc[ALL_TIERS] = counts.sum()
    counts["total"] = counts.sum(axis=1)
    return counts.astype(int).rename_axis("tier").reset_index()


def headline(health: pd.DataFrame, late: pd.DataFrame, disagreements: pd.DataFrame | None,
             missing: pd.DataFrame, previous_run: Quarter | None) -> dict:
    """The numbers at the top of page 1 (see `Programme.headline`)."""
    status = health["status"].astype(str)
    now = pd.to_numeric(health["score"], errors="coerce")
    before = pd.to_numeric(health["previous_score"], errors="coerce") if "previous_score" in health else now * np.nan
    both = now.notna() & before.notna()
    return {"partners": len(health), **{s: int((status == s).sum()) for s in STATES},
            "previous": previous_run.label if previous_run is not None else "",
            "average_score": float(now.mean()) if now.notna().any() else np.nan,
            "average_change": float(now[both].mean() - before[both].mean()) if both.any() else np.nan,
            "late": len(late), "overdue": int((late["days_late"] > 0).sum()),
            "disputed": 0 if disagreements is None else len(disagreements),
            "not_returned": int((missing["request"] == "not returned").sum())}


def change_sentences(health: pd.DataFrame, previous: dict[str, str], previous_run: Quarter | None,
                     names: dict[str, str], ended: list[str]) -> list[str]:
    """What changed in the programme since last quarter, in sentences: the average score, the three biggest
    falls and rises (a point or more), who turned red, who recovered from red, who went from amber to
    green, who is new and who is no longer reviewed."""
    if previous_run is None:
        return ["No earlier quarter is recorded in the history, so there is nothing to compare with yet; "
                "next quarter this page says what changed."]
    last = previous_run.label
    h = health.assign(partner_id=health["partner_id"].astype(str))
    out = []
    now_scores = pd.to_numeric(h["score"], errors="coerce")
    before = pd.to_numeric(h["previous_score"], errors="coerce")
    both = now_scores.notna() & before.notna()
    if both.any():
        d = float(now_scores[both].mean() - before[both].mean())
        out.append(f"The average health of the {int(both.sum())} partners scored in both quarters is "
                   f"{now_scores[both].mean():.0f}, " + (f"{'up' if d > 0 else 'down'} {abs(d):.0f} on {last}."
                                                          if round(d) else f"as in {last}."))

    def named(ids: list[str]) -> str:
        return names_list([names.get(p, p) for p in ids])

    was = h["partner_id"].map(previous)
    turned_red = h.loc[(h["status"] == "red") & was.notna() & (was != "red"), "partner_id"].tolist()
    recovered = h.loc[(was == "red") & h["status"].isin(["green", "amber"]), "partner_id"].tolist()
    to_green = h.loc[(was == "amber") & (h["status"] == "green"), "partner_id"].tolist()
    new = h.loc[was.isna(), "partner_id"].tolist()
    move = (now_scores - before)[both]
    for word, picked in (("Fell most", move[move <= -1].sort_values(kind="stable").head(3)),
                         ("Rose most", move[move >= 1].sort_values(ascending=False, kind="stable").head(3))):
        if len(picked):
            ids = h.loc[picked.index, "partner_id"].astype(str)
            out.append(f"{word}: " + ", ".join(f"{names.get(pid, pid)} ({before[i]:.0f} to {now_scores[i]:.0f})"
                                               for i, pid in ids.items()) + ".")
    if turned_red:
        out.append(f"Turned red since {last}: {named(turned_red)}.")
    if recovered:
        out.append(f"Recovered from red: {named(recovered)}.")
    if to_green:
        out.append(f"Back to healthy from needs attention: {named(to_green)}.")
    if new:
        out.append(f"New in the review this quarter: {named(new)}.")
    if ended:
        out.append(f"No longer reviewed (ended, or no figures this quarter): {named(ended)}.")
    if len(out) == (1 if both.any() else 0):
        out.append(f"No partner changed band since {last}.")
    return out


def decisions(health: pd.DataFrame, previous: dict[str, str], late: pd.DataFrame, disagreements: pd.DataFrame | None,
              missing: pd.DataFrame, unowned: pd.DataFrame, names: dict[str, str], kpi_names: dict[str, str]) \
        -> pd.DataFrame:
    """The decisions the director should take, most pressing first, at most `DECISIONS`: partners red two
    quarters running, our most overdue commitments, figures still disputed, partners that turned red, data
    requests not returned, input problems no review shows. Each names its partners (`partners`: ids)."""
    h = health.assign(partner_id=health["partner_id"].astype(str))
    was = h["partner_id"].map(previous)
    out: list[tuple[str, str, list[str]]] = []

    def named(ids: list[str]) -> str:
        return names_list([names.get(p, p) for p in ids])

    red_twice = h.loc[(h["status"] == "red") & (was == "red"), "partner_id"].tolist()
    if red_twice:
        out.append(("red_twice", f"Decide how to turn around or re-plan {named(red_twice)}: red two quarters "
                                 "running.", red_twice))
    overdue = late[late["days_late"] > 0].sort_values(["days_late", "partner_id"], ascending=[False, True],
                                                      kind="stable").head(3)
    if len(overdue):
        items = [f"{r['commitment_id']} for {names.get(r['partner_id'], r['partner_id'])} ({r['owner']}, "
                 f"{r['days_late']} days late)" for r in overdue.to_dict("records")]
        n = int((late["days_late"] > 0).sum())
        out.append(("our_overdue", f"Get our most overdue commitments delivered: {'; '.join(items)}"
                                   + (f" ({n} overdue in all)." if n > len(items) else "."),
                    list(dict.fromkeys(overdue["partner_id"]))))
    if disagreements is not None and len(disagreements):
        d = disagreements.sort_values(["quarters", "discrepancy"], ascending=[False, False], kind="stable")
        top = d.head(3)
        items = [f"{names.get(str(r['partner_id']), r['partner_id'])} on {kpi_names.get(r['kpi_id'], r['kpi_id'])} "
                 f"({float(r['discrepancy']):.0%} apart since {r['since']})" for r in top.to_dict("records")]
        out.append(("disagreements", f"Agree the disputed figures before the meetings: {'; '.join(items)}"
                                     + (f" ({len(d)} open in all)." if len(d) > len(items) else "."),
                    list(dict.fromkeys(top["partner_id"].astype(str)))))
    turned = h.loc[(h["status"] == "red") & was.notna() & (was != "red"), "partner_id"].tolist()
    if turned:
        out.append(("turned_red", f"Review the plan with {named(turned)}: turned red this quarter.", turned))
    chase = missing.loc[missing["request"] == "not returned", "partner_id"].tolist()
    if chase:
        out.append(("not_returned", f"Chase the data request{'s' if len(chase) != 1 else ''} {named(chase)} did not "
                                    "return.", chase))
    if len(unowned):
        n = len(unowned)
        what = f"the {n} input problems" if n != 1 else "the input problem"
        out.append(("input_problems", f"Have {what} no partner review shows fixed at the source (listed under Data "
                                      "we are missing).", []))
    return pd.DataFrame(out[:DECISIONS], columns=["kind", "sentence", "partners"])


def programme(a: Analysis, history: HistorySnapshot | None) -> Programme:
    """The programme as a whole for the analysed quarter `a` (see the module's docstring)."""
    rec = a.reconciled
    partners = rec.partners
    names = dict(zip(partners["partner_id"].astype(str), partners["partner_name"].astype(str)))
    defs = a.kpi_definitions if a.kpi_definitions is not None else rec.kpis
    kpi_names = dict(zip(defs["kpi_id"].astype(str), defs["kpi_name"].astype(str)))
    runs = history.health_runs if history is not None else None
    prev_run = history.previous_run if history is not None else None
    previous: dict[str, str] = {}
    if runs is not None and prev_run is not None:
        last = runs[runs["qindex"] == prev_run.index]
        previous = dict(zip(last["partner_id"].astype(str), last["status"].astype(str)))
    reviewed = set(a.health["partner_id"].astype(str))
    ended = [p for p in previous if p not in reviewed]
    money, money_rows = money_totals(a.kpi_quarterly, defs, a.quarter, rec.config)
    late = accountability.late_commitments(a.commitment_status, partners)
    missing = accountability.missing_data(a.kpi_quarterly, a.quarter.label, list(a.reviewed), a.returns,
                                          a.disagreements, kpi_names)
    unowned = accountability.unattributed(rec.problems.actionable)
    quarters, grid, grid_status = timeline.health_grid(a.health, partners, a.quarter.label, a.quarter.index, runs)
    return Programme(
        money=money, money_rows=money_rows, bands=bands_by_tier(a.health, partners),
        headline=headline(a.health, late, a.disagreements, missing, prev_run),
        changes=change_sentences(a.health, previous, prev_run, names, ended),
        decisions=decisions(a.health, previous, late, a.disagreements, missing, unowned, names, kpi_names),
        quarters=quarters, grid=grid, grid_status=grid_status, movers=timeline.movers(a.health, previous, a.changes),
        late=late, owners=accountability.owner_delivery(a.commitment_status, partners, late), missing=missing,
        unattributed=unowned,
        history=timeline.history_table(grid, quarters, grid_status, a.health_breakdown,
                                       history.component_runs if history is not None else None, a.quarter.index,
                                       a.kpi_quarterly))
