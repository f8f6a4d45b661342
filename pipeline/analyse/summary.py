"""The summary of one partner's review: two or three plain sentences written from its `PartnerView`.

The partner review's first page, the manifest (``summary``) and the e-mail body all show these same
sentences; `pipeline.analyse.analysis.partner_view` writes them into `PartnerView.summary`, so none of
those views decides anything again (the KPI bands are the ``status`` `kpis` gave).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline.core.frames import count, is_missing, records, true
from pipeline.core.schema import ATTAINMENT, BELOW_TARGET, STATUS

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import PartnerView


def summary_sentences(view: PartnerView) -> list[str]:
    """The KPIs (how many in each band, and the one furthest from target when it is below target), the
    commitments (open, done, overdue by party), and the flags."""
    us = view.organisation or "Our side"
    partner = str(view.partner.get("partner_name") or view.partner.get("partner_id") or "")
    parties = {"us": us, "partner": partner, "joint": "Both of us"}
    party = (lambda code: parties.get(str(code or ""), "—"))  # noqa: E731
    names = {str(k): str(n) for k, n in zip(view.kpis["kpi_id"], view.kpis["kpi_name"])} if len(view.kpis) else {}

    kq = view.kpi_quarterly
    cur = records(kq[kq["quarter"] == view.quarter.label], ("kpi_id", ATTAINMENT, STATUS))
    counts = dict(count(r[STATUS] for r in cur))
    kpi_s = (f"{counts.get('on_track', 0)} of {len(cur)} KPIs are on track this quarter"
             + (f", {counts.get('at_risk', 0)} at risk" if counts.get("at_risk", 0) else "")
             + (f", {counts.get('off_track', 0)} off track" if counts.get("off_track", 0) else "")
             + (f" and {counts.get('missing', 0)} not reported" if counts.get("missing", 0) else "") + ".")
    rated = [r for r in cur if not is_missing(r[ATTAINMENT])]
    if rated:  # the lowest attainment, ties broken as pandas' sort_values (numpy's default argsort) would
        r = rated[int(np.argsort(np.array([float(x[ATTAINMENT]) for x in rated]))[0])]
        if r[STATUS] in BELOW_TARGET:
            kid = "" if is_missing(r["kpi_id"]) else str(r["kpi_id"])
            kpi_s += f" Furthest from target: {names.get(kid, kid)} at {float(r[ATTAINMENT]) * 100:.0f}% of target."

    com = records(view.commitments, ("party", "status", "is_open", "is_overdue"))
    open_n = sum(true(r.get("is_open")) for r in com)
    overdue = [r for r in com if true(r.get("is_overdue"))]
    com_s = f"{len(com)} commitments are tracked: {open_n} open, {sum(r.get('status', '') == 'done' for r in com)} done"
    if overdue:
        by = count("joint" if r.get("party", "") == "joint" else party(r.get("party", "")) for r in overdue)
        com_s += f", {len(overdue)} overdue (" + ", ".join(f"{n} {who}" for who, n in by) + ")"
    com_s += "."

    fl = records(view.flags, ("severity",))
    high = sum(f["severity"] == "high" for f in fl)
    n_f = len(fl)
    flag_s = ((f"{n_f} gaps are flagged, {high or 'none'} of them high severity" if n_f > 1 else
               f"1 gap is flagged ({fl[0]['severity'] if n_f else ''} severity)") +
              "; the agenda at the end of this review proposes what to discuss." if n_f else "No gaps are flagged this quarter.")
    return [kpi_s, com_s, flag_s]
