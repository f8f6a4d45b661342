"""The one sandbox for worker processes (pipeline.core.sandbox): the same reviews whether workers fork or
spawn and whether the memory limit is an rlimit or the watchdog; how workers start, die and report."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import hostile_files as H
from pipeline.core import sandbox
from pipeline.core.sandbox import MEMORY_LIMIT_ENV, START_METHOD_ENV, Sandbox, limit_memory, run_isolated, start_method

AS_OF = "2026-10-02"
ROOT = Path(__file__).resolve().parents[1]


def grow(megabytes: int) -> str:
    """A job that really uses memory (touched pages, unlike a bare calloc), 32 MB at a time."""
    held = []
    for _ in range(megabytes // 32):
        held.append(b"x" * (32 * 2**20))
        time.sleep(0.005)
    return f"held {len(held) * 32} MB"


def chatty() -> str:
    print("a library printing on stdout")
    print("and on stderr", file=sys.stderr)
    return "done"


def whose() -> tuple[int, int]:
    return os.getpid(), os.getppid()


# --- the same reviews every way ------------------------------------------------------------------------

def _report(drop: Path, out: Path, env: dict[str, str]) -> dict[str, str]:
    """Run the real command on a sample drop; the SHA-256 of every review PDF it wrote, by file name."""
    run = subprocess.run([sys.executable, "-m", "pipeline.cli", "report", "--input", str(drop), "--output", str(out),
                          "--as-of", AS_OF, "--jobs", "2"],
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    manifest = json.loads(next(out.glob("*/manifest.json")).read_text())
    qdir = next(out.glob("*/manifest.json")).parent
    names = [m["pdf"] for m in manifest["partners"]] + [manifest["portfolio_pdf"]]
    return {name: hashlib.sha256((qdir / name).read_bytes()).hexdigest() for name in names}


@pytest.mark.parametrize("env", [{START_METHOD_ENV: "spawn"}, {MEMORY_LIMIT_ENV: "watchdog"}],
                         ids=["spawn-forced", "setrlimit-refused"])
def test_the_same_reviews_with_spawn_or_without_rlimit(tmp_path, env):
    drop = ROOT / "pipeline" / "samples" / "drops" / "2026-Q2"
    default = _report(drop, tmp_path / "default", {})
    other = _report(drop, tmp_path / "other", env)
    assert len(default) > 2
    assert other == default


# --- how workers start -------------------------------------------------------------------------------

def test_start_method_follows_the_environment_and_falls_back_to_spawn(monkeypatch):
    monkeypatch.delenv(START_METHOD_ENV, raising=False)
    assert start_method("spawn") == "spawn"
    assert start_method("no-such-method") == "spawn"
    monkeypatch.setenv(START_METHOD_ENV, "spawn")
    assert start_method("fork") == "spawn"
    monkeypatch.setenv(START_METHOD_ENV, "no-such-method")
    assert start_method("spawn") == "spawn"


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_workers_are_children_of_the_run_and_never_this_process(monkeypatch, method):
    monkeypatch.setenv(START_METHOD_ENV, method)
    with Sandbox(2, start="spawn") as box:
        assert box.method == method
        outcomes = dict(box.outcomes({box.submit(whose, (), seconds=30): "a"}))
    status, (pid, ppid) = outcomes["a"]
    assert status == "ok" and pid != os.getpid() and ppid == os.getpid()


# --- the memory limit, both ways ---------------------------------------------------------------------

def test_limit_memory_says_watchdog_when_setrlimit_is_refused(monkeypatch):
    import resource

    def refused(*_args):
        raise ValueError("not allowed to lower RLIMIT_AS here")  # what macOS answers

    monkeypatch.setattr(resource, "setrlimit", refused)
    assert limit_memory(512) == "watchdog"


def test_limit_memory_sets_the_rlimit_where_it_can():
    code = textwrap.dedent("""
        import resource
        from pipeline.core.sandbox import limit_memory
        print(limit_memory(700), resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                         env={k: v for k, v in os.environ.items() if k != MEMORY_LIMIT_ENV})
    assert out.stdout.split() == ["rlimit", "700"]


@pytest.mark.parametrize("how", ["rlimit", "watchdog"])
def test_a_job_over_the_memory_limit_is_stopped_and_the_others_go_on(monkeypatch, how):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, how)
    jobs = [("small", (64,)), ("big", (6000,)), ("small2", (64,))]
    started = time.monotonic()
    out = run_isolated(grow, jobs, seconds=60, memory_mb=400, workers=2)
    assert time.monotonic() - started < 50
    assert out["small"] == ("ok", "held 64 MB") and out["small2"] == ("ok", "held 64 MB")
    assert out["big"][0] == "memory", out["big"]


# --- what a worker leaves behind ---------------------------------------------------------------------

def test_stray_prints_in_a_worker_stay_out_of_the_terminal(capfd):
    out = run_isolated(chatty, [("a", ())], seconds=30, memory_mb=1024, workers=1)
    assert out == {"a": ("ok", "done")}
    captured = capfd.readouterr()
    assert "a library printing" not in captured.out + captured.err
    assert "and on stderr" not in captured.out + captured.err


def test_a_crash_reports_the_workers_last_words():
    out = run_isolated(H.behave, [("abort", ("abort",)), ("raise", ("raise",))], seconds=30, memory_mb=1024, workers=1)
    assert out["abort"][0] == "crash" and "exit code -6" in str(out["abort"][1])
    assert out["raise"] == ("crash", "ValueError: boom")


def test_workers_that_cannot_start_stop_the_run_with_a_reason(tmp_path, monkeypatch):
    (tmp_path / "broken_reader.py").write_text(textwrap.dedent("""
        import multiprocessing
        if multiprocessing.parent_process() is not None:  # imports here, not in a worker: a broken install
            raise ImportError("a broken installation: no module calamine")
        def job():
            return None
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import broken_reader

    started = time.monotonic()
    with pytest.raises(sandbox.WorkerStartError, match="broken installation"):
        run_isolated(broken_reader.job, [("a", ()), ("b", ())], seconds=10, memory_mb=1024, workers=2)
    assert time.monotonic() - started < 30


def test_the_workers_folder_is_removed_and_workers_die_with_the_run(tmp_path):
    """A run killed with SIGKILL takes its workers with it (Linux: PR_SET_PDEATHSIG)."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pipeline.core.sandbox import Sandbox
        from test_sandbox import whose
        box = Sandbox(2, start="spawn")
        f = box.submit(whose, (), seconds=30)
        print(f.result()[1][0], box.folder, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    pid, _folder = proc.stdout.readline().split()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(int(pid)):
        time.sleep(0.1)
    assert not _running(int(pid))

    with Sandbox(1) as box:
        folder = box.folder
        assert dict(box.outcomes({box.submit(whose, (), seconds=30): "a"}))["a"][0] == "ok"
    assert not folder.exists()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.parametrize("how", ["stdin", "script without a __main__ guard"])
def test_the_library_works_from_stdin_and_from_a_script_without_a_main_guard(tmp_path, how):
    """A spawned worker must not run the calling script again (multiprocessing would, by default)."""
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from pipeline.reconcile.load import load
        rec = load(Path({str(ROOT / "pipeline" / "samples" / "drops" / "2026-Q2")!r}))
        main = sys.modules["__main__"]
        print("partners", len(rec.partners), "file", getattr(main, "__file__", None) is not None)
    """)
    if how == "stdin":
        run = subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True, timeout=120,
                             cwd=tmp_path, env={**os.environ, START_METHOD_ENV: "spawn"})
    else:
        (tmp_path / "script.py").write_text(code)
        run = subprocess.run([sys.executable, "script.py"], capture_output=True, text=True, timeout=120,
                             cwd=tmp_path, env={**os.environ, START_METHOD_ENV: "spawn"})
    assert run.returncode == 0, run.stderr[-1500:]
    assert run.stdout.split() == ["partners", "10", "file", "True"]   # read once, and __main__ as it was
    assert run.stdout.count("partners") == 1
