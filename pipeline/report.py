"""The quarterly run behind ``partner-review report``: load -> analyse -> record history -> charts and
PDFs per partner (in parallel) -> portfolio -> flags.csv, reconciled.xlsx, manifest.json.

Every file is written atomically into ``OUTPUT/<quarter>/``; a re-run of a quarter replaces that
quarter's outputs and nothing else (the e-mail send log beside them is kept).
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline import outputs
from pipeline.periods import Quarter
from pipeline.problems import ERROR, PipelineError, Problems

HISTORY_FILE = "history.sqlite"
MANIFEST = "manifest.json"


@dataclass
class ReportResult:
    quarter: Quarter
    quarter_dir: Path
    expected: list[str]                                 # active partner ids
    written: dict[str, str] = field(default_factory=dict)   # partner_id -> pdf (relative to quarter_dir)
    failed: dict[str, str] = field(default_factory=dict)    # partner_id -> reason
    problems: Problems = field(default_factory=Problems)
    flag_count: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and set(self.written) == set(self.expected)

    def summary(self) -> str:
        c = self.problems.counts()
        head = (f"{self.quarter.label}: {len(self.written)} of {len(self.expected)} partner reviews written to "
                f"{self.quarter_dir}, {self.flag_count} flags, {c[ERROR]} input errors, {c['warning']} warnings")
        if self.failed:
            head += "\n" + "\n".join(f"  failed: {pid}: {why}" for pid, why in sorted(self.failed.items()))
        return head


def history_path_for(output_dir: Path, configured: str, explicit: Path | None) -> Path:
    if explicit is not None:
        return Path(explicit)
    if configured:
        p = Path(configured)
        return p if p.is_absolute() else Path(output_dir) / p
    return Path(output_dir) / HISTORY_FILE


def _render_partner(task: tuple) -> tuple[str, str, int, str]:
    """Worker: charts and PDF for one partner, written atomically. Returns (partner_id, pdf, bytes, error)."""
    view, target = task
    pid = str(view.partner["partner_id"])
    try:
        from pipeline.charts import partner_charts
        from pipeline.render.partner import partner_pdf

        pdf = partner_pdf(view, partner_charts(view))
        outputs.atomic_write(Path(target), pdf)
        return pid, Path(target).name, len(pdf), ""
    except Exception as exc:  # noqa: BLE001 - one partner's failure must not stop the others
        return pid, "", 0, f"{type(exc).__name__}: {exc}"


def _render_all(tasks: list[tuple], jobs: int, progress: Callable) -> list[tuple[str, str, int, str]]:
    results = []
    if jobs <= 1 or len(tasks) <= 2:
        for i, task in enumerate(tasks, 1):
            results.append(_render_partner(task))
            progress("rendering reviews", i, len(tasks))
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_render_partner, t) for t in tasks]
        for i, fut in enumerate(as_completed(futures), 1):
            results.append(fut.result())
            progress("rendering reviews", i, len(tasks))
    return results


def _recipients(text: object) -> list[str]:
    if not isinstance(text, str):
        return []
    return [a.strip() for a in text.replace(",", ";").split(";") if a.strip()]


def run_report(input_dir: Path, output_dir: Path, *, quarter: Quarter | None = None,
               history_path: Path | None = None, jobs: int | None = None,
               progress: Callable[..., None] | None = None) -> ReportResult:
    """Run the quarter. Raises PipelineError only when no review at all can be written."""
    from pipeline.analyse import analyse, default_quarter, partner_view
    from pipeline.history import History
    from pipeline.load import load

    progress = progress or (lambda *a, **k: None)
    output_dir = Path(output_dir)
    if output_dir.resolve() == Path(input_dir).resolve() or Path(input_dir).resolve() in output_dir.resolve().parents:
        raise PipelineError("the output folder must not be inside the input folder: the input is never written to")
    progress("reading workbooks")
    rec = load(Path(input_dir))
    fatal = [p for p in rec.problems if p.code == "NO_PARTNERS"]
    if fatal or rec.partners.empty:
        raise PipelineError("no partner registry could be read, so no review can be written", fatal)
    q = quarter or default_quarter(rec)
    if q is None:
        raise PipelineError("no KPI actuals were found in any workbook, so there is no quarter to review; "
                            "add an Actuals sheet or pass --quarter")
    qdir = output_dir / q.label
    qdir.mkdir(parents=True, exist_ok=True)
    hist_file = history_path_for(output_dir, rec.config["report.history_file"], history_path)
    hist_file.parent.mkdir(parents=True, exist_ok=True)

    progress("analysing")
    with History(hist_file) as history:
        analysis = analyse(rec, q, history)
        history.record(analysis)

    partners = rec.partners.set_index("partner_id", drop=False)
    expected = [pid for pid in rec.active_partner_ids()]
    result = ReportResult(quarter=q, quarter_dir=qdir, expected=expected, problems=rec.problems,
                          flag_count=len(analysis.flags))
    taken: set[str] = set()
    views, tasks = {}, []
    for pid in expected:
        row = partners.loc[pid]
        name = outputs.partner_pdf_name(q.label, row["partner_name"], pid, taken)
        view = partner_view(analysis, pid)
        views[pid] = (view, name)
        tasks.append((view, qdir / name))

    jobs = jobs or os.cpu_count() or 1
    for pid, pdf, size, error in _render_all(tasks, jobs, progress):
        if error:
            result.failed[pid] = error
        else:
            result.written[pid] = pdf

    progress("portfolio")
    from pipeline.render.partner import summary_sentences
    from pipeline.render.portfolio import portfolio_pdf

    portfolio_name = outputs.portfolio_pdf_name(q.label)
    outputs.atomic_write(qdir / portfolio_name, portfolio_pdf(analysis))
    outputs.atomic_write(qdir / "flags.csv", outputs.flags_csv_bytes(analysis.flags))
    progress("reconciled.xlsx")
    outputs.atomic_write(qdir / "reconciled.xlsx", outputs.reconciled_xlsx_bytes(_audit_sheets(analysis)))

    progress("feedback workbooks")
    from pipeline.feedback import write_feedback

    outputs.replace_folder(qdir / "feedback", lambda tmp: write_feedback(Path(input_dir), rec.problems, tmp))

    previous = _read_manifest(qdir)
    manifest = {
        "quarter": q.label,
        "generated_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "organisation": rec.config.organisation,
        "inputs": [{"path": f.path, "sha256": f.sha256} for f in rec.inputs if f.sha256],
        "portfolio_pdf": portfolio_name,
        "partners": [],
        "problems": len(rec.problems.actionable),
    }
    for pid in expected:
        view, name = views[pid]
        if pid not in result.written:
            continue
        flags = view.flags
        manifest["partners"].append({
            "partner_id": pid,
            "partner_name": view.partner.get("partner_name", ""),
            "pdf": result.written[pid],
            "recipients": _recipients(view.partner.get("recipients")),
            "cc": _recipients(view.partner.get("internal_owner_email")),
            "health_score": view.health.get("score"),
            "health_status": view.health.get("status"),
            "flag_count": int(len(flags)),
            "partner_lead": view.partner.get("partner_lead") or "",
            "internal_owner": view.partner.get("internal_owner") or "",
            "summary": " ".join(summary_sentences(view)),
            "top_gaps": [str(m) for m in flags["message"].head(3)] if len(flags) else [],
        })
    new_files = [m["pdf"] for m in manifest["partners"]] + [portfolio_name]
    outputs.atomic_write(qdir / MANIFEST, outputs.manifest_bytes(manifest))
    old_files = [m.get("pdf", "") for m in previous.get("partners", [])] + [previous.get("portfolio_pdf", "")]
    outputs.remove_stale(qdir, old_files, new_files)
    return result


def _audit_sheets(analysis) -> dict:
    """reconciled.xlsx: the reconciled frames, the analysis frames and the problem list, one sheet each."""
    from pipeline.problems import problems_frame

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
    })
    return sheets


def _read_manifest(qdir: Path) -> dict:
    try:
        return json.loads((qdir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
