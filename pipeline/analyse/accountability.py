"""Who owes what, for the portfolio: our own and joint commitments that are late or slipped, by internal owner,
each owner's on-time share, what each partner did not send us, and the input problems no partner review shows.

Pure: frames in, frames out. The internal owner of a commitment is its `owner` when it is ours (party ``us``)
and names someone; otherwise (a joint commitment, or ours without an owner) the partner's internal owner from
the registry, who answers for the partnership on our side.
"""
from __future__ import annotations

import re

import pandas as pd

from pipeline.core.frames import Programme
from pipeline.core.problems import Problem

NO_OWNER = "(no internal owner)"
OURS = ("us", "joint")
_DID_YOU_MEAN = re.compile(r"\(did you mean (.+?)\?\)")  # as reconcile.refs writes it: (did you mean 'A', 'B'?)
_QUOTED = re.compile(r"'([^']*)'")


def internal_owners(cs: pd.DataFrame, partners: pd.DataFrame) -> pd.Series:
    """Each commitment's internal owner (see the module's rule), NO_OWNER when neither is known."""
    registry = dict(zip(partners["partner_id"].astype(str), partners["internal_owner"].fillna("").astype(str)))
    own = cs["owner"].fillna("").astype(str).str.strip()
    theirs = cs["partner_id"].astype(str).map(registry).fillna("").str.strip()
    owner = own.where((cs["party"] == "us") & (own != ""), theirs)
    return owner.where(owner != "", NO_OWNER)


def _ours(cs: pd.DataFrame, partners: pd.DataFrame) -> pd.DataFrame:
    c = cs[cs["party"].isin(OURS) & ~cs["is_dropped"].astype(bool)].copy()
    c["internal_owner"] = internal_owners(c, partners)
    return c


def late_commitments(cs: pd.DataFrame, partners: pd.DataFrame) -> pd.DataFrame:
    """Our own and joint commitments, still open, that are overdue or whose due date slipped (past its
    baseline, or since last quarter), by internal owner (A to Z), most days late first."""
    c = _ours(cs, partners)
    slipped = (pd.to_numeric(c["slip_days"], errors="coerce").fillna(0) > 0) | c["slipped_now"].astype(bool)
    overdue = c["is_overdue"].astype(bool)
    c = c[c["is_open"].astype(bool) & (overdue | slipped)]
    why = [", ".join(w for w, on in (("overdue", o), ("slipped", s)) if on)
           for o, s in zip(overdue[c.index], slipped[c.index])]
    out = pd.DataFrame({"owner": c["internal_owner"], "partner_id": c["partner_id"].astype(str),
                        "commitment_id": c["commitment_id"].astype(str), "party": c["party"],
                        "description": c["description"], "due_date": c["due_date"],
                        "days_late": pd.to_numeric(c["days_overdue"], errors="coerce").fillna(0).astype(int),
                        "slip_days": pd.to_numeric(c["slip_days"], errors="coerce").fillna(0).astype(int),
                        "why": why})
    return out.sort_values(["owner", "days_late", "slip_days", "partner_id", "commitment_id"],
                           ascending=[True, False, False, True, True], kind="stable").reset_index(drop=True)


def owner_delivery(cs: pd.DataFrame, partners: pd.DataFrame, late: pd.DataFrame) -> pd.DataFrame:
    """Per internal owner: our and joint commitments made, open, late (`late_commitments`), done, done on
    time, and the on-time share: done on time / (done with a due date + open and overdue), the delivery
    frame's own rule (NaN when there is nothing to measure)."""
    c = _ours(cs, partners)
    if not len(c):
        return Programme().owners
    on_time = c["on_time"].astype("boolean")
    g = pd.DataFrame({"owner": c["internal_owner"], "made": 1, "open": c["is_open"].astype(bool).astype(int),
                      "done": (c["status"] == "done").astype(int),
                      "done_on_time": on_time.fillna(False).astype(bool).astype(int),
                      "done_late": (~on_time).fillna(False).astype(bool).astype(int),
                      "overdue": c["is_overdue"].astype(bool).astype(int)}).groupby("owner", sort=True).sum()
    g["late"] = late["owner"].value_counts().reindex(g.index).fillna(0).astype(int)
    denom = g["done_on_time"] + g["done_late"] + g["overdue"]
    g["on_time_share"] = (g["done_on_time"] / denom.where(denom > 0)).astype(float)
    return g.reset_index()[["owner", "made", "open", "late", "done", "done_on_time", "on_time_share"]]


def missing_data(kq: pd.DataFrame, quarter_label: str, reviewed: list[str], returns: pd.DataFrame | None,
                 disagreements: pd.DataFrame | None, kpi_names: dict[str, str]) -> pd.DataFrame:
    """Per reviewed partner with something missing: the KPIs it was asked for this quarter (those with a
    target), those it sent no figure of its own for (by name), whether its data request came back
    (``returned``, ``not returned``, or ``not asked``: no request went out for this quarter), and its open
    disagreements on figures. Partners with nothing missing are left out."""
    cur = kq[(kq["quarter"] == quarter_label) & kq["target"].notna()]
    asked = cur.groupby("partner_id").size()
    without = cur[cur["partner"].isna()]
    names = without.groupby("partner_id")["kpi_id"].agg(lambda s: ", ".join(kpi_names.get(k, k) for k in s))
    request: dict[str, str] = {}
    if returns is not None and len(returns):
        for pid, back, n in zip(returns["partner_id"].astype(str), returns["returned_now"], returns["asked"]):
            request[pid] = "returned" if bool(back) else "not returned" if int(n) else "not asked"
    open_d = disagreements["partner_id"].astype(str).value_counts() if disagreements is not None and len(disagreements) \
        else pd.Series(dtype=int)
    rows = []
    for pid in reviewed:
        n_without = int((without["partner_id"] == pid).sum())
        req, dis = request.get(pid, "not asked"), int(open_d.get(pid, 0))
        if n_without or req == "not returned" or dis:
            rows.append({"partner_id": pid, "kpis_asked": int(asked.get(pid, 0)), "without_their_figure": n_without,
                         "kpis": str(names.get(pid, "")), "request": req, "disagreements": dis})
    return pd.DataFrame(rows, columns=list(Programme().missing.columns))


def unattributed(problems: list[Problem]) -> pd.DataFrame:
    """Every input problem (error or warning) that names no partner, so no partner review shows it: the
    file, sheet and cell, what was wrong, how to fix it and the "did you mean" the reader offered."""
    rows = []
    for p in problems:
        if p.partner_id:
            continue
        m = _DID_YOU_MEAN.search(p.message)
        suggested = ", ".join(_QUOTED.findall(m.group(1))) if m else ""
        rows.append({"file": p.file, "sheet": p.sheet, "cell": p.cell, "code": p.code, "severity": p.severity,
                     "message": p.message, "fix": p.fix, "did_you_mean": suggested})
    return pd.DataFrame(rows, columns=list(Programme().unattributed.columns))

