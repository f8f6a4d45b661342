"""Run untrusted parsing in worker processes, each job under a time limit and the worker under a memory limit.

`run_isolated` keeps a small pool of long-lived worker processes. Each job gets a wall-clock deadline
and each worker an address-space limit (RLIMIT_AS), so a hang, a Rust panic, an abort or an OOM in the
native reader costs that one file, never the run: the worker is replaced and the other jobs go on.
"""
from __future__ import annotations

import importlib
import os
import pickle
import resource
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from pipeline.core.problems import PipelineError


def run_isolated(fn, jobs: list[tuple[str, tuple]], *, seconds: float, memory_mb: int,
                 workers: int | None = None) -> dict[str, tuple[str, object]]:
    """Run ``fn(*args)`` for each ``(key, args)`` in worker processes; key -> (status, value).

    status is ``ok`` (value = the return value), ``timeout`` (the job passed ``seconds`` and its worker
    was killed), ``memory`` (MemoryError, or the native reader aborted on a failed allocation under the
    ``memory_mb`` address-space limit) or ``crash`` (value = what is known). A dead worker is replaced;
    the other jobs go on. ``fn`` must be a module-level function (the workers import it by name).
    """
    if not jobs:
        return {}
    module_file = sys.modules[fn.__module__].__file__
    assert module_file is not None  # fn is a module-level function of an imported module
    root = Path(module_file).resolve().parent
    for _ in range(fn.__module__.count(".")):
        root = root.parent
    with _Pool(f"{fn.__module__}:{fn.__qualname__}", memory_mb, workers or default_workers(len(jobs)), str(root)) as pool:
        return pool.run(jobs, seconds)


def available_cores() -> int:
    """The cores this process may use (a container's CPU limit, not the host's core count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_workers(jobs: int) -> int:
    return max(1, min(jobs, available_cores(), 8))


class WorkerStartError(PipelineError):
    """The worker processes die before they are ready (a broken installation): stops every review."""


class _Worker:
    def __init__(self, target: str, memory_mb: int, root: str):
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker; kill() closes it
        env = dict(os.environ)
        paths = dict.fromkeys([str(Path(__file__).resolve().parent.parent), root])  # pipeline's and the target's
        env["RUST_BACKTRACE"] = "0"
        env["PYTHONPATH"] = os.pathsep.join([*paths, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from pipeline.core.sandbox import worker_main; worker_main()", target, str(memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, cwd=tempfile.gettempdir(), env=env)
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both are PIPEs
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout
        self.queue: list[str] = []     # jobs sent, in the order the worker runs them
        self.deadline = 0.0
        self.err_mark = 0
        self.ready = False

    def send(self, key: str, args: tuple, seconds: float) -> None:
        data = pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
        if not self.queue:
            self.start_head(seconds)
        self.queue.append(key)
        self.stdin.write(len(data).to_bytes(8, "little") + data)
        self.stdin.flush()

    def start_head(self, seconds: float) -> None:
        """The job at the head of the queue starts now: its deadline, and where its stderr begins."""
        self.deadline = time.monotonic() + seconds
        self.err_mark = os.fstat(self.stderr.fileno()).st_size

    def receive(self) -> tuple[str, object] | None:
        """The next message, or None when the worker died. Reads unbuffered, exactly one message, so
        the selector still sees whatever follows in the pipe."""
        head = self._read_exact(8)
        if head is None:
            return None
        data = self._read_exact(int.from_bytes(head, "little"))
        return None if data is None else pickle.loads(data)

    def _read_exact(self, size: int) -> bytes | None:
        fd = self.stdout.fileno()
        parts, left = [], size
        while left:
            chunk = os.read(fd, min(left, 1 << 22))
            if not chunk:
                return None
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def death(self) -> tuple[str, object]:
        """Why the worker died: memory when the native reader could not allocate, else a crash."""
        code = self.proc.wait()
        fd = self.stderr.fileno()
        end = os.fstat(fd).st_size
        start = max(self.err_mark, end - 65536)
        tail = os.pread(fd, end - start, start).decode("utf-8", "replace")  # pread: the offset is shared with the child
        if "memory allocation" in tail or "MemoryError" in tail or "out of memory" in tail.lower():
            return "memory", tail.strip()[:300]
        lines = [ln for ln in tail.strip().splitlines() if ln.strip()]
        return "crash", f"exit code {code}" + (f": {lines[-1][-200:]}" if lines else "")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for fh in (self.stdin, self.stdout, self.stderr):
            try:
                fh.close()
            except OSError:
                pass


class _Pool:
    def __init__(self, target: str, memory_mb: int, size: int, root: str):
        self.target, self.memory_mb, self.size, self.root = target, memory_mb, size, root
        self.workers: list[_Worker] = []
        self.failed_starts = 0

    def __enter__(self) -> _Pool:
        self.workers = [_Worker(self.target, self.memory_mb, self.root) for _ in range(self.size)]
        return self

    def __exit__(self, *exc: object) -> None:
        for w in self.workers:
            try:
                w.stdin.close()
            except OSError:
                pass
        for w in self.workers:
            try:
                w.proc.wait(timeout=2)
            except Exception:
                pass
            w.kill()

    def _replace(self, w: _Worker) -> None:
        if not w.ready:
            self.failed_starts += 1
            if self.failed_starts >= 3:
                reason = w.death()[1]
                raise WorkerStartError(f"the reader process cannot start ({reason})")
        w.kill()
        self.workers[self.workers.index(w)] = _Worker(self.target, self.memory_mb, self.root)

    def run(self, jobs: list[tuple[str, tuple]], seconds: float, depth: int = 2) -> dict[str, tuple[str, object]]:
        """Each worker holds up to ``depth`` jobs so it never waits for the parent between small files;
        the deadline runs for the job at the head of its queue only."""
        args_of = dict(jobs)
        pending = [key for key, _ in reversed(jobs)]
        results: dict[str, tuple[str, object]] = {}

        def lost(w: _Worker, status: tuple[str, object] | None) -> None:
            """Replace a dead (or doomed) worker; the head job gets ``status``, the queued ones go back."""
            queue = w.queue
            if queue and status is not None:
                results[queue.pop(0)] = status
            pending.extend(reversed(queue))
            w.queue = []
            self._replace(w)

        while len(results) < len(jobs):
            for w in list(self.workers):
                while w.ready and len(w.queue) < depth and pending:
                    key = pending.pop()
                    try:
                        w.send(key, args_of[key], seconds)
                    except OSError:
                        pending.append(key)
                        lost(w, w.death())
                        break
            busy = [w for w in self.workers if w.queue]
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic()) if busy else None
            with selectors.DefaultSelector() as sel:
                for w in self.workers:
                    sel.register(w.stdout, selectors.EVENT_READ, w)
                events = sel.select(timeout)
            for event, _ in events:
                w = event.data
                msg = w.receive()
                if msg is None:
                    lost(w, w.death())
                elif msg[0] == "ready":
                    w.ready = True
                else:
                    results[w.queue.pop(0)] = msg
                    w.start_head(seconds)
                    if msg[0] == "memory":  # the worker exits after a MemoryError
                        lost(w, None)
            now = time.monotonic()
            for w in list(self.workers):
                if w.queue and now >= w.deadline:
                    lost(w, ("timeout", seconds))
        return results


def worker_main() -> None:
    """Entry point of a worker process: argv = target ('module:function'), memory limit in MB."""
    target, memory_mb = sys.argv[1], int(sys.argv[2])
    module, name = target.split(":")
    fn = getattr(importlib.import_module(module), name)
    import python_calamine  # noqa: F401  (loaded once, before the limit)

    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_mb * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the protocol
    inp = sys.stdin.buffer

    def send(msg: object) -> None:
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(8, "little") + data)
        out.flush()

    send(("ready", None))
    while True:
        head = inp.read(8)
        if len(head) < 8:
            return
        args = pickle.loads(inp.read(int.from_bytes(head, "little")))
        try:
            send(("ok", fn(*args)))
        except MemoryError:
            send(("memory", None))
            return
        except BaseException as exc:  # a Rust panic surfaces as a BaseException subclass
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            send(("crash", f"{type(exc).__name__}: {exc}"))
