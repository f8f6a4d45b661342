"""The quarterly run behind ``partner-review report``: read -> reconcile -> analyse -> record history ->
charts and PDFs per partner (in parallel, reused from the cache when nothing they show changed) ->
portfolio -> audit files (flags.csv, reconciled.xlsx, feedback workbooks, manifest.json).

The worker processes (`Workers`, ``--jobs``, default the cores) start first and set up matplotlib and
reportlab while this process reads and analyses; they then receive the analysis once and write the
portfolio, reconciled.xlsx and the partner reviews the cache does not hold, while this process records
the history, copies the cached reviews and writes flags.csv and the feedback workbooks.

`progress(stage, done, total)` is called as each stage starts (``read``, ``reconcile``, ``analyse``,
``charts and PDFs``, ``portfolio``, ``audit files``), so a caller can time them.

Every file is written atomically into ``OUTPUT/<quarter>/``; a re-run of a quarter replaces that
quarter's outputs and nothing else (the e-mail send log beside them is kept).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pipeline.core.files import atomic_write, mkdir_aside, replace_folder, swap_in
from pipeline.core.periods import Quarter
from pipeline.core.problems import ERROR, PipelineError, Problems, RunRefused
from pipeline.run.briefing import BRIEF_CHUNK, BRIEFS, brief_file_name, briefing_jobs, write_briefs, written_here
from pipeline.run.manifest import MANIFEST, manifest_entry, read_manifest
from pipeline.run.workers import RUN, Workers
from pipeline.write import outputs
from pipeline.write.requests import request_file_name

HISTORY_FILE = "history.sqlite"
REQUESTS = "requests"     # the data requests' folder in the quarter folder
REQUEST_CHUNK = 25        # data requests per worker job


@dataclass
class ReportResult:
    quarter: Quarter
    quarter_dir: Path
    expected: list[str]                                 # the partners reviewed: active, and begun by the quarter
    written: dict[str, str] = field(default_factory=dict)   # partner_id -> pdf (relative to quarter_dir)
    failed: dict[str, str] = field(default_factory=dict)    # partner_id -> reason
    problems: Problems = field(default_factory=Problems)
    flag_count: int = 0
    reused: list[str] = field(default_factory=list)         # partner ids whose PDF came from the cache
    timings: dict[str, float] = field(default_factory=dict)  # CPU seconds summed over workers: charts, pdfs
    not_yet: dict[str, str] = field(default_factory=dict)   # partner_id -> its first quarter, later than this one
    organisation: str = ""                                  # organisation.name ('' when not set)
    brief_failed: dict[str, str] = field(default_factory=dict)  # partner_id -> why its meeting brief is missing

    @property
    def ok(self) -> bool:
        return not self.failed and set(self.written) == set(self.expected)

    def summary(self) -> str:
        c = self.problems.counts()
        head = (f"{self.quarter.label}: {len(self.written)} of {len(self.expected)} partner reviews written to "
                f"{self.quarter_dir}, {self.flag_count} flags, {c[ERROR]} input errors, {c['warning']} warnings")
        if self.not_yet:
            head += "\n" + "\n".join(f"  no review for {pid}: its first figures are in {first}, after {self.quarter.label}"
                                     for pid, first in sorted(self.not_yet.items()))
        if self.failed:
            head += "\n" + "\n".join(f"  failed: {pid}: {why}" for pid, why in sorted(self.failed.items()))
        if self.brief_failed:
            head += "\n" + "\n".join(f"  no meeting brief for {pid}: {why}"
                                      for pid, why in sorted(self.brief_failed.items()))
        return head


def history_path_for(output_dir: Path, configured: str, explicit: Path | None) -> Path:
    if explicit is not None:
        return Path(explicit)
    if configured:
        p = Path(configured)
        return p if p.is_absolute() else Path(output_dir) / p
    return Path(output_dir) / HISTORY_FILE




@dataclass
class _Task:
    partner_id: str
    target: Path              # the PDF to write
    cache: Path | None        # the quarter's cache folder to store the review in, or None
    key: str = ""             # its cache key
    fingerprint: str = ""     # what the review says (`cache.review_identities`): in its metadata and the manifest


@dataclass
class _Rendered:
    partner_id: str
    pdf: str = ""             # file name in the quarter folder, '' on failure
    size: int = 0
    error: str = ""
    key: str = ""             # cache key, '' when not cached
    reused: bool = False
    chart_s: float = 0.0
    pdf_s: float = 0.0
    entry: dict[str, Any] = field(default_factory=dict)   # the partner's manifest record


def _render_partner(task: _Task) -> _Rendered:
    """Worker: charts and PDF for one partner, written atomically (and stored in the cache)."""
    out = _Rendered(partner_id=task.partner_id, key=task.key)
    try:
        from pipeline.analyse.analysis import partner_view
        from pipeline.chart.charts import partner_charts
        from pipeline.render.partner import partner_pdf
        from pipeline.write import cache

        view = partner_view(RUN["analysis"], task.partner_id)
        # as JSON gives it back, so a record from the cache and a fresh one are the same
        out.entry = json.loads(outputs.manifest_bytes(manifest_entry(view, task.fingerprint)))
        t0 = time.process_time()
        charts = partner_charts(view)
        t1 = time.process_time()
        pdf = partner_pdf(view, charts, task.fingerprint)
        out.chart_s, out.pdf_s = t1 - t0, time.process_time() - t1
        atomic_write(task.target, pdf)
        if task.cache is not None:
            cache.put(task.cache, task.key, pdf, out.entry)
        out.pdf, out.size = task.target.name, len(pdf)
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    return out


def _from_cache(task: _Task) -> _Rendered | None:
    """This process: the partner's review copied from the cache, or None when it has to be rendered."""
    from pipeline.write import cache

    hit = cache.get(task.cache, task.key) if task.cache is not None else None
    if hit is None:
        return None
    pdf, entry = hit
    atomic_write(task.target, pdf)
    return _Rendered(partner_id=task.partner_id, pdf=task.target.name, size=len(pdf), key=task.key, reused=True,
                     entry=entry)


def _write_portfolio(target: Path, briefs: dict[str, str] | None = None) -> float:
    """Worker: the internal portfolio PDF, naming each partner's meeting brief. Returns the CPU seconds it took."""
    from pipeline.render.portfolio import portfolio_pdf

    t0 = time.process_time()
    atomic_write(target, portfolio_pdf(RUN["analysis"], briefs))
    return time.process_time() - t0


def _side(workers: Workers, future: Any, job: Callable[[Path], float], target: Path) -> float:
    """The CPU seconds of a portfolio or reconciled.xlsx job; written by this process if its worker died."""
    status, value = workers.outcome(future)
    return cast(float, value) if status == "ok" else job(target)


def _not_drawn(status: str, value: object) -> str:
    """Why a partner's review is missing when its worker did not come back."""
    if status == "timeout":
        return f"not drawn: drawing it took longer than {value} s; run the report again"
    return f"not drawn: a worker process died ({value}); run the report again"


def _write_requests(jobs: list[tuple[str, str]]) -> int:
    """Worker: the data request workbook of each (partner_id, path). Returns how many were written."""
    from pipeline.analyse.requests import data_requests
    from pipeline.write.requests import write_request

    for request, (_pid, path) in zip(data_requests(RUN["analysis"], [pid for pid, _ in jobs]), jobs):
        write_request(request, Path(path))
    return len(jobs)


def _write_reconciled(target: Path) -> float:
    """Worker: reconciled.xlsx. Returns the CPU seconds it took."""
    t0 = time.process_time()
    atomic_write(target, outputs.reconciled_xlsx_bytes(_audit_sheets(RUN["analysis"])))
    return time.process_time() - t0


def run_report(input_dir: Path, output_dir: Path, *, quarter: Quarter | None = None,
               history_path: Path | None = None, jobs: int | None = None,
               progress: Callable[..., None] | None = None, cache: bool = True, as_of: dt.date | None = None,
               echo: Callable[[str], None] | None = None) -> ReportResult:
    """Run the quarter, its reviews dated `as_of` (default today). Raises PipelineError only when no review
    at all can be written, RunRefused (exit 2) when the folders overlap or another report holds the
    output folder's lock (`pipeline.core.locks`; `echo` is told while this run waits for it).

    With `cache` (the default) a partner's PDF is copied from ``OUTPUT/.cache/`` when nothing it is made
    from changed since a previous run (see `pipeline.write.cache`); the output is the same either way: the same
    inputs, settings, version and `as_of` give byte-identical PDFs."""
    progress = progress or (lambda *a, **k: None)
    output_dir = Path(output_dir)
    why = outputs.overlap(input_dir, output_dir)
    if why:
        raise RunRefused(why)
    from pipeline.core.locks import REPORT, hold
    from pipeline.core.sandbox import available_cores

    with hold(output_dir, REPORT, "partner-review report", echo=echo), Workers(jobs or available_cores()) as workers:
        return _run(Path(input_dir), output_dir, quarter, history_path, workers, progress, cache,
                    as_of or dt.date.today())


def _run(input_dir: Path, output_dir: Path, quarter: Quarter | None, history_path: Path | None, workers: Workers,
         progress: Callable[..., None], cache: bool, as_of: dt.date) -> ReportResult:
    from pipeline.analyse.analysis import TRACK_QUARTERS, analyse, default_quarter
    from pipeline.analyse.history import History
    from pipeline.reconcile.load import load
    from pipeline.write import cache as review_cache
    from pipeline.write.feedback import write_feedback

    rec = load(input_dir, progress=progress, cache_dir=review_cache.read_cache_dir(output_dir) if cache else None)
    fatal = [p for p in rec.problems if p.code == "NO_PARTNERS"]
    if fatal or rec.partners.empty:
        raise PipelineError("no partner registry could be read, so no review can be written", fatal)
    q = quarter or default_quarter(rec)
    if q is None:
        raise PipelineError("no KPI actuals were found in any workbook, so there is no quarter to review; "
                            "add an Actuals sheet or pass --quarter")
    if not rec.has_figures(q):
        latest = default_quarter(rec)
        raise PipelineError(f"{q.label} has no figures at all (no actual or target for any partner), so no review "
                            f"is written; the latest quarter with actuals is {latest.label if latest else 'none'}"
                            + (f": run with --quarter {latest.label}" if latest else ""))
    qdir = output_dir / q.label
    qdir.mkdir(parents=True, exist_ok=True)
    hist_file = history_path_for(output_dir, rec.config.report.history_file, history_path)
    if Path(input_dir).resolve() in hist_file.resolve().parents:
        raise RunRefused(f"the history file {hist_file} is inside the input folder {input_dir}, which is never "
                         "written to; keep it in the output folder (the default) or elsewhere")
    hist_file.parent.mkdir(parents=True, exist_ok=True)

    progress("analyse")
    history = History(hist_file)
    try:
        analysis = analyse(rec, q, history.snapshot(q, TRACK_QUARTERS), as_of=as_of)
    except BaseException:
        history.close()
        raise

    partners = rec.partners.set_index("partner_id", drop=False)
    expected = list(analysis.reviewed)
    result = ReportResult(quarter=q, quarter_dir=qdir, expected=expected, problems=rec.problems,
                          flag_count=len(analysis.flags), not_yet={p: f.label for p, f in analysis.not_yet.items()},
                          organisation=rec.config.organisation)

    portfolio_name = outputs.portfolio_pdf_name(q.label)
    cache_folder = review_cache.cache_dir(output_dir, q.label) if cache else None
    progress("charts and PDFs", 0, len(expected))
    workers.start(analysis, Path(output_dir))
    try:
        # the two longest jobs first; this process meanwhile records the history, works out which
        # reviews the cache holds, copies those, and writes flags.csv and the feedback workbooks
        names = outputs.review_file_names(q.label, [(pid, cast(str, partners.loc[pid, "partner_name"])) for pid in expected])
        brief_names = {pid: brief_file_name(names[pid]) for pid in expected}
        write_portfolio = functools.partial(_write_portfolio, briefs={p: f"{BRIEFS}/{n}" for p, n in brief_names.items()})
        side = {"portfolio": workers.submit(write_portfolio, qdir / portfolio_name),
                "reconciled.xlsx": workers.submit(_write_reconciled, qdir / "reconciled.xlsx")}
        history.record(analysis)
        history.close()
        tasks: list[_Task] = []
        cached: list[_Task] = []
        identities = review_cache.review_identities(analysis, as_of)
        for pid in expected:
            key, fingerprint = identities[pid]
            key = key if cache else ""
            task = _Task(pid, qdir / names[pid], cache_folder if key else None, key, fingerprint)
            hit = task.cache is not None and (task.cache / f"{key}.pdf").is_file()
            (cached if hit else tasks).append(task)
        # the data requests (`requests/`), written by the workers into a folder that replaces the old one
        nxt = q.shift(1).label
        requests = {pid: request_file_name(names[pid], q.label, nxt) for pid in expected}
        req_tmp = mkdir_aside(qdir / REQUESTS)
        req_chunks = [expected[i:i + REQUEST_CHUNK] for i in range(0, len(expected), REQUEST_CHUNK)]
        asking = {workers.submit(_write_requests, [(pid, str(req_tmp / requests[pid])) for pid in chunk]): chunk
                  for chunk in req_chunks}
        # the meeting briefs (`briefs/`), ours alone, the same way; those the cache holds copied here
        brief_tmp = mkdir_aside(qdir / BRIEFS)
        brief_cache = cache_folder / BRIEFS if cache_folder is not None else None
        brief_keys = review_cache.brief_keys(analysis, {t.partner_id: t.key for t in tasks + cached}) if cache else {}
        to_brief, briefs_kept = briefing_jobs(expected, brief_names, brief_tmp, brief_cache, brief_keys)
        # the briefs' chunks spread over the first four fifths of the reviews, so the progress moves from the start
        # and the last jobs are short reviews: the workers finish together
        brief_chunks = [to_brief[i:i + BRIEF_CHUNK] for i in range(0, len(to_brief), BRIEF_CHUNK)]
        step = max(1, (len(tasks) * 4 // 5) // max(len(brief_chunks), 1))
        briefing: dict[Any, list[tuple[str, str, str, str]]] = {}
        drawing: dict[Any, _Task] = {}
        for i, task in enumerate(tasks):
            if i % step == 0 and brief_chunks:
                jobs = brief_chunks.pop(0)
                briefing[workers.submit(write_briefs, jobs)] = jobs
            drawing[workers.submit(_render_partner, task)] = task
        for jobs in brief_chunks:
            briefing[workers.submit(write_briefs, jobs)] = jobs
        reused = []
        for task in cached:
            r = _from_cache(task)
            if r is None:  # a damaged entry: deleted by cache.get, rendered afresh
                drawing[workers.submit(_render_partner, task)] = task
            else:
                reused.append(r)
        atomic_write(qdir / "flags.csv", outputs.flags_csv_bytes(analysis.flags))
        replace_folder(qdir / "feedback", lambda tmp: write_feedback(
            Path(input_dir), rec.problems, tmp, limits=rec.config.values["limits"]))
        keys_used, entries = [], {}

        def drawn(r: _Rendered) -> None:
            if r.error:
                result.failed[r.partner_id] = r.error
            else:
                result.written[r.partner_id] = r.pdf
                entries[r.partner_id] = r.entry
                keys_used.append(r.key)
            if r.reused:
                result.reused.append(r.partner_id)
            result.timings["charts"] = result.timings.get("charts", 0.0) + r.chart_s
            result.timings["pdfs"] = result.timings.get("pdfs", 0.0) + r.pdf_s
            progress("charts and PDFs", len(result.written) + len(result.failed), len(expected))

        for r in reused:
            drawn(r)
        for task, (status, value) in workers.outcomes(drawing):
            drawn(cast(_Rendered, value) if status == "ok"
                  else _Rendered(partner_id=task.partner_id, error=_not_drawn(status, value)))
        for chunk, (status, _value) in workers.outcomes(asking):
            if status != "ok":  # its worker died: written here (a workbook of our own making, nothing hostile)
                RUN["analysis"] = analysis
                _write_requests([(pid, str(req_tmp / requests[pid])) for pid in chunk])
        swap_in(req_tmp, qdir / REQUESTS)
        for brief_jobs, (status, value) in workers.outcomes(briefing):
            failed_briefs, seconds = cast("tuple[dict[str, str], float]", value) if status == "ok" else \
                written_here(analysis, brief_jobs)   # its worker died: each partner's brief written here
            briefs_kept.extend(j[3] for j in brief_jobs if j[3] and j[0] not in failed_briefs)
            result.brief_failed.update(failed_briefs)
            result.timings["briefs"] = result.timings.get("briefs", 0.0) + seconds
        swap_in(brief_tmp, qdir / BRIEFS)
        progress("portfolio")
        result.timings["portfolio"] = _side(workers, side["portfolio"], write_portfolio, qdir / portfolio_name)
        progress("audit files")
        result.timings["reconciled.xlsx"] = _side(workers, side["reconciled.xlsx"], _write_reconciled,
                                                  qdir / "reconciled.xlsx")
    finally:
        history.close()
    if cache_folder is not None:
        review_cache.prune(cache_folder, keys_used)
        if brief_cache is not None:
            review_cache.prune(brief_cache, briefs_kept)

    previous = read_manifest(qdir)
    manifest: dict[str, Any] = {
        "quarter": q.label,
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "as_of": as_of.isoformat(),
        "organisation": rec.config.organisation,
        "inputs": [{"path": f.path, "sha256": f.sha256} for f in rec.inputs if f.sha256],
        "portfolio_pdf": portfolio_name,
        "partners": [],
        "problems": len(rec.problems.actionable),
    }
    for pid in expected:
        if pid in result.written:
            manifest["partners"].append(dict(entries[pid], pdf=result.written[pid],
                                             request=f"{REQUESTS}/{requests[pid]}",
                                             **({} if pid in result.brief_failed else
                                                {"brief": f"{BRIEFS}/{brief_names[pid]}"})))
    new_files = [m["pdf"] for m in manifest["partners"]] + [portfolio_name]
    atomic_write(qdir / MANIFEST, outputs.manifest_bytes(manifest))
    old_files = [m.get("pdf", "") for m in previous.get("partners", [])] + [previous.get("portfolio_pdf", "")]
    outputs.remove_stale(qdir, old_files, new_files)
    return result


def _audit_sheets(analysis) -> dict:
    """reconciled.xlsx: the reconciled frames, the analysis frames and the problem list, one sheet each, and
    `history`: one row per partner and recorded quarter (see docs/history.md)."""
    from pipeline.core.problems import problems_frame

    rec = analysis.reconciled
    sheets = dict(rec.frames())
    sheets.update({
        "kpi_quarterly": analysis.kpi_quarterly,
        "commitment_status": analysis.commitment_status,
        "delivery": analysis.delivery,
        "flags": analysis.flags,
        "health": analysis.health,
        "health_breakdown": analysis.health_breakdown,
        "problems": problems_frame(rec.problems),
        # the analysts' cross-quarter table: health, its components and KPI attainment per partner and quarter
        "history": analysis.programme.history,
    })
    return sheets
