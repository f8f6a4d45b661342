"""The worker processes that chart and render a run's reviews, and where each job finds the analysis.

`Workers` forks them first, so that they import and set up matplotlib and reportlab while the main
process reads and analyses; `start` then hands each of them the analysis once, through a private file in
the output folder (a few bytes through a queue, so it never blocks, even when a worker has died). A
worker dies with its parent. With ``jobs <= 1`` (or when the workers died before any work) the jobs run in
this process (`Serial`). `RUN` holds the analysis where the jobs run.
"""
from __future__ import annotations

import gc
import os
import pickle
import queue
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

# this run's Analysis where the jobs run: each worker's copy (see `Workers.start`), or this process's own
RUN: dict[str, Any] = {}


class Serial:
    """The pool's interface, run in this process: for --jobs 1, or when the workers died before the work."""

    def __enter__(self) -> Serial:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable, arg: Any) -> Any:
        from concurrent.futures import Future

        fut: Future = Future()
        fut.set_result(fn(arg))
        return fut

    def map(self, fn: Callable, items: list, chunksize: int = 1) -> Any:
        return map(fn, items)


class Workers:
    """The worker processes of a run, forked before the workbooks are read, so that they import and set up
    matplotlib and reportlab while this process reads and analyses. `start` hands each of them the
    analysis, pickled, once (a worker waits for it before its first job). With ``jobs <= 1`` the jobs
    run in this process (`Serial`). Leaving the block before `start` releases the waiting workers."""

    def __init__(self, jobs: int):
        self.jobs, self.inbox, self.started, self.blob = jobs, None, False, ""
        if jobs <= 1:
            self.pool: Any = Serial()
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        self.inbox = context.Queue()
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=worker_start,
                                        initargs=(self.inbox, os.getpid()))
        self.pool.submit(int)  # forks every worker now (a fork pool starts them all at its first job)

    def start(self, analysis: Any, folder: Path) -> None:
        """Hand the workers the analysis: pickled into a private file in `folder` (the output folder) whose
        path each of them is sent (a few bytes, so this never blocks, even when a worker has died). The
        file is removed at the end of the run; one left by a killed run is removed by the next."""
        if self.inbox is None:
            RUN["analysis"] = analysis
        else:
            import tempfile

            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob(".run-*.analysis"):  # left by a run that was killed
                if not _alive(old.name.split("-")[1]):
                    old.unlink(missing_ok=True)
            fd, self.blob = tempfile.mkstemp(prefix=f".run-{os.getpid()}-", suffix=".analysis", dir=folder)
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(analysis, fh, protocol=pickle.HIGHEST_PROTOCOL)
            for _ in range(self.jobs):
                self.inbox.put(self.blob)
            try:
                self.pool.submit(int)
            except BrokenProcessPool:  # a worker died before any work (killed, out of memory): draw here
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = Serial()
                RUN["analysis"] = analysis
        self.started = True

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.inbox is not None and not self.started:
                for _ in range(self.jobs):
                    self.inbox.put(None)
            self.pool.__exit__(*exc)
        finally:
            RUN.clear()
            if self.blob:
                try:
                    os.unlink(self.blob)
                except OSError:
                    pass


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def worker_start(inbox: Any, parent: int) -> None:
    """Worker: set up what drawing needs (imports, fonts, the chart figure), then wait for the analysis.
    A worker never outlives the run: it ends when its parent does (killed, or stopped before `start`)."""
    _die_with_parent(parent)
    try:  # below the parent: while it reads and analyses, the warm-up only takes what the parent leaves
        os.nice(2)
    except OSError:
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
    while True:  # wait for the analysis, but notice a parent gone
        try:
            path = inbox.get(timeout=1.0)
            break
        except queue.Empty:
            if os.getppid() != parent:
                os._exit(1)
    if path is not None:
        with open(path, "rb") as fh:
            RUN["analysis"] = pickle.load(fh)
        gc.freeze()  # the analysis is never garbage: the collector need not walk it for every PDF


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel kill this worker when its parent dies, even while it waits for a job."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the wait above still notices
    if os.getppid() != parent:  # the parent died before the call
        os._exit(1)
