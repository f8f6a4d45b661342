"""The summary of one partner's review: two or three plain sentences written from its `PartnerView`.

The partner review's first page, the manifest (``summary``) and the e-mail body all show these same
sentences; `pipeline.analyse.analysis.partner_view` writes them into `PartnerView.summary`, so none of
those views decides anything again (the KPI bands are the ``status`` `kpis` gave).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline.analyse.wording import attainment_pct
from pipeline.core.frames import count, is_missing, records, true
from pipeline.core.schema import ATTAINMENT, BELOW_TARGET, STATUS

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import PartnerView


NOTHING_FLAGGED = "Nothing is flagged this quarter."


def _n(n: int, noun: str, plural: str = "") -> str:
    """'1 commitment', '3 commitments'."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


# what a pause changes in the flags (flag_inputs.PAUSE_SUSPENDS), in words: the review's summary and the portfolio
PAUSE_RULE = ("KPIs are not flagged against their targets (under target, declining or not reported) and their figures "
              "are shown for reference only; commitments, check-ins, disagreements on the figures and excluded rows "
              "are still flagged, because a pause changes none of them.")


def pause_sentence(partner: str) -> str:
    """The review's sentence on what the pause changes."""
    return f"While the partnership with {partner} is paused, {PAUSE_RULE}"


def summary_sentences(view: PartnerView) -> list[str]:
    """The KPIs (how many in each band, and the one furthest from target when it is below target), the
    commitments (open, done, overdue by party), what a pause changes, and the gaps (the findings)."""
    us = view.organisation or "Our side"
    partner = str(view.partner.get("partner_name") or view.partner.get("partner_id") or "")
    parties = {"us": us, "partner": partner, "joint": "Both of us"}
    party = (lambda code: parties.get(str(code or ""), "—"))  # noqa: E731
    names = {str(k): str(n) for k, n in zip(view.kpis["kpi_id"], view.kpis["kpi_name"])} if len(view.kpis) else {}
    paused = view.health.get("state") == "paused"

    kq = view.kpi_quarterly
    cur = records(kq[kq["quarter"] == view.quarter.label], ("kpi_id", ATTAINMENT, STATUS))
    counts = dict(count(r[STATUS] for r in cur))
    on = counts.get("on_track", 0)
    verb = "is" if on == 1 or len(cur) == 1 else "are"
    kpi_s = (("For reference, " if paused else "") + f"{on} of {_n(len(cur), 'KPI')} {verb} on track this quarter"
             + (f", {counts.get('at_risk', 0)} at risk" if counts.get("at_risk", 0) else "")
             + (f", {counts.get('off_track', 0)} off track" if counts.get("off_track", 0) else "")
             + (f" and {counts.get('missing', 0)} not reported" if counts.get("missing", 0) else "") + ".")
    rated = [r for r in cur if not is_missing(r[ATTAINMENT])]
    if rated and not paused:  # the lowest attainment, ties broken as pandas' sort_values (numpy's default argsort) would
        r = rated[int(np.argsort(np.array([float(x[ATTAINMENT]) for x in rated]))[0])]
        if r[STATUS] in BELOW_TARGET:
            kid = "" if is_missing(r["kpi_id"]) else str(r["kpi_id"])
            shown = attainment_pct(r[ATTAINMENT], view.thresholds.edges)
            kpi_s += f" Furthest from target: {names.get(kid, kid)} at {shown} of target."

    com = records(view.commitments, ("party", "status", "is_open", "is_overdue", "is_dropped"))
    dropped = sum(true(r.get("is_dropped")) for r in com)
    open_n = sum(true(r.get("is_open")) and not true(r.get("is_dropped")) for r in com)
    done_n = sum(r.get("status", "") == "done" and not true(r.get("is_dropped")) for r in com)
    other = len(com) - open_n - done_n - dropped   # cancelled
    overdue = [r for r in com if true(r.get("is_overdue"))]
    com_s = (f"{_n(len(com), 'commitment')} {'is' if len(com) == 1 else 'are'} tracked: {open_n} open, "
             f"{done_n} done" + (f", {other} cancelled" if other else "") + (f", {dropped} dropped" if dropped else ""))
    if overdue:
        by = count("joint" if r.get("party", "") == "joint" else party(r.get("party", "")) for r in overdue)
        com_s += f", {len(overdue)} overdue (" + ", ".join(f"{n} {who}" for who, n in by) + ")"
    com_s += "."
    if not com:
        com_s = "No commitments are tracked."

    fl = records(view.findings, ("severity", "theme"))
    high = sum(f["severity"] == "high" for f in fl)
    n_f, n_t = len(fl), len({f["theme"] for f in fl})
    themes = f" in {_n(n_t, 'theme')}" if n_t > 1 else ""
    flag_s = ((f"{n_f} gaps are flagged{themes}, {high or 'none'} of them high severity" if n_f > 1 else
               f"1 gap is flagged ({fl[0]['severity'] if n_f else ''} severity)") +
              "; the agenda at the end of this review proposes what to discuss." if n_f else NOTHING_FLAGGED)
    return ([kpi_s, com_s] + ([pause_sentence(partner)] if paused else []) + [flag_s]
            + ([view.pulse_sentence] if view.pulse_sentence else []))
