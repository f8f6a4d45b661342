"""The commitment rules of the flag catalog (review.md "Flag catalog"): overdue, slipped, dropped, stale and
incomplete commitments, and the balance of what each side holds. `pipeline.analyse.flags` runs them with the
KPI rules; docs/analysis.md gives each rule and its settings."""
from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from pipeline.analyse.flag_inputs import STATUS_WORDS, FlagInputs, flag_frame, rows_of
from pipeline.analyse.wording import ORDINALS, day, pct


def _commitments(fi: FlagInputs) -> pd.DataFrame:
    c = fi.commitments
    return c[c["partner_id"].isin(fi.partner_ids)]


def _short(text: Any, limit: int = 60) -> str:
    s = "" if text is None or pd.isna(text) else str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def commitment_overdue(fi: FlagInputs) -> pd.DataFrame:
    c = _commitments(fi)
    hit = c[c["is_overdue"].astype(bool)]
    end = fi.quarter.end_date(fi.config.fy_start)
    msgs = [f"{r.commitment_id} due {day(r.due_date)}, {STATUS_WORDS.get(r.status, r.status)}: "
            + (f"{r.days_overdue} days overdue at {day(end)}" if r.days_overdue > 0 else
               "due on the quarter's last day and not done") for r in rows_of(hit)]
    clauses = [(f"{r.days_overdue} {'day' if r.days_overdue == 1 else 'days'} overdue at {day(end)}"
                if r.days_overdue > 0 else "due on the quarter's last day and not done")
               + f" (due {day(r.due_date)}, {STATUS_WORDS.get(r.status, r.status)})" for r in rows_of(hit)]
    agenda = [f"{r.commitment_id} ({_short(r.description)}): deliver it or agree a new date" for r in rows_of(hit)]
    sev = np.where(hit["days_overdue"] > fi.config.commitments.overdue_high_days, "high", "medium")
    return flag_frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["commitment_id"], "severity": sev,
                                "message": msgs, "agenda": agenda, "whose_move": hit["party"], "clause": clauses}),
                  code="COMMITMENT_OVERDUE")


def commitment_slipped(fi: FlagInputs) -> pd.DataFrame:
    c = _commitments(fi)
    hit = c[c["is_open"].astype(bool) & ((c["slip_days"] > 0) | c["slipped_now"].astype(bool))]
    msgs, clauses = [], []
    since = fi.previous_run.label if fi.previous_run else "last quarter"
    for r in rows_of(hit):
        parts = [f"{r.commitment_id} due {day(r.due_date)}"]
        if r.slip_days > 0:
            parts.append(f", agreed {day(r.first_due_date)}: slipped {r.slip_days} days")
        if r.slipped_now:
            parts.append(f"{';' if r.slip_days > 0 else ':'} moved from {day(r.previous_due_date)} since {since}")
        parts.append(f", {ORDINALS.get(int(r.slip_count), f'{int(r.slip_count)}th')} slip")
        msgs.append("".join(parts))
        clause = [f"due {day(r.due_date)}"]
        if r.slip_days > 0:
            clause.append(f"{r.slip_days} days later than first agreed ({day(r.first_due_date)})")
        if r.slipped_now:
            clause.append(f"moved from {day(r.previous_due_date)} since {since}")
        clauses.append(", ".join(clause) + f" (the {ORDINALS.get(int(r.slip_count), f'{int(r.slip_count)}th')} slip)")
    agenda = [f"{r.commitment_id} ({_short(r.description)}): confirm the new date and what holds it up" for r in rows_of(hit)]
    cfg = fi.config
    high = (hit["slip_count"] >= cfg["commitments.slip_high_count"]) | (hit["slip_days"] >= cfg["commitments.slip_high_days"])
    return flag_frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["commitment_id"],
                                "severity": np.where(high, "high", "medium"), "message": msgs, "agenda": agenda,
                                "whose_move": hit["party"], "clause": clauses}), code="COMMITMENT_SLIPPED")


def commitment_dropped(fi: FlagInputs) -> pd.DataFrame:
    c = _commitments(fi)
    hit = c[c["is_dropped"].astype(bool)]
    last = fi.previous_run.label if fi.previous_run else "last quarter"
    msgs = [f"{r.commitment_id} ({_short(r.description)}) was open in {last} ({STATUS_WORDS.get(r.status, r.status)}, "
            f"due {day(r.due_date)}) and is absent from this quarter's workbooks" for r in rows_of(hit)]
    agenda = [f"{r} : delivered, cancelled, or still wanted?" for r in hit["commitment_id"]]
    clauses = [f"open in {last} ({STATUS_WORDS.get(r.status, r.status)}, due {day(r.due_date)}) and no longer in the "
               "commitments log" for r in rows_of(hit)]
    return flag_frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["commitment_id"], "message": msgs,
                                "agenda": agenda, "whose_move": hit["party"], "clause": clauses}),
                  code="COMMITMENT_DROPPED", severity="medium")


def commitment_stale(fi: FlagInputs) -> pd.DataFrame:
    c = _commitments(fi)
    hit = c[c["is_stale"].astype(bool)]
    end = pd.Timestamp(fi.quarter.end_date(fi.config.fy_start))
    limit = fi.config.commitments.stale_days
    msgs = [f"{r.commitment_id} never updated (limit {limit} days)" if pd.isna(r.last_updated) else
            f"{r.commitment_id} last updated {day(r.last_updated)}, {(end - r.last_updated).days} days before "
            f"the quarter's end (limit {limit} days)" for r in rows_of(hit)]
    agenda = [f"{r}: status update" for r in hit["commitment_id"]]
    clauses = [m.split(" ", 1)[1].replace(f" (limit {limit} days)", "") for m in msgs]  # no id, no rule of ours
    return flag_frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["commitment_id"], "message": msgs,
                                "agenda": agenda, "whose_move": hit["party"], "clause": clauses}),
                  code="COMMITMENT_STALE", severity="low")


def commitment_incomplete(fi: FlagInputs) -> pd.DataFrame:
    c = _commitments(fi)
    hit = c[c["incomplete"].astype("str") != ""]
    msgs = [f"{r.commitment_id} is open with {r.incomplete}" for r in rows_of(hit)]
    agenda = [f"{r.commitment_id}: fill in {r.incomplete.replace('no ', '')}" for r in rows_of(hit)]
    clauses = [f"open with {r.incomplete}" for r in rows_of(hit)]
    return flag_frame(pd.DataFrame({"partner_id": hit["partner_id"], "subject": hit["commitment_id"], "message": msgs,
                                "agenda": agenda, "whose_move": hit["party"], "clause": clauses}),
                  code="COMMITMENT_INCOMPLETE", severity="low")


def reciprocity_imbalance(fi: FlagInputs) -> pd.DataFrame:
    d = fi.delivery
    d = d[d["partner_id"].isin(fi.partner_ids)]
    if not len(d):
        return flag_frame([])
    cfg = fi.config
    w = d.pivot(index="partner_id", columns="party", values=["open", "on_time_rate"])
    # pivoted on two values, the columns are (value, party): each value's part is a frame by party
    op = cast(pd.DataFrame, w["open"]).reindex(columns=["us", "partner", "joint"], fill_value=0).fillna(0)
    rate = cast(pd.DataFrame, w["on_time_rate"]).reindex(columns=["us", "partner", "joint"])
    total = op.sum(axis=1)
    share_us, share_p = op["us"] / total.where(total > 0), op["partner"] / total.where(total > 0)
    load = (total >= cfg["commitments.reciprocity_min_open"]) & (
        (share_us >= cfg["commitments.reciprocity_share"]) | (share_p >= cfg["commitments.reciprocity_share"]))
    gap = (rate["us"] - rate["partner"]).abs()
    rates = gap.notna() & (gap >= cfg["commitments.reciprocity_rate_gap"] - 1e-9)
    rows = []
    for pid in op.index[load | rates]:
        texts, said, movers = [], [], set()
        if load[pid]:
            heavy = "us" if share_us[pid] >= share_p[pid] else "partner"
            share = max(share_us[pid], share_p[pid])
            texts.append(f"{'we' if heavy == 'us' else 'the partner'} hold {int(op.loc[pid, heavy])} of {int(total[pid])} "
                         f"open commitments ({pct(share)}; us {int(op.loc[pid, 'us'])}, partner {int(op.loc[pid, 'partner'])}, "
                         f"joint {int(op.loc[pid, 'joint'])})")
            said.append(f"{'we' if heavy == 'us' else 'you'} hold {int(op.loc[pid, heavy])} of the {int(total[pid])} "
                        "open commitments")
            movers.add("partner" if heavy == "us" else "us")  # the lighter side takes on more
        if rates[pid]:
            ru, rp = rate.loc[pid, "us"], rate.loc[pid, "partner"]
            texts.append(f"on-time delivery us {pct(ru)} vs partner {pct(rp)} ({gap[pid] * 100:.0f} points apart)")
            said.append(f"commitments kept on time: ours {pct(ru)}, yours {pct(rp)}")
            movers.add("us" if ru < rp else "partner")
        rows.append(dict(partner_id=pid, subject="", message="; ".join(texts), clause="; ".join(said),
                         whose_move=movers.pop() if len(movers) == 1 else "joint",
                         agenda="Rebalance the commitments: who takes on what next quarter"))
    return flag_frame(rows, code="RECIPROCITY_IMBALANCE", severity="medium")
