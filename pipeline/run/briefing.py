"""The meeting briefs of a `report` run (review.md "The meeting brief"): their names, which of them the cache
holds, and the worker job that writes the rest (`pipeline.analyse.brief` decides, `pipeline.render.brief` draws).
A brief that fails costs its own brief, never a review."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pipeline.core.files import atomic_write
from pipeline.run.workers import RUN

BRIEFS = "briefs"         # the internal meeting briefs' folder in the quarter folder
BRIEF_CHUNK = 25          # meeting briefs per worker job (the analysis of a chunk is done at once: fewer, larger)

Job = tuple[str, str, str, str]   # (partner_id, the PDF to write, the cache folder or '', its cache key or '')


def brief_file_name(review_pdf: str) -> str:
    """The meeting brief's file name beside a review's: ``<pdf stem>_BRIEF_INTERNAL.pdf`` (review.md)."""
    return f"{Path(review_pdf).stem}_BRIEF_INTERNAL.pdf"


def briefing_jobs(expected: list[str], names: dict[str, str], folder: Path, cache: Path | None,
                  keys: dict[str, str]) -> tuple[list[Job], list[str]]:
    """(the briefs to write, the cache keys used): each partner's brief copied into `folder` from the cache
    when it holds one under the brief's key, else a job for the workers."""
    from pipeline.write import cache as review_cache

    jobs: list[Job] = []
    kept: list[str] = []
    for pid in expected:
        key = keys.get(pid, "")
        hit = review_cache.get(cache, key) if key and cache is not None else None
        if hit is not None:
            atomic_write(folder / names[pid], hit[0])
            kept.append(key)
        else:
            jobs.append((pid, str(folder / names[pid]), str(cache or "") if key else "", key))
    return jobs, kept


def write_briefs(jobs: list[Job]) -> tuple[dict[str, str], float]:
    """Worker: the internal meeting brief of each (partner_id, path, cache folder or '', cache key), stored in
    the cache too. Returns (partner_id -> why, for the briefs that could not be written; the CPU seconds it
    took). A brief that fails costs its own brief, never a review."""
    from pipeline.analyse.brief import briefs
    from pipeline.render.brief import brief_pdf
    from pipeline.write import cache

    t0 = time.process_time()
    analysis = RUN["analysis"]
    org = analysis.reconciled.config.org
    failed: dict[str, str] = {}
    try:
        made = briefs(analysis, [job[0] for job in jobs])
    except Exception:  # one partner's data broke the chunk: brief each partner alone
        if len(jobs) > 1:
            for job in jobs:
                try:
                    failed.update(write_briefs([job])[0])
                except Exception as exc:
                    failed[job[0]] = f"{type(exc).__name__}: {exc}"
            return failed, time.process_time() - t0
        raise
    for b, (pid, path, folder, key) in zip(made, jobs):
        try:
            pdf = brief_pdf(b, org.reporting_currency, str(org.watermark or ""))
            atomic_write(Path(path), pdf)
            if folder:
                cache.put(Path(folder), key, pdf, {"brief": pid})
        except Exception as exc:
            failed[pid] = f"{type(exc).__name__}: {exc}"
    return failed, time.process_time() - t0


def written_here(analysis: Any, jobs: list[Job]) -> tuple[dict[str, str], float]:
    """The briefs of a job whose worker died, written by this process one by one: (failures, 0.0)."""
    RUN["analysis"] = analysis
    lost: dict[str, str] = {}
    for job in jobs:
        try:
            lost.update(write_briefs([job])[0])
        except Exception as exc:  # its brief is lost, its review is not
            lost[job[0]] = f"{type(exc).__name__}: {exc}"
    return lost, 0.0
