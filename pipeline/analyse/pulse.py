"""How each partner rates the partnership (the Pulse sheet of their returned data requests), over the
quarters: this quarter's answers from the workbooks, earlier ones from the workbooks or the history.

`pulse_table` gives one row per partner, quarter and question up to the reviewed quarter (a workbook's row
wins over the history's for the same quarter and question). `pulse_scores` gives per partner and quarter
the mean score of the questions answered (a blank is not answered: it never counts as a low score) and how
many were answered. `pulse_sentence` is what the review, the manifest and the e-mail say of it. `request_returns` gives the
portfolio each partner's rating beside its health and how many of the data requests it was sent came back.
"""
from __future__ import annotations

import math

import pandas as pd

from pipeline.core.periods import Quarter

PULSE_COLUMNS = ["partner_id", "quarter", "qindex", "question_id", "question", "score", "comment"]


def pulse_table(workbook: pd.DataFrame, history: pd.DataFrame | None, quarter: Quarter,
                partner_ids: list[str]) -> pd.DataFrame:
    """Every rating of the reviewed partners up to `quarter`, oldest first."""
    now = workbook.reindex(columns=[c for c in PULSE_COLUMNS if c != "qindex"]).copy()
    now["qindex"] = [Quarter.parse(str(q)).index for q in now["quarter"]] if len(now) else pd.Series(dtype="int64")
    frames = [now.reindex(columns=PULSE_COLUMNS)]
    if history is not None and len(history):
        frames.append(history.reindex(columns=PULSE_COLUMNS))
    both = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    both = both.drop_duplicates(["partner_id", "qindex", "question_id"], keep="first")   # the workbook's first
    both = both[both["partner_id"].isin(partner_ids) & (both["qindex"].astype("int64") <= quarter.index)]
    both = both.assign(score=both["score"].astype("float64"), qindex=both["qindex"].astype("int64"),
                       comment=both["comment"].fillna("").astype("str"), question=both["question"].fillna("").astype("str"))
    return both.sort_values(["partner_id", "qindex", "question_id"], kind="stable").reset_index(drop=True)


def pulse_scores(table: pd.DataFrame) -> pd.DataFrame:
    """partner_id, quarter, qindex, mean (of the answered questions; NaN when none), answered, asked."""
    if not len(table):
        return pd.DataFrame(columns=["partner_id", "quarter", "qindex", "mean", "answered", "asked"])
    g = table.groupby(["partner_id", "quarter", "qindex"], sort=True)["score"]
    out = pd.DataFrame({"mean": g.mean(), "answered": g.count(), "asked": g.size()}).reset_index()
    return out.sort_values(["partner_id", "qindex"], kind="stable").reset_index(drop=True)


LOW_SCORE = 3.0   # a pulse answer at or under this is low: the review names it, the brief asks about it


def low_answers(table: pd.DataFrame, quarter: Quarter) -> list[tuple[str, float]]:
    """(question, score) of the quarter's answers at or under `LOW_SCORE`, lowest first."""
    now = table[(table["qindex"] == quarter.index) & table["score"].notna()] if len(table) else table
    low = now[now["score"].astype(float) <= LOW_SCORE].sort_values("score", kind="stable") if len(now) else now
    return [(str(q or i), float(s)) for q, i, s in zip(low["question"], low["question_id"], low["score"])]


def pulse_sentence(table: pd.DataFrame, quarter: Quarter, partner: str) -> str:
    """'Brightwave rated the partnership 3.8 of 5 for 2026-Q3 (4 of 5 questions answered), up from 3.2 in
    2026-Q2.' or '' when the partner rated nothing for the quarter (`partner` "You" in its own review)."""
    scores = pulse_scores(table)
    now = scores[scores["qindex"] == quarter.index]
    if not len(now) or not int(now["answered"].iloc[0]):
        return ""
    mean, answered, asked = float(now["mean"].iloc[0]), int(now["answered"].iloc[0]), int(now["asked"].iloc[0])
    text = (f"{partner} rated the partnership {mean:.1f} of 5 for {quarter.label} "
            f"({answered} of {asked} question{'s' if asked != 1 else ''} answered)")
    before = scores[(scores["qindex"] < quarter.index) & (scores["answered"] > 0)]
    if len(before):
        prev, label = float(before["mean"].iloc[-1]), str(before["quarter"].iloc[-1])
        if math.isclose(round(prev, 1), round(mean, 1)):
            text += f", as in {label}"
        else:
            text += f", {'up' if mean > prev else 'down'} from {prev:.1f} in {label}"
    return text + "."


def request_returns(table: pd.DataFrame, reviewed: pd.DataFrame | None, health: pd.DataFrame,
                    quarter: Quarter) -> pd.DataFrame:
    """Per reviewed partner: health score, this quarter's rating (mean of the answered questions, NaN when
    none) and last quarter's, whether its request for this quarter came back (a returned request always
    holds its Pulse rows, answered or not), the requests asked (one went with each review of the quarter
    before) and returned, and `view_gap`: their rating minus our score on the same 1-5 scale (score / 20),
    NaN when either is missing. The portfolio lists the widest gaps first: where the views disagree most."""
    scores = pulse_scores(table)
    asked_in: dict[str, set[int]] = {}
    if reviewed is not None and len(reviewed):
        for pid, q in zip(reviewed["partner_id"].astype(str), reviewed["qindex"].astype(int)):
            asked_in.setdefault(pid, set()).add(q + 1)
    rows = []
    for h in health.to_dict("records"):
        pid = str(h["partner_id"])
        mine = scores[scores["partner_id"] == pid]
        returned = set(int(q) for q in mine["qindex"])
        asked = {q for q in asked_in.get(pid, set()) if q <= quarter.index} | (returned & {quarter.index})
        now = mine[mine["qindex"] == quarter.index]
        before = mine[(mine["qindex"] < quarter.index) & (mine["answered"] > 0)]
        rating = float(now["mean"].iloc[0]) if len(now) and int(now["answered"].iloc[0]) else math.nan
        score = h.get("score")
        score = float(score) if score is not None and not pd.isna(score) else math.nan
        rows.append({"partner_id": pid, "health_score": score, "health_status": h.get("status"),
                     "rating": rating, "previous_rating": float(before["mean"].iloc[-1]) if len(before) else math.nan,
                     "returned_now": quarter.index in returned, "asked": len(asked),
                     "returned": len(returned & asked),
                     "view_gap": rating - score / 20 if not (math.isnan(rating) or math.isnan(score)) else math.nan})
    return pd.DataFrame(rows, columns=["partner_id", "health_score", "health_status", "rating", "previous_rating",
                                       "returned_now", "asked", "returned", "view_gap"])
