"""The worker processes that draw a run's reviews, and where each job finds the analysis.

`Workers` starts them first (a `pipeline.core.sandbox.Sandbox`: forked where the system can fork, so they
start with what this process has imported; spawned elsewhere), so that they set up matplotlib and
reportlab while this process reads and analyses. `start` then pickles the analysis once into a private
file in the output folder; every job names that file and a worker loads it at its first job (`with_analysis`),
so nothing is inherited and spawn works the same as fork. With ``jobs <= 1``, or when the pool stopped
before the work, the jobs run in this process. `RUN` holds the analysis where the jobs run.
"""
from __future__ import annotations

import concurrent.futures as cf
import gc
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pipeline.core.sandbox import Outcome, Sandbox, SandboxBroken

# this run's Analysis where the jobs run: a worker's copy (loaded by `with_analysis`), or this process's own
RUN: dict[str, Any] = {}
DRAW_SECONDS = 900.0   # a job that draws for longer is stopped and its review reported as not drawn
K = TypeVar("K")


class Workers:
    """The drawing workers of a run. ``submit(fn, arg)`` runs ``fn(arg)`` with `RUN` holding the analysis;
    `outcomes` gives each job's ``(status, value)`` as in `pipeline.core.sandbox`, running here what a
    stopped pool left undone."""

    def __init__(self, jobs: int):
        self.jobs, self.blob = jobs, ""
        self.box: Sandbox | None = None
        self._calls: dict[cf.Future, tuple[Callable, Any]] = {}
        if jobs > 1:
            self.box = Sandbox(jobs, start="fork", prepare=warm_up)
            self.box.open()

    def start(self, analysis: Any, folder: Path) -> None:
        """Hand the workers the analysis: pickled into a private file in `folder` (the output folder), which
        every job names. The file is removed at the end of the run; one left by a killed run is removed by
        the next. This process keeps the analysis too, for the jobs it runs itself."""
        RUN["analysis"] = analysis
        if self.box is None:
            return
        if self.box.broken:   # a worker died before any work (killed, out of memory): draw here
            self._local()
            return
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(".run-*.analysis"):  # left by a run that was killed
            if not _alive(old.name.split("-")[1]):
                old.unlink(missing_ok=True)
        fd, self.blob = tempfile.mkstemp(prefix=f".run-{os.getpid()}-", suffix=".analysis", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(analysis, fh, protocol=pickle.HIGHEST_PROTOCOL)

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> cf.Future:
        """``fn(arg)`` in a worker (`fn` a module-level function), or here when there are none."""
        if self.box is not None:
            try:
                future = self.box.submit(with_analysis, (self.blob, fn, arg), seconds=DRAW_SECONDS)
                self._calls[future] = (fn, arg)
                return future
            except RuntimeError:   # the pool stopped
                self._local()
        future = cf.Future()
        future.set_result(_here(fn, arg))
        return future

    def outcomes(self, futures: dict[cf.Future, K]) -> Iterator[tuple[K, Outcome]]:
        """``(key, (status, value))`` for each future as it finishes; when the pool stops, the jobs it left
        undone run here."""
        if self.box is None:
            for future, key in futures.items():
                yield key, future.result()
            return
        calls = dict(self._calls)
        try:
            yield from self.box.outcomes(futures)
        except SandboxBroken as exc:
            self._local()
            for future, key in exc.pending.items():
                yield key, _here(*calls[future])

    def outcome(self, future: cf.Future) -> Outcome:
        return next(value for _key, value in self.outcomes({future: None}))

    def _local(self) -> None:
        if self.box is not None:
            self.box.close()
            self.box = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._local()
        finally:
            RUN.clear()
            if self.blob:
                try:
                    os.unlink(self.blob)
                except OSError:
                    pass


def _here(fn: Callable[[Any], Any], arg: Any) -> Outcome:
    try:
        return "ok", fn(arg)
    except Exception as exc:
        return "crash", f"{type(exc).__name__}: {exc}"


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def with_analysis(blob: str, fn: Callable[[Any], Any], arg: Any) -> Any:
    """Worker: ``fn(arg)`` with `RUN` holding the analysis pickled in `blob`, loaded at the first job."""
    if RUN.get("blob") != blob:
        with open(blob, "rb") as fh:
            RUN["analysis"] = pickle.load(fh)
        RUN["blob"] = blob
        gc.freeze()  # the analysis is never garbage: the collector need not walk it for every PDF
        # a PDF leaves little cyclic garbage: collecting the young objects every 20,000 allocations rather than
        # every 700 frees the same a few documents later, for a twentieth of the collections (2% of the CPU)
        gc.set_threshold(20_000, *gc.get_threshold()[1:])
    return fn(arg)


def warm_up() -> None:
    """Worker: set up what drawing needs (imports, fonts, the chart figure) while the run reads and analyses,
    below the run's priority, so the warm-up only takes what the run leaves."""
    try:
        os.nice(2)
    except (OSError, AttributeError):
        pass
    try:
        import importlib

        from pipeline.chart.charts import _chart
        from pipeline.render.layout import register_fonts

        importlib.import_module("pipeline.render.partner")
        register_fonts()
        _chart()
    except Exception:
        pass
