"""The analysis of one quarter: KPIs, commitments, flags and health, and each partner's slice of it.

    snapshot = History(path).snapshot(quarter, TRACK_QUARTERS)   # the edge: read once
    analysis = analyse(rec, quarter, snapshot, as_of=day)          # pure
    view = partner_view(analysis, partner_id)

Pure over frames: the history comes in as a snapshot read before, the report date as a parameter.
docs/analysis.md holds the rules.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace
from typing import Any, cast

import numpy as np
import pandas as pd

from pipeline.analyse.brief import without_alternative
from pipeline.analyse.commitments import commitment_status, delivery, track_record
from pipeline.analyse.findings import agenda, build_findings, top_gaps
from pipeline.analyse.flags import FlagInputs, build_flags
from pipeline.analyse.health import health_scores, score_explanation
from pipeline.analyse.history import History, HistorySnapshot
from pipeline.analyse.kpis import beyond_tolerance, disagreements, kpi_definitions, kpi_tables
from pipeline.analyse.moves import change_reasons
from pipeline.analyse.programme import programme
from pipeline.analyse.pulse import pulse_sentence, pulse_table, request_returns
from pipeline.analyse.restatements import restatements
from pipeline.analyse.story import change_columns, next_quarter, story
from pipeline.analyse.summary import summary_sentences
from pipeline.core.frames import Analysis, PartnerView, Reconciled, Thresholds, partner_spans
from pipeline.core.periods import Quarter, quarter_range
from pipeline.core.problems import ERROR, WARNING
from pipeline.core.schema import BEYOND_TOLERANCE, DISCREPANCY, FRAMES

TRACK_QUARTERS = 4  # the commitment track record covers the reviewed quarter and the three before it


def default_quarter(rec: Reconciled) -> Quarter | None:
    """The latest quarter that has actuals, or None when there are none."""
    quarters = rec.quarters_with_actuals()
    return quarters[-1] if quarters else None


def reviewed_partner_ids(rec: Reconciled, quarter: Quarter) -> tuple[list[str], dict[str, Quarter]]:
    """The partners reviewed for `quarter` (flags, a health score, a review), in registry order, and those
    left out because they had not begun: their first actual, own target or check-in (`Reconciled.first_quarters`)
    is later than the quarter. A partner with nothing on record at all is reviewed (and has too little
    to measure): the registry says it is a partner."""
    first = rec.first_quarters()
    reviewed, not_yet = [], {}
    for pid in map(str, rec.active_partner_ids()):
        if pid in first and first[pid].index > quarter.index:
            not_yet[pid] = first[pid]
        else:
            reviewed.append(pid)
    return reviewed, not_yet


def analyse(rec: Reconciled, quarter: Quarter, history: HistorySnapshot | History | None = None,
            as_of: dt.date | None = None) -> Analysis:
    """Analyse ``quarter`` over the reconciled frames, comparing with the history of earlier quarters when
    given; the reviews bear the date `as_of` (default today). Pure: `history` is a `HistorySnapshot` read
    at the edge (a `History` is read into one here, for callers that have no snapshot)."""
    if history is not None and not isinstance(history, HistorySnapshot):
        history = history.snapshot(quarter, TRACK_QUARTERS)
    config = rec.config
    thresholds = Thresholds.of(config)
    defs = kpi_definitions(rec.kpis)
    partner_ids, not_yet = reviewed_partner_ids(rec, quarter)
    recorded = history.kpi_values if history is not None else None
    kq, conflicts = kpi_tables(rec.kpi_values, rec.targets, rec.kpis, config, quarter.index, recorded)
    previous = history.commitments if history is not None else None
    cs = commitment_status(rec.commitments, quarter, config, previous,
                           partner_ids=[str(p) for p in rec.partners["partner_id"]])
    dl = delivery(cs)
    problems = list(rec.problems)
    status = rec.partners.set_index("partner_id")["status"] if len(rec.partners) else pd.Series(dtype="str")
    paused = [p for p in partner_ids if str(status.get(p, "")) == "paused"]
    fi = FlagInputs(quarter=quarter, config=config, partner_ids=partner_ids, kpi_quarterly=kq, kpi_defs=defs,
                    conflicts=conflicts, commitments=cs, delivery=dl, checkins=rec.checkins,
                    has_checkins_sheet=rec.has_checkins_sheet, problems=problems,
                    restated=restatements(kq, recorded, quarter, config.kpi.restated_tolerance),
                    previous_run=history.previous_run if history is not None else None, paused=paused,
                    their_files=_their_files(rec), excluded=rec.excluded_figures)
    flags = build_flags(fi)
    names = dict(zip(rec.partners["partner_id"].astype(str), rec.partners["partner_name"].astype(str)))
    findings, themes = build_findings(flags, defs, cs, names)
    health, breakdown = health_scores(quarter, config, partner_ids, kq, defs, cs, rec.checkins,
                                      rec.has_checkins_sheet, problems, paused)
    changes: dict[str, list[str]] = {}
    if history is not None:
        health, changes = change_reasons(health, breakdown, history.health, history.health_components,
                                         kq, defs, cs, quarter, config.currency, thresholds.edges)
    quarters = quarter_range(quarter, int(config.report.trend_quarters))
    pulse = pulse_table(rec.pulse, history.pulse if history is not None else None, quarter, partner_ids)
    runs = history.commitment_runs if history is not None else None
    track = track_record(cs, quarter, config, runs, TRACK_QUARTERS)
    recon = disagreements(kq, quarter.index, thresholds.tolerance)
    scored = health[["partner_id", "score"]].assign(qindex=quarter.index, quarter=quarter.label) if len(health) else None
    past = history.health_trend if history is not None else None
    trend = pd.concat([f for f in (past, scored) if f is not None and len(f)], ignore_index=True) \
        if any(f is not None and len(f) for f in (past, scored)) else pd.DataFrame(columns=["partner_id"])
    analysis = Analysis(quarter=quarter, quarters=quarters, kpi_quarterly=kq, commitment_status=cs, delivery=dl,
                    flags=flags, health=health, health_breakdown=breakdown, reconciled=rec,
                    kpi_definitions=defs, conflicts=conflicts, restated=fi.restated, track_record=track,
                    disagreements=recon, changes=changes, findings=findings, themes=themes,
                    as_of=as_of or dt.date.today(), thresholds=thresholds, reviewed=partner_ids, not_yet=not_yet,
                    pulse=pulse, health_trend=trend,
                    returns=request_returns(pulse, history.reviewed if history is not None else None, health, quarter))
    analysis.programme = programme(analysis, history)
    analysis.no_alternative = without_alternative(rec.canvas, partner_ids)
    return analysis


class _PartnerSlices:
    """Every per-partner frame sorted once by partner, so each view is a handful of cheap slices."""

    def __init__(self, analysis: Analysis):
        rec = analysis.reconciled
        self.frames: dict[str, tuple[pd.DataFrame, dict[str, tuple[int, int]]]] = {}
        # the view columns of kpi_quarterly (schema.VIEW_COLUMNS) worked out once for every partner
        kq = analysis.kpi_quarterly
        kq = change_columns(kq.assign(**{BEYOND_TOLERANCE: beyond_tolerance(kq[DISCREPANCY], analysis.thresholds.tolerance)}),
                            _definitions(analysis))
        for name, frame in (("kpi_quarterly", kq),
                            ("commitments", analysis.commitment_status.drop(columns=["internal_note"], errors="ignore")),
                            ("delivery", analysis.delivery), ("flags", analysis.flags),
                            ("health_breakdown", analysis.health_breakdown), ("checkins", rec.checkins),
                            ("partners", rec.partners), ("health", analysis.health),
                            ("track_record", _frame(analysis.track_record)),
                            ("disagreements", _frame(analysis.disagreements)),
                            ("findings", _frame(analysis.findings)), ("themes", _frame(analysis.themes)),
                            ("pulse", _frame(analysis.pulse)), ("targets", rec.targets),
                            ("health_trend", _frame(analysis.health_trend))):
            ordered = frame.sort_values("partner_id", kind="stable").reset_index(drop=True)  # stable: keeps flag order
            pids = ordered["partner_id"].astype("str").to_numpy()
            starts = np.flatnonzero(np.r_[True, pids[1:] != pids[:-1]]) if len(pids) else np.array([], dtype=int)
            stops = np.r_[starts[1:], len(pids)]
            self.frames[name] = (ordered, {pids[a]: (a, b) for a, b in zip(starts, stops)})
        health_rows = cast("list[dict[str, Any]]", analysis.health.to_dict("records"))  # str column names
        self.health = {r["partner_id"]: r for r in health_rows}
        files = [f[["partner_id", "file"]] for f in (rec.kpi_values, rec.targets, rec.commitments, rec.checkins, rec.partners,
                                                     rec.pulse)
                 if "file" in f and len(f)]
        pairs = pd.concat(files).dropna().drop_duplicates() if files else pd.DataFrame(columns=["partner_id", "file"])
        pairs = pairs[pairs["file"].astype("str") != ""]
        theirs = _their_files(rec)
        self.sources = {pid: _cited(files, theirs.get(str(pid), set())) for pid, files in
                        pairs.groupby("partner_id")["file"].agg(lambda s: sorted(map(str, s))).to_dict().items()}
        self.problems: dict[str, list] = {}
        for p in rec.problems:
            if p.partner_id and p.severity in (ERROR, WARNING):
                mine = not p.file or p.file in theirs.get(p.partner_id, set())
                self.problems.setdefault(p.partner_id, []).append(
                    replace(p, file=as_sent(p.file)) if mine and p.file else p if mine else replace(p, file=OUR_RECORDS))
        self.changes = analysis.changes

    def take(self, name: str, partner_id: str) -> pd.DataFrame:
        frame, spans = self.frames[name]
        a, b = spans.get(partner_id, (0, 0))
        return frame.iloc[a:b].reset_index(drop=True)


# What provenance a partner sees (docs/analysis.md, "Provenance in a partner review"): the files they sent us
# (partner-reported actuals, a returned data request) by name, sheet and cell, so they can check their own
# cells; ours (registry, plan, CRM exports, commitments log) by this neutral label, never by our file paths.
OUR_RECORDS = "our records"


def _their_files(rec: Reconciled) -> dict[str, set[str]]:
    """partner_id -> the input files holding what that partner itself reported (its actuals, its pulse)."""
    out: dict[str, set[str]] = {}
    kv = rec.kpi_values
    frames = [kv[kv["source"].astype(str) == "partner"] if "source" in kv else kv.iloc[:0], rec.pulse]
    for f in frames:
        if "file" in f and len(f):
            for pid, file in zip(f["partner_id"].astype(str), f["file"].astype(str)):
                if file:
                    out.setdefault(pid, set()).add(file)
    return out


def as_sent(path: str) -> str:
    """A file the partner sent us, as they know it: its name, without the folder we filed it in."""
    return path.rsplit("/", 1)[-1]


def _cells_as_sent(cells: pd.Series) -> pd.Series:
    """'partner_returns/X.xlsx › Sheet › D11; other/Y.xlsx › …' as 'X.xlsx › Sheet › D11; Y.xlsx › …'."""
    return cells.astype("str").str.replace(r"(^|; )[^;›]*/", r"\1", regex=True)


def _as_they_see_it(disagreements: pd.DataFrame) -> pd.DataFrame:
    """One partner's disagreements with our cells as `OUR_RECORDS` and theirs by file name (`as_sent`)."""
    d = disagreements.assign(internal_cells=OUR_RECORDS)
    return d.assign(partner_cells=_cells_as_sent(d["partner_cells"])) if len(d) and "partner_cells" in d else d


def _cited(files: list[str], theirs: set[str]) -> list[str]:
    """A partner's sources as its review names them: its own files by name, then ours as one neutral label."""
    own = [as_sent(f) for f in files if f in theirs]
    return own + ([OUR_RECORDS] if len(own) < len(files) else [])


def _frame(frame: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame(columns=["partner_id"]) if frame is None else frame


def _slices(analysis: Analysis) -> _PartnerSlices:
    if analysis.slices is None:
        analysis.slices = _PartnerSlices(analysis)
    return analysis.slices


def partner_view(analysis: Analysis, partner_id: str) -> PartnerView:
    """One partner's slice: only its rows in every frame, no internal_note, its own problems and sources.

    Everything read here per partner comes from `_PartnerSlices`, and `partner_digests` hashes exactly
    that: a new input to a view must be added to both (tests/test_cache.py checks the fields). What is
    derived here from those inputs and the settings (both hashed) is not hashed again: the verdicts of
    `schema.VIEW_COLUMNS`, the summary sentences, the thresholds and the score's explanation."""
    rec = analysis.reconciled
    sl = _slices(analysis)
    partners = sl.take("partners", partner_id)
    if not len(partners):
        raise KeyError(f"partner {partner_id!r} is not in the registry")
    partner = {c: partners.iloc[0][c] for c in FRAMES["partners"] if c in partners}
    thresholds = analysis.thresholds
    kq = sl.take("kpi_quarterly", partner_id)
    defs = _definitions(analysis)
    kpis = defs[defs["kpi_id"].isin(set(kq.loc[kq["actual"].notna() | kq["target"].notna(), "kpi_id"]))].reset_index(drop=True)
    health = {k: (v.item() if hasattr(v, "item") else v) for k, v in sl.health.get(partner_id, {}).items()}
    breakdown = sl.take("health_breakdown", partner_id)
    view = PartnerView(
        quarter=analysis.quarter, quarters=list(analysis.quarters), partner=partner, organisation=rec.config.organisation,
        kpis=kpis, kpi_quarterly=kq, commitments=sl.take("commitments", partner_id), delivery=sl.take("delivery", partner_id),
        flags=sl.take("flags", partner_id), health=health, health_breakdown=breakdown,
        checkins=sl.take("checkins", partner_id), problems=list(sl.problems.get(partner_id, [])),
        sources=list(sl.sources.get(partner_id, [])), config=rec.config, as_of=analysis.as_of,
        changes=list(sl.changes.get(partner_id, [])), why=score_explanation(health, breakdown),
        track_record=sl.take("track_record", partner_id),
        disagreements=_as_they_see_it(sl.take("disagreements", partner_id)),
        thresholds=thresholds, findings=sl.take("findings", partner_id), themes=sl.take("themes", partner_id))
    view.pulse = sl.take("pulse", partner_id)
    view.pulse_sentence = pulse_sentence(view.pulse, analysis.quarter, "You")   # said to them, in their review
    view.top_gaps = top_gaps(view.findings)
    view.agenda = agenda(view.themes, paused=health.get("state") == "paused")
    view.summary = summary_sentences(view)
    view.next_quarter = next_quarter(view, sl.take("targets", partner_id))
    view.story = story(view, view.next_quarter.due, sl.take("health_trend", partner_id))
    return view


def _definitions(analysis: Analysis) -> pd.DataFrame:
    defs = analysis.kpi_definitions
    return kpi_definitions(analysis.reconciled.kpis) if defs is None else defs


# settings that change nothing a review says: left out of the content fingerprint
_NOT_SHOWN = {("report", "history_file"), ("limits", None)}


def partner_digests(analysis: Analysis, content: bool = False) -> tuple[bytes, dict[str, bytes]]:
    """What `partner_view` is made from, hashed: (the part every view shares, partner_id -> its own part).

    Computed for the whole portfolio at once (one vectorised hash per frame row), so a re-run can tell
    which reviews are unchanged without building any view. Shared: the quarter and trend window, the
    organisation, the config, the KPI definitions, and each sliced frame's columns. Own: the partner's rows
    of every sliced frame (with the frame's dtypes), its problems, source files and change sentences.

    With `content`, what the review says rather than its exact inputs (the send log's fingerprint): floats
    to 9 significant digits (a library's last-bit drift is not new content), no dtypes, and no setting that
    changes nothing shown (file limits, the history file's path)."""
    sl = _slices(analysis)
    rec = analysis.reconciled
    settings = {sec: {k: v for k, v in keys.items() if not content or (sec, k) not in _NOT_SHOWN}
                for sec, keys in rec.config.values.items() if not content or (sec, None) not in _NOT_SHOWN}
    shared = hashlib.sha256()
    shared.update(repr((analysis.quarter.label, [q.label for q in analysis.quarters], rec.config.organisation,
                        sorted(settings.items(), key=repr))).encode("utf-8", "surrogatepass"))
    defs = _definitions(analysis)
    shared.update(_row_hashes(defs, content).tobytes() + repr(list(map(str, defs.columns))).encode())
    rows, dtypes = {}, {}
    for name, (frame, _spans) in sl.frames.items():
        shared.update(repr((name, list(map(str, frame.columns)))).encode())
        # dtypes count only where the partner has rows: an empty frame's dtypes are not data
        dtypes[name] = b"" if content else repr([str(t) for t in frame.dtypes]).encode()
        rows[name] = _row_hashes(frame, content)
    own: dict[str, bytes] = {}
    for pid in sl.frames["partners"][1]:
        h = hashlib.sha256()
        for name, (_frame, spans) in sl.frames.items():
            a, b = spans.get(pid, (0, 0))
            h.update(name.encode() + b"%d:" % (b - a) + (dtypes[name] + rows[name][a:b].tobytes() if b > a else b""))
        h.update(repr((sl.problems.get(pid, []), sl.sources.get(pid, []), sl.changes.get(pid, [])))
                 .encode("utf-8", "surrogatepass"))
        own[pid] = h.digest()
    return shared.digest(), own


def brief_digests(analysis: Analysis) -> dict[str, bytes]:
    """What a partner's meeting brief is made from beyond its review's inputs (`partner_digests`), hashed per
    partner: its Canvas rows and its targets for next quarter (the resets). A brief's cache key is its review's
    key with this."""
    rec = analysis.reconciled
    nxt = rec.targets[rec.targets["quarter"] == analysis.quarter.shift(1).label]
    out: dict[str, bytes] = {}
    for name, frame in (("canvas", rec.canvas), ("targets", nxt)):
        frame = frame.sort_values("partner_id", kind="stable").reset_index(drop=True)
        rows = _row_hashes(frame)
        for pid, (a, b) in partner_spans(frame["partner_id"].astype("str").to_numpy()).items():
            out[pid] = out.get(pid, b"") + name.encode() + rows[a:b].tobytes()
    return out


def _significant(values: np.ndarray, digits: int = 9) -> np.ndarray:
    """Floats rounded to `digits` significant digits (zeros, NaN and infinities as they are)."""
    out = values.astype("float64", copy=True)
    ok = np.isfinite(out) & (out != 0)
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(out[ok]))))
    out[ok] = np.round(out[ok] * scale) / scale
    return out


def _row_hashes(frame: pd.DataFrame, content: bool = False) -> np.ndarray:
    """One 64-bit hash per row over every column. Numbers, booleans, dates and text hash by value (floats by
    their bits, so -0.0 is not 0.0; NaN and None kept apart from any text); mixed object columns by
    ``repr``, so 1, 1.0 and "1" differ. With `content`, floats first rounded to 9 significant digits."""
    if not len(frame.columns):
        return np.zeros(len(frame), dtype="uint64")
    cols = {}
    for i in range(frame.shape[1]):
        s = frame.iloc[:, i].reset_index(drop=True)  # aligned by position, whatever the frame's index
        if s.dtype == object:
            s = s.map(repr)
        elif s.dtype.kind == "f":  # by their bits: pandas' hash takes -0.0 for 0.0, which print differently
            x = s.to_numpy(dtype="float64")
            s = pd.Series((_significant(x) if content else x).view("uint64"))
        cols[str(i)] = s
    return pd.util.hash_pandas_object(pd.DataFrame(cols), index=False).to_numpy()
