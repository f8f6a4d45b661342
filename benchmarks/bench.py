"""`make bench`: a synthetic portfolio, the full `report`, and the figures that matter.

    python benchmarks/bench.py --partners 200 [--compare] [--rerun] [--jobs N]

Prints wall time per stage (read, reconcile, analyse, charts and PDFs, portfolio, audit files), the
CPU seconds the workers spent on charts and on PDFs, peak memory of the run and its worker processes,
the total output size and the largest partner PDF. `--compare` also times the plain
pandas + openpyxl + pyplot script on the same files and prints the ratio. `--rerun` changes one
partner's workbook and times a second run, which takes unchanged reviews from the cache
(`--no-cache` renders everything both times). Timing is never part of `make test`.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.core.periods import Quarter  # noqa: E402
from pipeline.write.synthetic import write_portfolio  # noqa: E402


class StageTimer:
    """The report's progress callback, turned into wall time per stage."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._stage = None
        self._t = time.perf_counter()

    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None:
        now = time.perf_counter()
        if stage != self._stage:
            if self._stage is not None:
                self.stages[self._stage] = self.stages.get(self._stage, 0.0) + now - self._t
            self._stage, self._t = stage, now

    def finish(self) -> dict[str, float]:
        self("done")
        return self.stages


def _run(inp: Path, out: Path, jobs: int | None, cache: bool = True) -> tuple[float, dict[str, float]]:
    from pipeline.run.report import run_report

    timer = StageTimer()
    t0 = time.perf_counter()
    result = run_report(inp, out, jobs=jobs, progress=timer, cache=cache)
    wall = time.perf_counter() - t0
    if not result.ok:
        print(f"  warning: {len(result.failed)} partner reviews failed: {list(result.failed.items())[:3]}")
    stages = timer.finish()
    print(f"  {len(result.written) - len(result.reused)} reviews rendered, {len(result.reused)} reused from the cache; "
          "worker CPU: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()))
    return wall, stages


def _accelerators() -> str:
    found = []
    for mod, label in (("_rl_accel", "rl-accel"),):
        try:
            __import__(mod)
            found.append(label)
        except ImportError:
            found.append(f"no {label}")
    return ", ".join(found)


def _mb(kb: int) -> float:
    return kb / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partners", type=int, default=200)
    ap.add_argument("--kpis", type=int, default=12)
    ap.add_argument("--quarters", type=int, default=8)
    ap.add_argument("--commitments", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--compare", action="store_true", help="also time the plain pandas+openpyxl+pyplot script")
    ap.add_argument("--rerun", action="store_true", help="time a re-run after one partner's workbook changed")
    ap.add_argument("--no-cache", action="store_true", help="render every review (the cache is on by default)")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work")
    args = ap.parse_args(argv)

    work = args.work / f"n{args.partners}"
    inp, out = work / "input", work / "output"
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    spec = write_portfolio(inp, partners=args.partners, kpis=args.kpis, quarters=args.quarters,
                           commitments=args.commitments)
    print(f"portfolio: {args.partners} partners x {spec.kpis} KPIs x {args.quarters} quarters x "
          f"{args.commitments} commitments in {len(spec.files)} workbooks (generated in {time.perf_counter() - t0:.1f} s)")
    # dated a minute back, as a quarter's workbooks are dropped before the run: a file changed within two
    # seconds of a run is hashed again by the next one (the read cache's racy rule), which a freshly
    # generated portfolio would otherwise pay for in --rerun
    back = time.time() - 60
    for path in inp.rglob("*"):
        if path.is_file():
            os.utime(path, (back, back))

    print(f"machine: {os.cpu_count()} cores; {_accelerators()}")
    wall, stages = _run(inp, out, args.jobs, cache=not args.no_cache)
    qdir = out / spec.last_quarter.label
    pdfs = sorted(qdir.glob("*_partnership-review.pdf"), key=lambda p: p.stat().st_size)
    total = sum(p.stat().st_size for p in qdir.rglob("*") if p.is_file())
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"full run: {wall:.1f} s")
    for stage, secs in stages.items():
        print(f"  {stage:<22} {secs:7.2f} s")
    print(f"peak memory: main process {_mb(me):.0f} MB, largest worker {_mb(kids):.0f} MB")
    print(f"output: {len(pdfs)} partner PDFs, {total / 1e6:.1f} MB in all, largest PDF "
          f"{pdfs[-1].stat().st_size / 1e3:.0f} kB ({pdfs[-1].name})" if pdfs else "output: no PDFs")

    if args.rerun:
        from openpyxl import load_workbook

        own = sorted((inp / "actuals" / "from_partners").glob("*.xlsx"))[0]
        wb = load_workbook(own)
        ws = wb["Actuals"]
        ws.cell(row=ws.max_row, column=4).value = (ws.cell(row=ws.max_row, column=4).value or 0) * 1.01
        wb.save(own)
        rewall, restages = _run(inp, out, args.jobs, cache=not args.no_cache)
        print(f"re-run after one partner's workbook changed: {rewall:.1f} s = {rewall / wall:.0%} of the full run")
        for stage, secs in restages.items():
            print(f"  {stage:<22} {secs:7.2f} s")

    if args.compare:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from plain_script import run as plain_run

        t0 = time.perf_counter()
        times = plain_run(inp, work / "plain", spec.last_quarter.label)
        plain = time.perf_counter() - t0
        print(f"plain script: {plain:.1f} s (read {times['read']:.1f}, charts {times['charts']:.1f}, pdfs {times['pdfs']:.1f})")
        print(f"ratio: partner-review takes {wall / plain:.2f} x the plain script's time ({plain / wall:.1f} x faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
