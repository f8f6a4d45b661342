"""The portfolio's health over time: every partner ranked by today's score with its score in each quarter the
history holds (a tinted cell per quarter), and the partners that moved since last quarter, with the reason.

The grid and the movers are `Analysis.programme.grid` / `.grid_status` / `.movers`; this module formats them.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from pipeline.render import layout as L
from pipeline.render.explain import HEALTH_STATES, health_word
from pipeline.render.layout import fmt_attainment, is_missing, para

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import Analysis

GRID_QUARTERS = 8  # quarters shown in the ranking; every recorded quarter is in reconciled.xlsx (sheet history)
MOVERS_KPI = 8     # KPI attainment moves listed


def ranked(a: Analysis, names: dict) -> pd.DataFrame:
    """The health frame with names, ranked best first (ties by name): the order of the analysis's grid."""
    h = a.health.copy()
    if h.empty:
        return h.assign(name=[])
    h["name"] = [str(names.get(p, p)) for p in h["partner_id"]]
    h["score_sort"] = pd.to_numeric(h["score"], errors="coerce").fillna(-1)
    return h.sort_values(["score_sort", "name"], ascending=[False, True], kind="stable").reset_index(drop=True)


def signed(x: float) -> str:
    return f"▲ {x:.0f}" if x > 0 else f"▼ {abs(x):.0f}" if x < 0 else "= 0"


def ranking(a: Analysis, order: pd.DataFrame) -> list:
    """Every partner reviewed, best first, with its score in each recorded quarter (tinted by band), this
    quarter's band and change, its gaps by severity and its KPIs on track."""
    w = L.content_width(landscape=True)
    out = [L.heading("Partners ranked by health")]
    if order.empty:
        return out + [para("No partner has a health score this quarter.", "note")]
    counts = order["status"].value_counts()
    states = [f"{counts.get(s, 0)} {HEALTH_STATES[s].lower()}" for s in HEALTH_STATES if counts.get(s, 0)]
    p = a.programme
    quarters = p.quarters[-GRID_QUARTERS:] or [a.quarter.label]
    earlier = len(p.quarters) - len(quarters) if p.quarters else 0
    out.append(para(", ".join([f"{counts.get(s, 0)} {s}" for s in ("green", "amber", "red")] + states) + ". "
                    + f"The score in each quarter the history holds ({quarters[0]} to {quarters[-1]}), shaded by band"
                    + (f"; {earlier} earlier quarter{'s are' if earlier != 1 else ' is'} in reconciled.xlsx (sheet "
                       "history)" if earlier else "") + "; — means not scored or not reviewed then."
                    + (" Partners without a score are listed last." if states else "")
                    + (" Partners in the history that are not reviewed this quarter close the list." if
                       set(p.grid["partner_id"]) - set(order["partner_id"]) else ""), "cell"))
    partners = {r["partner_id"]: r for r in L.records(a.reconciled.partners)}
    paused = [str(partners.get(r["partner_id"], {}).get("partner_name") or r["partner_id"])
              for r in L.records(order) if r.get("state") == "paused"]
    if paused:
        from pipeline.analyse.summary import PAUSE_RULE

        out.append(para(f"Paused: {', '.join(paused)}. While a partnership is paused it is not scored, and its "
                        + PAUSE_RULE, "cell"))
    gaps = a.findings if a.findings is not None else a.flags  # the gaps as the partner reviews count them
    severities = gaps.groupby(["partner_id", "severity"]).size().to_dict() if not gaps.empty else {}
    cur = a.kpi_quarterly[a.kpi_quarterly["quarter"] == a.quarter.label]
    on_track = (cur["status"] == "on_track").groupby(cur["partner_id"]).agg(["sum", "size"])
    kpis = dict(zip(on_track.index, zip(on_track["sum"].tolist(), on_track["size"].tolist())))
    grid = p.grid.reindex(columns=["partner_id", *quarters])
    scores_of = dict(zip(grid["partner_id"], grid[quarters].to_numpy().tolist()))
    bands = p.grid_status.reindex(columns=["partner_id", *quarters])
    bands_of = dict(zip(bands["partner_id"], bands[quarters].to_numpy().tolist()))
    # the lead adds the meeting brief's link as a column here (after "Partner"), from manifest's `brief`
    heads = ["#", "Partner", "Tier", "Internal owner", *[q.replace("-", "\n") for q in quarters], "Band",
             "vs last quarter", "High", "Medium", "Low", "KPIs on track"]
    nq = len(quarters)
    rows = [[L.cell(h, "head" if i < 4 else "headcs" if 4 <= i < 4 + nq else "headr") for i, h in enumerate(heads)]]
    tints = {t: L.color(c) for t, c in L.STATUS_TINTS.items()}
    extra: list[tuple] = [("FONT", (4 + nq - 1, 0), (4 + nq - 1, -1), L.FONT_BOLD, 7.5)]
    reviewed = L.records(order)
    seen = {r["partner_id"] for r in reviewed}
    gone = [{"partner_id": pid, "name": str(nm)} for pid, nm in zip(p.grid["partner_id"], p.grid["partner_name"])
            if pid not in seen]  # in the history, not reviewed this quarter (ended): their past scores, last
    for i, r in enumerate(reviewed + gone, start=1):
        pid = r["partner_id"]
        info = partners.get(pid, {})
        scores: list[Any] = scores_of.get(pid, [float("nan")] * nq)
        marks = [m if isinstance(m, str) else "" for m in bands_of.get(pid, [""] * nq)]
        head = [L.cell(str(i), "cell"), L.cell(r["name"], "cellb", limit=120),
                L.cell(info.get("tier", ""), "cell", limit=40), L.cell(info.get("internal_owner", ""), "cell", limit=60),
                *[L.cell("—" if is_missing(s) else f"{float(s):.0f}", "cellr") for s in scores]]
        if pid not in seen:
            rows.append(head + [L.cell("Not reviewed", "cellr")] + [L.cell("—", "cellr")] * 5)
        else:
            prev: Any = r.get("previous_score")  # a score, or missing
            change = "—" if is_missing(prev) or is_missing(r["score"]) else signed(float(r["score"]) - float(prev))
            done, n = kpis.get(pid, (0, 0))
            rows.append(head + [L.cell(health_word(r["status"]), "cellr"), L.cell(change, "cellr"),
                                *[L.cell(str(severities.get((pid, s), 0)), "cellr") for s in ("high", "medium", "low")],
                                L.cell(f"{int(done)} / {n}", "cellr")])
        j = 0
        while j < nq:  # one rectangle per run of quarters in the same band
            band = str(marks[j]) if str(marks[j]) in L.STATUS_TINTS and not is_missing(scores[j]) else "none"
            end = j
            while end + 1 < nq and (str(marks[end + 1]) if not is_missing(scores[end + 1]) else "none") == band:
                end += 1
            if band != "none":
                extra.append(("BACKGROUND", (4 + j, i), (4 + end, i), tints[band]))
            j = end + 1
    fixed = [8, 0, 20, 30] + [11.5] * nq + [26, 17, 11, 15, 11, 17]
    widths = [x * L.MM for x in fixed]
    widths[1] = w - sum(widths)
    return out + [L.table(rows, widths, zebra=False, extra=extra)]


def movers(a: Analysis, names: dict) -> list:
    """The partners whose score or band moved since last quarter (none that stayed put), with the reason;
    then the biggest moves in KPI attainment."""
    w = L.content_width(landscape=True)
    out = [L.heading("Movers since last quarter")]
    m = a.programme.movers
    if not len(m):
        out.append(para("No partner's health score or band moved since last quarter (or there is no earlier "
                        "quarter to compare with).", "note"))
    else:
        rows = [[L.cell(h, "head" if i != 1 else "headr") for i, h in enumerate(("Partner", "Score", "Band", "Why"))]]
        for r in L.records(m):
            before = "—" if is_missing(r["previous_score"]) else f"{float(r['previous_score']):.0f}"
            now = "—" if is_missing(r["score"]) else f"{float(r['score']):.0f}"
            move = "" if is_missing(r["change"]) else f" ({signed(float(r['change']))})"
            band = health_word(r["status"]) if not r["previous_status"] or r["previous_status"] == r["status"] else \
                f"{health_word(r['previous_status'])} → {health_word(r['status'])}"
            rows.append([L.cell(names.get(r["partner_id"], r["partner_id"]), "cellb", limit=80),
                         L.cell(f"{before} → {now}{move}", "cellr"), L.cell(band, "cell"),
                         L.cell(r["reason"], "cell", limit=900)])
        out.append(L.table(rows, [50 * L.MM, 28 * L.MM, 46 * L.MM, w - 124 * L.MM]))
    return out + _kpi_moves(a, names, w)


def _kpi_moves(a: Analysis, names: dict, w: float) -> list:
    kq = a.kpi_quarterly
    prev_q = a.quarter.previous().label
    kpis = a.reconciled.kpis
    kpi_names = dict(zip(kpis["kpi_id"], kpis["kpi_name"])) if not kpis.empty else {}
    now = kq[kq["quarter"] == a.quarter.label].set_index(["partner_id", "kpi_id"])["attainment"]
    before = kq[kq["quarter"] == prev_q].set_index(["partner_id", "kpi_id"])["attainment"]
    both = pd.DataFrame({"now": now[~now.index.duplicated(keep="last")],
                         "before": before[~before.index.duplicated(keep="last")]}).dropna()
    both["change"] = both["now"] - both["before"]
    both = both.reindex(both["change"].abs().sort_values(ascending=False, kind="stable").index).head(MOVERS_KPI)
    if not len(both):
        return []
    pairs = cast("Iterator[tuple[tuple[str, str], pd.Series]]", both.iterrows())  # indexed by (partner, kpi)
    rows = [[L.cell(x, "head" if i < 2 else "headr") for i, x in enumerate(("Partner", "KPI", prev_q, "Now", "Change"))]]
    rows += [[L.cell(names.get(pid, pid), "cell", limit=60), L.cell(kpi_names.get(kid, kid), "cell", limit=60),
              L.cell(fmt_attainment(r["before"], a.thresholds.edges), "cellr"),
              L.cell(fmt_attainment(r["now"], a.thresholds.edges), "cellr"),
              L.cell(signed(r["change"] * 100) + " pts", "cellr")] for (pid, kid), r in pairs]
    return [L.heading("The biggest moves in KPI attainment", 2),
            L.table(rows, [60 * L.MM, 70 * L.MM, 24 * L.MM, 24 * L.MM, 24 * L.MM])]
