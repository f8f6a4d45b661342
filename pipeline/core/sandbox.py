"""The run's worker processes, one sandbox for all of them: reading untrusted workbooks, copying them for
the feedback folder, and drawing the reviews.

A `Sandbox` is a pool of worker processes (pebble's ``ProcessPool``): every job has a deadline, a worker
that dies or passes its deadline is replaced, and the other jobs go on. Around it this module adds what
the run needs and pebble leaves to its callers:

- **How workers start.** ``spawn`` (a fresh interpreter) for the readers, which open hostile files;
  ``fork`` where the system has it for the drawing workers, which then start with pandas, matplotlib
  and reportlab already imported. Where ``fork`` is missing (Windows) or ``PARTNER_REVIEW_START_METHOD``
  names another method (the suite forces ``spawn``), they start that way and work the same: nothing a
  job needs is inherited, it comes in the job's arguments or a file they name.
- **A memory limit per worker.** ``RLIMIT_AS`` where a process may set it (Linux); where it may not
  (macOS refuses it, Windows has none) a watchdog thread in this process stops a worker whose resident
  memory passes the limit during a job. `limit_memory` tells which applies; ``PARTNER_REVIEW_MEMORY_LIMIT=
  watchdog`` uses the watchdog even where the rlimit works (the suite tests both ways).
- **Why a worker died.** Its stdout and stderr go to a file of its own, so a native reader's failed
  allocation ("memory allocation of ... failed") is told from a crash, and stray prints never reach the
  terminal. A job's exception comes back as text (``crash``), never as an object this process must
  unpickle (a Rust panic's class lives in a module only the worker has).
- **Workers die with the run**: on Linux the kernel kills them when the run's process dies
  (``PR_SET_PDEATHSIG``); elsewhere their task pipe closes and they exit.

`run_isolated(fn, jobs, ...)` runs a batch and returns each job's ``(status, value)``; status is ``ok``,
``timeout``, ``memory`` or ``crash``.
"""
from __future__ import annotations

import concurrent.futures as cf
import importlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool

from pipeline.core.problems import PipelineError

START_METHOD_ENV = "PARTNER_REVIEW_START_METHOD"   # fork | spawn | forkserver: how every worker starts
MEMORY_LIMIT_ENV = "PARTNER_REVIEW_MEMORY_LIMIT"   # "watchdog": the watchdog even where RLIMIT_AS can be set
MEMORY_EXIT = 86          # a worker's exit code after a MemoryError in a job (its state is not trusted after one)
WATCH_SECONDS = 0.05      # how often the watchdog looks at the workers it watches
_ERR_TAIL = 65536         # how much of a dead worker's stderr is read to tell why it died

Outcome = tuple[str, object]
K = TypeVar("K")


class WorkerStartError(PipelineError):
    """The worker processes die before they are ready (a broken installation): stops every review."""


class SandboxBroken(Exception):
    """The pool stopped: a worker died between jobs, so pebble can no longer tell which job it held.
    ``pending`` maps the futures of the jobs whose outcome is unknown to their keys."""

    def __init__(self, pending: dict):
        super().__init__(f"the worker pool stopped with {len(pending)} jobs unfinished")
        self.pending = pending
        self.keys = list(pending.values())


def available_cores() -> int:
    """The cores this process may use (a container's CPU limit, not the host's core count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_workers(jobs: int) -> int:
    return max(1, min(jobs, available_cores(), 8))


def start_method(preferred: str) -> str:
    """How workers start: ``PARTNER_REVIEW_START_METHOD`` when set and available, else `preferred` when the
    system has it, else ``spawn`` (which every system has)."""
    available = multiprocessing.get_all_start_methods()
    for method in (os.environ.get(START_METHOD_ENV, "").strip().lower(), preferred):
        if method in available:
            return method
    return "spawn"


def limit_memory(memory_mb: int) -> str:
    """Limit this process's address space to `memory_mb`: ``rlimit`` when that worked, ``watchdog`` when
    the system refuses it (or ``PARTNER_REVIEW_MEMORY_LIMIT=watchdog``), so the caller watches instead."""
    if os.environ.get(MEMORY_LIMIT_ENV, "").strip().lower() == "watchdog":
        return "watchdog"
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_mb * 2**20
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, AttributeError, ValueError, OSError):
        return "watchdog"
    return "rlimit"


class Sandbox:
    """A pool of `workers` processes. ``with Sandbox(...) as box:`` then `submit` jobs and read their
    outcomes from `outcomes`; leaving the block stops the workers and removes their folder.

    `preload` names modules every worker imports before its memory limit is set; `prepare` (a
    module-level function, called with no arguments) is each worker's set-up, e.g. warming up fonts.
    """

    def __init__(self, workers: int, *, start: str = "spawn", memory_mb: int | None = None,
                 preload: tuple[str, ...] = (), prepare: Callable[[], None] | None = None):
        self.size, self.memory_mb = workers, memory_mb
        self.method = start_method(start)
        self.folder = Path(tempfile.mkdtemp(prefix="partner-review-workers-"))
        parent = None if self.method == "forkserver" else os.getpid()   # a forkserver's workers are its children
        self._hidden = self.method != "fork" and _hide_main()
        self.pool = ProcessPool(max_workers=workers, initializer=_worker_init,
                                initargs=(str(self.folder), memory_mb, parent, preload, prepare),
                                context=multiprocessing.get_context(self.method))
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        if memory_mb:
            self._watchdog = threading.Thread(target=self._watch, name="partner-review-watchdog", daemon=True)
            self._watchdog.start()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Start the workers now (pebble starts them at the first job), so that they set up meanwhile."""
        self.submit(int, (), seconds=60)

    @property
    def broken(self) -> bool:
        return not self.pool.active

    def submit(self, fn: Callable, args: tuple, *, seconds: float) -> cf.Future:
        """Run ``fn(*args)`` in a worker, stopped after `seconds`; `fn` must be a module-level function."""
        return self.pool.schedule(_job, args=(fn, args), timeout=seconds)

    def outcome(self, future: cf.Future) -> Outcome:
        """A finished job's ``(status, value)``."""
        try:
            return future.result(timeout=0)
        except cf.TimeoutError as exc:
            return "timeout", exc.args[1] if len(exc.args) > 1 else None
        except ProcessExpired as exc:
            return self._death(exc.pid, exc.exitcode)
        except Exception as exc:   # what pebble itself reports: a job or result it could not pickle
            return "crash", f"{type(exc).__name__}: {exc}"

    def outcomes(self, futures: dict[cf.Future, K]) -> Iterator[tuple[K, Outcome]]:
        """``(key, outcome)`` for each future, as they finish. Raises `SandboxBroken` with the keys not
        finished when the pool stops (pebble then never finishes them)."""
        pending = dict(futures)
        while pending:
            done, _ = cf.wait(pending, timeout=0.2, return_when=cf.FIRST_COMPLETED)
            stopped = not done and self.broken
            for future in done:
                if isinstance(future.exception(), BrokenProcessPool):  # pebble aborts what it held
                    stopped = True
                else:
                    yield pending.pop(future), self.outcome(future)
            if stopped:
                raise SandboxBroken(pending)

    def close(self) -> None:
        self._stop.set()
        try:
            self.pool.stop()
            self.pool.join(timeout=10)
        except Exception:
            pass
        if self._watchdog is not None:
            self._watchdog.join(timeout=2)
        if self._hidden:
            self._hidden = False
            _show_main()
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- why a worker died, and the watchdog ---------------------------------------------------------

    def _death(self, pid: int | None, code: int | None) -> Outcome:
        """Memory when the job ran out of it (a MemoryError, the watchdog, or the native reader's failed
        allocation), else a crash with the last line the worker wrote."""
        if pid is not None and (self.folder / f"{pid}.oom").exists():
            return "memory", f"the worker passed {self.memory_mb} MB"
        tail = ""
        if pid is not None:
            start = _int((self.folder / f"{pid}.job"), 0)
            try:
                with open(self.folder / f"{pid}.err", "rb") as fh:
                    end = fh.seek(0, os.SEEK_END)
                    fh.seek(max(start, end - _ERR_TAIL))
                    tail = fh.read().decode("utf-8", "replace")
            except OSError:
                pass
        if "memory allocation" in tail or "MemoryError" in tail or "out of memory" in tail.lower():
            return "memory", tail.strip()[:300]
        lines = [ln for ln in tail.strip().splitlines() if ln.strip()]
        return "crash", f"exit code {code}" + (f": {lines[-1][-200:]}" if lines else "")

    def _watch(self) -> None:
        """Stop a worker whose resident memory passes the limit during a job, where RLIMIT_AS could not be
        set (the worker left a ``.watch`` file). Only during a job (its ``.job`` file), so a worker is never
        killed while it hands a result back."""
        import psutil

        limit = (self.memory_mb or 0) * 2**20
        while not self._stop.wait(WATCH_SECONDS):
            for watch in self.folder.glob("*.watch"):
                job = watch.with_suffix(".job")
                try:
                    if not job.exists():
                        continue
                    proc = psutil.Process(int(watch.stem))
                    if proc.memory_info().rss > limit and job.exists():
                        watch.with_suffix(".oom").touch()
                        proc.kill()
                except (ValueError, OSError, psutil.Error):
                    continue


def run_isolated(fn: Callable, jobs: list[tuple[str, tuple]], *, seconds: float, memory_mb: int,
                 workers: int | None = None, done: Callable[[int, int], None] | None = None) -> dict[str, Outcome]:
    """Run ``fn(*args)`` for each ``(key, args)`` in spawned worker processes; key -> (status, value).

    status is ``ok`` (value = the return value), ``timeout`` (the job passed ``seconds`` and its worker
    was stopped), ``memory`` (the job needed more than ``memory_mb``) or ``crash`` (value = what is known).
    A dead worker is replaced and the other jobs go on. When the pool itself stops (a worker died between
    jobs), the unfinished jobs run once more in a new pool, and are a ``crash`` if that one stops too.
    `WorkerStartError` when no worker gets as far as its first job (a broken installation)."""
    results: dict[str, Outcome] = {}
    args_of = dict(jobs)
    todo = [key for key, _ in jobs]
    for attempt in (1, 2):
        if not todo:
            break
        with Sandbox(workers or default_workers(len(todo)), start="spawn", memory_mb=memory_mb,
                     preload=(fn.__module__,)) as box:
            futures = {box.submit(fn, args_of[key], seconds=seconds): key for key in todo}
            try:
                for key, outcome in box.outcomes(futures):
                    results[key] = outcome
                    if done is not None:  # progress: jobs finished so far, of all
                        done(len(results), len(jobs))
                todo = []
            except SandboxBroken as exc:
                if not any(box.folder.glob("*.ready")):
                    raise WorkerStartError(f"the worker processes cannot start ({_start_failure(box)})") from None
                todo = exc.keys
                if attempt == 2:
                    results.update((key, ("crash", "its worker process stopped between jobs")) for key in todo)
    return results


def _start_failure(box: Sandbox) -> str:
    """The last line a worker that could not start wrote, and what to do when it is the one mistake a
    caller of the library can make: a spawned worker re-runs the calling script (multiprocessing's rule)."""
    errors = sorted(box.folder.glob("*.err"))
    text = "\n".join(err.read_text("utf-8", "replace") for err in errors)
    if "_fixup_main_from" in text or "bootstrapping phase" in text:
        return ("a spawned worker re-runs the script that started it, and this one cannot be re-run: call "
                "partner-review's library from a script file whose work is under `if __name__ == '__main__':` "
                "(not from standard input), or use the partner-review command")
    for err in errors:
        lines = [ln for ln in err.read_text("utf-8", "replace").splitlines() if ln.strip()]
        if lines:
            return lines[-1][-200:]
    return "they exit before they are ready"


# --- the caller's script is not run again in a spawned worker ------------------------------------------

_MAIN_LOCK = threading.Lock()
_MAIN_SAVED: list[dict[str, Any]] = []   # the caller's __main__ attributes while sandboxes hide them (a stack)


def _hide_main() -> bool:
    """While a spawned pool lives, hide ``__main__``'s file and spec, so multiprocessing does not run the
    calling script again in every worker (which fails for `python -` and for a script with no __main__
    guard); the workers need nothing from it: every job is a function of an importable module."""
    main = sys.modules.get("__main__")
    if main is None:
        return False
    with _MAIN_LOCK:
        if not _MAIN_SAVED:
            saved: dict[str, Any] = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
            _MAIN_SAVED.append(saved)
        else:
            _MAIN_SAVED.append(_MAIN_SAVED[-1])
    return True


def _show_main() -> None:
    main = sys.modules.get("__main__")
    with _MAIN_LOCK:
        saved = _MAIN_SAVED.pop()
        if not _MAIN_SAVED and main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


# --- in the worker -----------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}   # this worker's folder and pid (set by _worker_init)


def _worker_init(folder: str, memory_mb: int | None, parent: int | None, preload: tuple[str, ...],
                 prepare: Callable[[], None] | None) -> None:
    """A worker's start: die with the run, stdout and stderr into its own file, imports and set-up,
    then the memory limit (or a note asking the run's watchdog to keep it)."""
    _die_with_parent(parent)
    pid = os.getpid()
    err = os.open(os.path.join(folder, f"{pid}.err"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(err, 2)
    os.dup2(err, 1)   # stray prints from libraries stay out of the terminal and the manifest
    os.close(err)
    os.environ["RUST_BACKTRACE"] = "0"
    for name in preload:
        importlib.import_module(name)
    if prepare is not None:
        prepare()
    if memory_mb and limit_memory(memory_mb) == "watchdog":
        Path(folder, f"{pid}.watch").write_text(str(memory_mb))
    _WORKER.update(folder=folder, pid=pid)
    Path(folder, f"{pid}.ready").touch()


def _job(fn: Callable, args: tuple) -> Outcome:
    """A job in the worker: ``("ok", value)`` or ``("crash", text)``; after a MemoryError the worker exits
    (its ``.oom`` file tells why). While the job runs its ``.job`` file holds where its stderr starts."""
    folder, pid = _WORKER.get("folder"), _WORKER.get("pid")
    mark = os.path.join(folder, f"{pid}.job") if folder else ""
    if mark:
        with open(mark, "w") as fh:
            fh.write(str(os.fstat(2).st_size))
    try:
        return "ok", fn(*args)
    except MemoryError:
        if folder:
            Path(folder, f"{pid}.oom").touch()
        os._exit(MEMORY_EXIT)
    except BaseException as exc:   # a Rust panic surfaces as a BaseException subclass
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "crash", f"{type(exc).__name__}: {exc}"
    finally:
        if mark:
            try:
                os.unlink(mark)
            except OSError:
                pass


def _die_with_parent(parent: int | None) -> None:
    """Linux: have the kernel kill this worker when the run's process dies, even mid-job. Elsewhere the
    worker's task pipe closes with the run, and pebble's worker loop then exits."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent is not None and os.getppid() != parent:  # the parent died before the call
        os._exit(1)


def _int(path: Path, default: int) -> int:
    try:
        return int(path.read_text() or default)
    except (OSError, ValueError):
        return default
