"""The history of reviewed quarters in an embedded SQLite file (stdlib sqlite3).

Each `record` stores one reviewed quarter as a *run*: the KPI figures the workbooks held (for every
quarter they held, not only the reviewed one), the commitments with their slip counts, and the health
scores with their breakdown. Recording a quarter again replaces that run in one transaction, so a
re-run is idempotent. Queries always look at runs *before* a given quarter, so re-running a quarter
never compares it with itself.

The schema is versioned with ``PRAGMA user_version``; `MIGRATIONS` maps each version to the SQL that
brings the previous version up to it, and `History` applies the missing ones when it opens a file. A file
that is damaged, not a history, written by a newer version, locked or not writable raises `HistoryUnusable`
(exit 2) with what to do, never a bare sqlite error.
"""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.core.periods import Quarter
from pipeline.core.problems import RunRefused

if TYPE_CHECKING:
    from pipeline.core.frames import Analysis

SCHEMA_VERSION = 2
MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE run (
        run_qindex INTEGER PRIMARY KEY, run_quarter TEXT NOT NULL, recorded_at TEXT NOT NULL);
    CREATE TABLE kpi_value (
        run_qindex INTEGER NOT NULL, partner_id TEXT NOT NULL, kpi_id TEXT NOT NULL, quarter TEXT NOT NULL,
        qindex INTEGER NOT NULL, source TEXT NOT NULL, value REAL NOT NULL, months_reported INTEGER NOT NULL,
        PRIMARY KEY (run_qindex, partner_id, kpi_id, qindex, source));
    CREATE TABLE commitment (
        run_qindex INTEGER NOT NULL, partner_id TEXT NOT NULL, commitment_id TEXT NOT NULL, party TEXT,
        description TEXT, owner TEXT, status TEXT, due_date TEXT, baseline_due_date TEXT, first_due_date TEXT,
        last_updated TEXT, percent_complete REAL, linked_kpi_id TEXT, slip_count INTEGER, slip_days INTEGER,
        note TEXT, PRIMARY KEY (run_qindex, partner_id, commitment_id));
    CREATE TABLE health (
        run_qindex INTEGER NOT NULL, partner_id TEXT NOT NULL, score INTEGER, status TEXT,
        PRIMARY KEY (run_qindex, partner_id));
    CREATE TABLE health_component (
        run_qindex INTEGER NOT NULL, partner_id TEXT NOT NULL, component TEXT NOT NULL, points REAL,
        max_points REAL, value REAL, PRIMARY KEY (run_qindex, partner_id, component));
    """,
    2: """
    CREATE TABLE pulse (
        run_qindex INTEGER NOT NULL, partner_id TEXT NOT NULL, quarter TEXT NOT NULL, qindex INTEGER NOT NULL,
        question_id TEXT NOT NULL, question TEXT, score REAL, comment TEXT,
        PRIMARY KEY (run_qindex, partner_id, qindex, question_id));
    """,
}
TABLES = ("kpi_value", "commitment", "health", "health_component", "pulse", "run")
HEALTH_RUN_COLS = ["partner_id", "qindex", "quarter", "score", "status"]
COMPONENT_RUN_COLS = ["partner_id", "qindex", "component", "points", "max_points", "value"]
_PULSE_COLS = ["partner_id", "quarter", "qindex", "question_id", "question", "score", "comment"]
HEALTH_TREND_COLS = ["partner_id", "qindex", "score", "quarter"]
HEALTH_TREND_QUARTERS = 4  # the review's health trend: this quarter and the three before, as far as recorded
_COMMITMENT_COLS = ["partner_id", "commitment_id", "party", "description", "owner", "status", "due_date",
                    "baseline_due_date", "first_due_date", "last_updated", "percent_complete", "linked_kpi_id",
                    "slip_count", "slip_days", "note"]


class HistoryUnusable(RunRefused):
    """The history file cannot be used as it is; the message names it and says what to do. Exit code 2."""


class History:
    """The SQLite history file; a context manager. Created (with its schema) when missing."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # created here, 0666 less the umask like every output (sqlite would make it 0644 whatever the umask)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            pass
        try:
            self.conn = sqlite3.connect(str(self.path))
        except sqlite3.Error as exc:
            raise self._unusable(exc) from exc
        try:
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    # ---------------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        try:
            self.conn.execute("PRAGMA foreign_keys = ON")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version <= SCHEMA_VERSION and self.conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("its integrity check failed")
        except sqlite3.Error as exc:
            raise self._unusable(exc) from exc
        if version > SCHEMA_VERSION:
            raise HistoryUnusable(f"the history file {self.path} was written by a newer partner-review (history "
                                  f"schema {version}; this version reads up to {SCHEMA_VERSION}): upgrade "
                                  "partner-review, or pass --history with another file")
        for v in range(version + 1, SCHEMA_VERSION + 1):
            try:
                with self.conn:
                    self.conn.executescript("BEGIN;" + MIGRATIONS[v] + f"PRAGMA user_version = {v};COMMIT;")
            except sqlite3.Error as exc:
                raise self._unusable(exc) from exc

    def _unusable(self, exc: sqlite3.Error) -> HistoryUnusable:
        """What an sqlite error on the history file means for the user, and what to do."""
        text = str(exc)
        if "locked" in text or "busy" in text:
            return HistoryUnusable(f"the history file {self.path} is in use by another program ({text}): "
                                   "wait for it to finish, then run again")
        if "readonly" in text or "read-only" in text or "unable to open" in text or "disk" in text:
            return HistoryUnusable(f"the history file {self.path} cannot be written ({text}): check that it and "
                                   "its folder are writable and the disk has space, or pass --history with another "
                                   "file")
        return HistoryUnusable(f"the history file {self.path} cannot be read ({text}): it is damaged or not a "
                               "partner-review history. Move it aside (or restore it from a backup) and run again; "
                               "without it the report starts a new, empty history")

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------
    def record(self, analysis: Analysis) -> None:
        """Store the analysed quarter, replacing any earlier record of it, in one transaction."""
        run = analysis.quarter.index
        kq = analysis.kpi_quarterly
        kq = kq[kq["origin"] == "workbook"] if "origin" in kq else kq
        values = []
        for source in ("internal", "partner", "target"):
            part = kq[kq[source].notna()]
            months = part["months_reported"] if source != "target" else pd.Series(0, index=part.index)
            values.append(pd.DataFrame({"run_qindex": run, "partner_id": part["partner_id"], "kpi_id": part["kpi_id"],
                                        "quarter": part["quarter"], "qindex": part["qindex"].astype(int), "source": source,
                                        "value": part[source].astype(float), "months_reported": months.astype(int)}))
        kv = pd.concat(values, ignore_index=True)
        cs = analysis.commitment_status
        cs = cs[~cs["is_dropped"].astype(bool)].reindex(columns=_COMMITMENT_COLS).copy()
        for c in ("due_date", "baseline_due_date", "first_due_date", "last_updated"):
            cs[c] = pd.to_datetime(cs[c], errors="coerce").dt.strftime("%Y-%m-%d")
        cs.insert(0, "run_qindex", run)
        h = analysis.health.reindex(columns=["partner_id", "score", "status"]).copy()
        h.insert(0, "run_qindex", run)
        hb = analysis.health_breakdown.reindex(columns=["partner_id", "component", "points", "max_points", "value"]).copy()
        hb.insert(0, "run_qindex", run)
        pulse = analysis.reconciled.pulse
        pu = pd.DataFrame({"run_qindex": run, "partner_id": pulse["partner_id"], "quarter": pulse["quarter"],
                           "qindex": [Quarter.parse(str(q)).index for q in pulse["quarter"]],
                           "question_id": pulse["question_id"], "question": pulse["question"],
                           "score": pulse["score"].astype(float), "comment": pulse["comment"]})
        try:
            with self.conn:
                for table in TABLES:
                    self.conn.execute(f"DELETE FROM {table} WHERE run_qindex = ?", (run,))
                now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                self.conn.execute("INSERT INTO run VALUES (?, ?, ?)", (run, analysis.quarter.label, now))
                for table, frame in (("kpi_value", kv), ("commitment", cs), ("health", h), ("health_component", hb),
                                     ("pulse", pu)):
                    self._insert(table, frame)
        except sqlite3.Error as exc:
            raise self._unusable(exc) from exc

    def _insert(self, table: str, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
        marks = ", ".join("?" * len(frame.columns))
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(frame.columns)}) VALUES ({marks})", rows)

    # ---------------------------------------------------------------------------------------------
    def snapshot(self, quarter: Quarter, track_quarters: int) -> HistorySnapshot:
        """Everything the analysis of `quarter` compares with, read now (see `HistorySnapshot`)."""
        return HistorySnapshot(quarter=quarter, previous_run=self.previous_run(quarter),
                               kpi_values=self.kpi_values(quarter), commitments=self.commitments(quarter),
                               commitment_runs=self.commitment_runs(quarter, track_quarters),
                               health=self.health(quarter), health_components=self.health_components(quarter),
                               pulse=self.pulse(quarter), reviewed=self.reviewed(quarter),
                               health_runs=self.health_runs(quarter), component_runs=self.component_runs(quarter),
                               health_trend=self.health_trend(quarter, HEALTH_TREND_QUARTERS - 1))

    def runs(self) -> list[Quarter]:
        """The quarters recorded, oldest first."""
        return [Quarter.from_index(r[0]) for r in self.conn.execute("SELECT run_qindex FROM run ORDER BY run_qindex")]

    def previous_run(self, before: Quarter) -> Quarter | None:
        """The latest recorded quarter before ``before`` (the 'last quarter' the comparisons use)."""
        row = self.conn.execute("SELECT MAX(run_qindex) FROM run WHERE run_qindex < ?", (before.index,)).fetchone()
        return None if row[0] is None else Quarter.from_index(row[0])

    def kpi_values(self, before: Quarter) -> pd.DataFrame:
        """For each (partner, kpi, quarter, source in internal | partner | target): the figure the latest
        run before ``before`` recorded. Columns partner_id, kpi_id, quarter, qindex, source, value,
        months_reported, run_quarter."""
        sql = """SELECT partner_id, kpi_id, quarter, qindex, source, value, months_reported, run_qindex FROM (
                   SELECT *, ROW_NUMBER() OVER (PARTITION BY partner_id, kpi_id, qindex, source
                                                ORDER BY run_qindex DESC) AS rn
                   FROM kpi_value WHERE run_qindex < ?) WHERE rn = 1"""
        df = pd.read_sql_query(sql, self.conn, params=(before.index,))
        df["run_quarter"] = _labels(df.pop("run_qindex"))
        return df

    def commitments(self, before: Quarter) -> pd.DataFrame:
        """The commitments as the latest run before ``before`` recorded them (dates as Timestamps)."""
        prev = self.previous_run(before)
        if prev is None:
            return pd.DataFrame(columns=_COMMITMENT_COLS)
        df = pd.read_sql_query(f"SELECT {', '.join(_COMMITMENT_COLS)} FROM commitment WHERE run_qindex = ?",
                               self.conn, params=(prev.index,))
        for c in ("due_date", "baseline_due_date", "first_due_date", "last_updated"):
            df[c] = pd.to_datetime(df[c], errors="coerce")
        return df

    def commitment_runs(self, before: Quarter, count: int) -> pd.DataFrame:
        """The commitments as each of the last ``count`` runs before ``before`` recorded them (those runs'
        quarters only, never ``before`` or later): HISTORY columns plus ``run_qindex``, dates as Timestamps."""
        df = pd.read_sql_query(f"SELECT run_qindex, {', '.join(_COMMITMENT_COLS)} FROM commitment "
                               "WHERE run_qindex < ? AND run_qindex >= ? ORDER BY run_qindex, partner_id, commitment_id",
                               self.conn, params=(before.index, before.index - count))
        for c in ("due_date", "baseline_due_date", "first_due_date", "last_updated"):
            df[c] = pd.to_datetime(df[c], errors="coerce")
        return df

    def health(self, before: Quarter) -> pd.DataFrame:
        """Per partner, the latest health recorded before ``before``: partner_id, quarter, score, status."""
        sql = """SELECT partner_id, run_qindex, score, status FROM (
                   SELECT *, ROW_NUMBER() OVER (PARTITION BY partner_id ORDER BY run_qindex DESC) AS rn
                   FROM health WHERE run_qindex < ?) WHERE rn = 1"""
        df = pd.read_sql_query(sql, self.conn, params=(before.index,))
        df["quarter"] = _labels(df.pop("run_qindex"))
        return df

    def health_trend(self, before: Quarter, quarters: int) -> pd.DataFrame:
        """Every partner's health scores recorded for the `quarters` quarters before ``before``: partner_id,
        qindex, quarter, score (the review's health trend)."""
        df = pd.read_sql_query("SELECT partner_id, run_qindex AS qindex, score FROM health WHERE run_qindex < ? "
                               "AND run_qindex >= ? ORDER BY partner_id, run_qindex", self.conn,
                               params=(before.index, before.index - quarters))
        df["quarter"] = _labels(df["qindex"])
        return df

    def health_components(self, before: Quarter) -> pd.DataFrame:
        """The breakdown behind each partner's latest health before ``before``."""
        sql = """SELECT c.partner_id, c.component, c.points, c.max_points, c.value FROM health_component c JOIN (
                   SELECT partner_id, MAX(run_qindex) AS run_qindex FROM health WHERE run_qindex < ? GROUP BY partner_id
                 ) last USING (partner_id, run_qindex)"""
        return pd.read_sql_query(sql, self.conn, params=(before.index,))

    def health_runs(self, before: Quarter) -> pd.DataFrame:
        """Every partner's health in every run before ``before`` (the portfolio's health over time and the
        history export): partner_id, qindex, quarter, score, status, oldest run first."""
        df = pd.read_sql_query("SELECT partner_id, run_qindex AS qindex, score, status FROM health WHERE run_qindex < ? "
                               "ORDER BY run_qindex, partner_id", self.conn, params=(before.index,))
        df["quarter"] = _labels(df["qindex"])
        df["score"] = df["score"].astype(float)
        return df[HEALTH_RUN_COLS]

    def component_runs(self, before: Quarter) -> pd.DataFrame:
        """The breakdown behind every health in every run before ``before``: partner_id, qindex, component,
        points, max_points, value."""
        return pd.read_sql_query("SELECT partner_id, run_qindex AS qindex, component, points, max_points, value "
                                 "FROM health_component WHERE run_qindex < ? ORDER BY run_qindex, partner_id",
                                 self.conn, params=(before.index,))

    def reviewed(self, before: Quarter) -> pd.DataFrame:
        """partner_id, qindex: the quarters before ``before`` in which each partner was reviewed (and so sent
        a data request for the quarter after)."""
        return pd.read_sql_query("SELECT partner_id, run_qindex AS qindex FROM health WHERE run_qindex < ? "
                                 "ORDER BY partner_id, run_qindex", self.conn, params=(before.index,))

    def pulse(self, before: Quarter) -> pd.DataFrame:
        """How each partner rated each question in each quarter before ``before``, as the latest run before
        ``before`` recorded it: partner_id, quarter, qindex, question_id, question, score (NaN = not
        answered), comment."""
        sql = f"""SELECT {', '.join(_PULSE_COLS)} FROM (
                   SELECT *, ROW_NUMBER() OVER (PARTITION BY partner_id, qindex, question_id
                                                ORDER BY run_qindex DESC) AS rn
                   FROM pulse WHERE run_qindex < ? AND qindex < ?) WHERE rn = 1
                 ORDER BY partner_id, qindex, question_id"""
        df = pd.read_sql_query(sql, self.conn, params=(before.index, before.index))
        df["score"] = df["score"].astype(float)
        return df


@dataclass(frozen=True)
class HistorySnapshot:
    """What the analysis of one quarter reads from the history, read once, before it (`History.snapshot`):
    the analysis itself does no I/O. Every frame holds runs before `quarter` only."""

    quarter: Quarter
    previous_run: Quarter | None   # the 'last quarter' the comparisons use
    kpi_values: pd.DataFrame       # `History.kpi_values`
    commitments: pd.DataFrame      # `History.commitments`: as the previous run recorded them
    commitment_runs: pd.DataFrame  # `History.commitment_runs` over the track record's quarters
    health: pd.DataFrame           # `History.health`
    health_components: pd.DataFrame
    pulse: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_PULSE_COLS))  # `History.pulse`
    reviewed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["partner_id", "qindex"]))  # `History.reviewed`
    health_runs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HEALTH_RUN_COLS))  # `History.health_runs`
    component_runs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COMPONENT_RUN_COLS))
    health_trend: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HEALTH_TREND_COLS))  # `History.health_trend`


def _labels(qindex: pd.Series) -> pd.Series:
    return qindex.map({i: Quarter.from_index(int(i)).label for i in qindex.unique()}).astype("str")
