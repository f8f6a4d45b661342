"""What would move the health score: for the meeting brief, every open commitment delivered and every KPI
brought to its target, one at a time, and the score and band the quarter would then have.

Nothing is estimated: each option is the quarter's own health (`pipeline.analyse.health.health_scores`)
recomputed over the partner's rows with that one change applied, so the brief's figures are the rules of
docs/analysis.md and nothing else. All the partners' options are scored in one call (each option a
partner of its own), which keeps it to a few milliseconds a partner.

- A commitment *delivered*: done on its due date. One due after the quarter (or without a due date) counts
  in no quarter yet, so it moves nothing now: it is listed, at no gain.
- A KPI *brought to target*: its figure for the quarter equal to its target (a KPI with a target that is
  not on track: below it, not reported, or only part of the quarter reported).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.analyse.health import health_scores
from pipeline.analyse.kpis import at_target
from pipeline.core.frames import partner_spans

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import Analysis

WHAT_IF_COLUMNS = ["partner_id", "kind", "subject", "title", "party", "owner", "due_date", "score", "status",
                   "score_if", "status_if", "gain"]
_SEP = "\x1f"  # joins a partner id and an option number into the option's own id (no id holds it)


def what_if(analysis: Analysis, partner_ids: list[str]) -> pd.DataFrame:
    """One row per option of each partner (WHAT_IF_COLUMNS): ``kind`` commitment or kpi, its ``subject`` id and
    ``title``, the ``score``/``status`` now and ``score_if``/``status_if`` with the option, and ``gain`` in points
    (NaN where either side has no score). Most valuable first within a partner; paused partners have none."""
    rec, q, config = analysis.reconciled, analysis.quarter, analysis.reconciled.config
    health = analysis.health.set_index("partner_id")
    pids = [p for p in map(str, partner_ids) if p in health.index and health.loc[p, "state"] != "paused"]
    if not pids:
        return pd.DataFrame(columns=WHAT_IF_COLUMNS)
    defs = analysis.kpi_definitions if analysis.kpi_definitions is not None else pd.DataFrame(
        columns=["kpi_id", "kpi_name", "direction", "weight"])
    names = dict(zip(defs["kpi_id"].astype(str), defs["kpi_name"].astype(str)))
    kq = analysis.kpi_quarterly
    kq = kq[(kq["qindex"] == q.index) & kq["partner_id"].isin(pids)]
    cs = analysis.commitment_status
    cs = cs[cs["partner_id"].isin(pids)]
    ci = rec.checkins[rec.checkins["partner_id"].isin(pids)] if len(rec.checkins) else rec.checkins
    direction = defs.set_index("kpi_id")["direction"] if len(defs) else pd.Series(dtype="object")

    kq = kq.sort_values("partner_id", kind="stable").reset_index(drop=True)
    cs = cs.sort_values("partner_id", kind="stable").reset_index(drop=True)
    ci = ci.sort_values("partner_id", kind="stable").reset_index(drop=True)
    spans = {name: partner_spans(f["partner_id"].astype("str").to_numpy()) for name, f in (("kq", kq), ("cs", cs), ("ci", ci))}
    short = (kq["target"].notna() & (kq["status"].astype("str") != "on_track")).to_numpy()
    live = (cs["is_open"].astype(bool) & ~cs["is_dropped"].astype(bool)).to_numpy()
    options: list[dict] = []
    changed_kq: list[int] = []   # per KPI option: the position of its changed row in the options' kq rows
    changed_cs: list[int] = []   # per commitment option: the same in the options' commitment rows
    take: dict[str, list[np.ndarray]] = {"kq": [], "cs": [], "ci": []}
    size = {"kq": 0, "cs": 0, "ci": 0}

    def add(pid: str, option: dict) -> dict[str, int]:
        """The option as a partner of its own: a copy of the partner's rows; where each copy starts."""
        option["oid"] = f"{pid}{_SEP}{len(options)}"
        options.append(option)
        at = {}
        for name in take:
            a, b = spans[name].get(pid, (0, 0))
            take[name].append(np.arange(a, b))
            at[name] = size[name] - a
            size[name] += b - a
        return at

    kpi_ids = kq["kpi_id"].astype("str").tolist()
    cids, descs, parties, owners = (cs[c].tolist() for c in ("commitment_id", "description", "party", "owner"))
    dues = list(pd.to_datetime(cs["due_date"]))   # Timestamps, or NaT
    for pid in pids:
        a, b = spans["kq"].get(pid, (0, 0))
        for i in np.flatnonzero(short[a:b]) + a:
            kid = kpi_ids[i]
            at = add(pid, {"partner_id": pid, "kind": "kpi", "subject": kid, "title": names.get(kid, kid),
                           "party": "", "owner": "", "due_date": pd.NaT})
            changed_kq.append(at["kq"] + int(i))
        a, b = spans["cs"].get(pid, (0, 0))
        for i in np.flatnonzero(live[a:b]) + a:
            cid, desc = str(cids[i]), str(descs[i] or "").strip()
            at = add(pid, {"partner_id": pid, "kind": "commitment", "subject": cid,
                           "title": f"{cid} ({desc})" if desc else cid, "party": str(parties[i]),
                           "owner": str(owners[i] or ""), "due_date": dues[i]})
            changed_cs.append(at["cs"] + int(i))
    if not options:
        return pd.DataFrame(columns=WHAT_IF_COLUMNS)
    oids = [o["oid"] for o in options]
    frames = {}
    for name, frame in (("kq", kq), ("cs", cs), ("ci", ci)):
        lengths = [len(t) for t in take[name]]
        rows = frame.iloc[np.concatenate(take[name]) if lengths else []].reset_index(drop=True)
        frames[name] = rows.assign(partner_id=np.repeat(oids, lengths))
    if changed_kq:   # each KPI option's one row brought to its target
        rows = frames["kq"].loc[changed_kq]
        frames["kq"].loc[changed_kq] = at_target(rows, rows["kpi_id"].map(direction).fillna("higher"), config)
    if changed_cs:   # each commitment option's one row delivered on its due date
        done = frames["cs"]
        done.loc[changed_cs, ["status", "is_open", "is_overdue"]] = ("done", False, False)
        done.loc[changed_cs, "completed_date"] = pd.to_datetime(done["due_date"].iloc[changed_cs]).to_numpy()
    scored, _ = health_scores(q, config, oids, frames["kq"], defs, frames["cs"], frames["ci"], rec.has_checkins_sheet)
    after = scored.set_index("partner_id")
    out = pd.DataFrame(options)
    out["score"] = health["score"].reindex(out["partner_id"]).to_numpy()
    out["status"] = health["status"].reindex(out["partner_id"]).astype(str).to_numpy()
    out["score_if"] = after["score"].reindex(oids).to_numpy()
    out["status_if"] = after["status"].reindex(oids).astype(str).to_numpy()
    out["gain"] = pd.to_numeric(out["score_if"], errors="coerce") - pd.to_numeric(out["score"], errors="coerce")
    order = out.assign(_g=out["gain"].fillna(-1e9), _n=range(len(out)))
    order = order.sort_values(["partner_id", "_g", "_n"], ascending=[True, False, True], kind="stable")
    return order[WHAT_IF_COLUMNS].reset_index(drop=True)
