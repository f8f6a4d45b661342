"""Commitments: overdue, slipped (baseline and history), dropped, stale, incomplete; delivery per party.

Pure functions: the reconciled ``commitments`` frame plus what history recorded last quarter in, the
``commitment_status`` and ``delivery`` frames of `pipeline.core.schema.ANALYSIS_FRAMES` out.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from pipeline.core.periods import Quarter
from pipeline.core.schema import FRAMES, OPEN_STATES, PARTIES
from pipeline.core.settings import Config

DATE_COLS = ("due_date", "baseline_due_date", "last_updated", "completed_date")
HISTORY_COLS = ["partner_id", "commitment_id", "party", "description", "owner", "status", "due_date",
                "baseline_due_date", "first_due_date", "last_updated", "percent_complete", "linked_kpi_id",
                "slip_count", "slip_days", "note"]


def _dates(frame: pd.DataFrame, cols) -> pd.DataFrame:
    for c in cols:
        if c in frame:
            frame[c] = pd.to_datetime(frame[c], errors="coerce").astype("datetime64[ns]")
    return frame


def _blank(s: pd.Series) -> pd.Series:
    return s.isna() | (s.astype("str").str.strip() == "")


def commitment_status(commitments: pd.DataFrame, quarter: Quarter, config: Config,
                      previous: pd.DataFrame | None = None, partner_ids: list[str] | None = None) -> pd.DataFrame:
    """Every commitment with its state at the quarter's end, plus rows carried from history for the
    commitments that were open last quarter and are absent now (``is_dropped``).

    ``previous`` is history's record of the last reviewed quarter before this one (HISTORY_COLS);
    ``partner_ids`` limits drops to partners still in the registry."""
    qend = pd.Timestamp(quarter.end_date(config.fy_start))
    c = _dates(commitments.copy(), DATE_COLS)
    c["percent_complete"] = pd.to_numeric(c["percent_complete"], errors="coerce").astype(float)
    prev = _previous(previous)
    c = c.merge(prev[["partner_id", "commitment_id", "due_date", "first_due_date", "slip_count"]].rename(
        columns={"due_date": "previous_due_date", "first_due_date": "_first", "slip_count": "_count"}),
        on=["partner_id", "commitment_id"], how="left")
    c["first_due_date"] = c["baseline_due_date"].fillna(c["_first"]).fillna(c["due_date"])
    c["is_open"] = c["status"].isin(OPEN_STATES)
    due = c["due_date"]
    c["slipped_now"] = (due.notna() & c["previous_due_date"].notna() & (due > c["previous_due_date"])).astype(bool)
    slip = (due - c["first_due_date"]).dt.days
    c["slip_days"] = slip.where(slip > 0, 0).fillna(0).astype(int)
    carried = c["_count"].fillna(0).astype(int) + c["slipped_now"].astype(int)
    c["slip_count"] = np.maximum(carried, (c["slip_days"] > 0).astype(int)).astype(int)
    c["is_overdue"] = (c["is_open"] & due.notna() & (due <= qend)).astype(bool)
    c["days_overdue"] = np.where(c["is_overdue"], (qend - due).dt.days.fillna(0), 0).astype(int)
    stale_before = qend - pd.Timedelta(days=int(config.commitments.stale_days))
    c["is_stale"] = (c["is_open"] & (c["last_updated"].isna() | (c["last_updated"] < stale_before))).astype(bool)
    c["incomplete"] = _incomplete(c)
    done = c["status"] == "done"
    known = done & due.notna() & c["completed_date"].notna()
    c["on_time"] = pd.Series(pd.NA, index=c.index, dtype="boolean").mask(known, c["completed_date"] <= due)
    c["is_dropped"] = False
    dropped = _dropped(prev, c, partner_ids)
    out = pd.concat([c, dropped], ignore_index=True) if len(dropped) else c
    keep = [col for col in FRAMES["commitments"]] + ["is_open", "is_overdue", "days_overdue", "slip_days", "slip_count",
                                                      "is_stale", "is_dropped", "incomplete", "on_time",
                                                      "first_due_date", "previous_due_date", "slipped_now"]
    prov = [col for col in ("file", "sheet", "row") if col in out]
    return out.reindex(columns=keep + prov).sort_values(["partner_id", "commitment_id"], kind="stable").reset_index(drop=True)


def _previous(previous: pd.DataFrame | None) -> pd.DataFrame:
    if previous is None or not len(previous):
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c.endswith("date") or c == "last_updated" else "object")
                             for c in HISTORY_COLS})
    return _dates(previous.reindex(columns=HISTORY_COLS).copy(),
                  ("due_date", "baseline_due_date", "first_due_date", "last_updated"))


def _incomplete(c: pd.DataFrame) -> pd.Series:
    no_owner = _blank(c["owner"])
    no_due = c["due_date"].isna()
    no_measure = _blank(c["linked_kpi_id"]) & c["percent_complete"].isna()
    parts = [np.where(c["is_open"] & m, label, "") for m, label in
             ((no_owner, "no owner"), (no_due, "no due date"),
              (no_measure, "no measure (neither linked KPI nor percent complete)"))]
    return pd.Series(["; ".join(p for p in row if p) for row in zip(*parts)], index=c.index, dtype="str")


def _dropped(prev: pd.DataFrame, current: pd.DataFrame, partner_ids: list[str] | None) -> pd.DataFrame:
    if not len(prev):
        return prev.iloc[0:0]
    was_open = prev[prev["status"].isin(OPEN_STATES)]
    if partner_ids is not None:
        was_open = was_open[was_open["partner_id"].isin(partner_ids)]
    now = pd.MultiIndex.from_frame(current[["partner_id", "commitment_id"]])
    gone = was_open[~pd.MultiIndex.from_frame(was_open[["partner_id", "commitment_id"]]).isin(now)].copy()
    if not len(gone):
        return gone
    gone["previous_due_date"] = gone["due_date"]
    gone["slip_count"] = pd.to_numeric(gone["slip_count"], errors="coerce").fillna(0).astype(int)
    gone["slip_days"] = pd.to_numeric(gone["slip_days"], errors="coerce").fillna(0).astype(int)
    gone = gone.assign(is_open=False, is_overdue=False, days_overdue=0, is_stale=False, is_dropped=True,
                       incomplete="", slipped_now=False, on_time=pd.Series(pd.NA, index=gone.index, dtype="boolean"),
                       internal_note="", status_raw="")
    gone["completed_date"] = pd.NaT  # after assign: pandas-stubs does not take NaT as an assign() scalar
    return gone


def delivery(status: pd.DataFrame) -> pd.DataFrame:
    """Per partner and party (all three parties for every partner with commitments): made, open, done,
    on time, late, overdue, slipped, days slipped, dropped and the on-time rate.

    on_time_rate = done on time / (done with a due and a completion date + open and overdue)."""
    cols = ["made", "open", "done", "done_on_time", "done_late", "overdue", "slipped", "slip_days", "dropped"]
    if not len(status):
        from pipeline.core.frames import empty_analysis_frame

        return empty_analysis_frame("delivery")
    s = status
    live = ~s["is_dropped"].astype(bool)
    on_time = s["on_time"].astype("boolean")
    parts = pd.DataFrame({
        "partner_id": s["partner_id"], "party": s["party"],
        "made": live, "open": s["is_open"].astype(bool), "done": live & (s["status"] == "done"),
        "done_on_time": on_time.fillna(False).astype(bool), "done_late": (~on_time).fillna(False).astype(bool),
        "overdue": s["is_overdue"].astype(bool),
        "slipped": live & ((s["slip_days"] > 0) | s["slipped_now"].astype(bool)),
        "slip_days": s["slip_days"].where(live, 0), "dropped": s["is_dropped"].astype(bool),
    })
    g = parts.groupby(["partner_id", "party"], observed=True)[cols].sum()
    grid = pd.MultiIndex.from_product([sorted(s["partner_id"].unique()), list(PARTIES)], names=["partner_id", "party"])
    d = g.reindex(grid, fill_value=0).astype(int).reset_index()
    denom = d["done_on_time"] + d["done_late"] + d["overdue"]
    d["on_time_rate"] = (d["done_on_time"] / denom.where(denom > 0)).astype(float)
    return d


TRACK_COLUMNS = ["partner_id", "party", "made", "on_time", "late", "slipped", "slip_days", "dropped", "open"]


def track_record(status: pd.DataFrame, quarter: Quarter, config: Config, runs: pd.DataFrame | None = None,
                 quarters: int = 4) -> pd.DataFrame:
    """Per partner and party, the commitment track record over the last ``quarters`` quarters (the reviewed
    one included): ``made`` (in play during the window: open at its end, due, done or dropped within it),
    kept ``on_time`` and ``late`` (done within the window), ``slipped`` (with ``slip_days`` in total),
    ``dropped`` (open in one run and gone by the next, this quarter's drops included) and ``open``.

    ``runs`` is history's record of earlier runs (`History.commitment_runs`): only runs before the
    reviewed quarter, so a later run never changes an earlier quarter's record."""
    start = pd.Timestamp(quarter.shift(-(quarters - 1)).start_date(config.fy_start))
    end = pd.Timestamp(quarter.end_date(config.fy_start))
    s = status
    if not len(s):
        return pd.DataFrame(columns=TRACK_COLUMNS)

    def within(col: str) -> pd.Series:
        return s[col].notna() & (s[col] >= start) & (s[col] <= end)

    live = ~s["is_dropped"].astype(bool)
    done = live & (s["status"] == "done")
    in_play = live & (s["is_open"].astype(bool) | within("due_date") | within("completed_date")
                      | (s["status"].isin(["done", "cancelled"]) & s["completed_date"].isna() & within("last_updated")))
    on_time = s["on_time"].astype("boolean")
    rows = pd.DataFrame({
        "partner_id": s["partner_id"], "party": s["party"], "commitment_id": s["commitment_id"],
        "made": in_play, "on_time": done & within("completed_date") & on_time.fillna(False).astype(bool),
        "late": done & within("completed_date") & (~on_time).fillna(False).astype(bool),
        "slipped": in_play & (s["slip_count"].fillna(0).astype(int) > 0),
        "slip_days": s["slip_days"].where(in_play, 0).fillna(0).astype(int),
        "dropped": s["is_dropped"].astype(bool), "open": live & s["is_open"].astype(bool)})
    rows["slip_days"] = rows["slip_days"].where(rows["slipped"], 0)
    earlier = _earlier_drops(runs, quarter, quarters, s)
    if len(earlier):
        rows = pd.concat([rows, earlier.assign(made=True, on_time=False, late=False, slipped=False, slip_days=0,
                                               dropped=True, open=False)], ignore_index=True)
    rows["made"] = rows["made"] | rows["dropped"]
    cols = TRACK_COLUMNS[2:]
    g = rows.groupby(["partner_id", "party"])[cols].sum()
    grid = pd.MultiIndex.from_product([sorted(s["partner_id"].astype("str").unique()), list(PARTIES)],
                                      names=["partner_id", "party"])
    return g.reindex(grid, fill_value=0).astype(int).reset_index()


def _earlier_drops(runs: pd.DataFrame | None, quarter: Quarter, quarters: int, status: pd.DataFrame) -> pd.DataFrame:
    """Commitments open in one recorded run and absent from the next recorded run, where that next run
    falls in the window and before the reviewed quarter (this quarter's drops are in ``status``)."""
    if runs is None or not len(runs):
        return pd.DataFrame(columns=["partner_id", "party", "commitment_id"])
    order = sorted(runs["run_qindex"].astype(int).unique())
    first = quarter.index - (quarters - 1)
    partners = set(status["partner_id"])
    out = []
    for a, b in itertools.pairwise(order):
        if b < first or b >= quarter.index:
            continue
        was = runs[(runs["run_qindex"] == a) & runs["status"].isin(OPEN_STATES)]
        now = runs[runs["run_qindex"] == b]
        gone = ~pd.MultiIndex.from_frame(was[["partner_id", "commitment_id"]]).isin(
            pd.MultiIndex.from_frame(now[["partner_id", "commitment_id"]]))
        out.append(was.loc[gone, ["partner_id", "party", "commitment_id"]])
    out = [o for o in out if len(o)]
    if not out:
        return pd.DataFrame(columns=["partner_id", "party", "commitment_id"])
    d = pd.concat(out, ignore_index=True)
    return d[d["partner_id"].isin(partners)]
