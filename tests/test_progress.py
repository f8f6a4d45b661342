"""Progress on a terminal: a counter and an ETA for the stages that count (charts and PDFs), the stage
alone for the others; nothing at all in a pipe or with -q. The formatting is pure; the terminal is a real
pseudo-terminal, and the report runs as the real command."""
from __future__ import annotations

import os
import re
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pipeline.console import Progress, duration_text, eta_text, progress_line

ROOT = Path(__file__).resolve().parents[1]
DROP = ROOT / "pipeline" / "samples" / "drops" / "2026-Q2"


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (0.4, "0:00"), (7, "0:07"), (59.6, "1:00"), (65, "1:05"),
                                               (750, "12:30"), (3723, "1:02:03"), (-3, "0:00")])
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


@pytest.mark.parametrize(("elapsed", "done", "total", "text"), [
    (10.0, 2, 10, "ETA 0:40"),        # 5 s each, 8 to go
    (3.0, 1, 4, "ETA 0:09"),
    (90.0, 30, 100, "ETA 3:30"),
    (2.0, 1, 3601, "ETA 2:00:00"),
    (0.0, 0, 10, ""),                 # no pace yet
    (5.0, 0, 10, ""),
    (5.0, 3, 0, ""),                  # no count: no ETA
    (25.0, 10, 10, "done in 0:25"),
    (25.0, 11, 10, "done in 0:25"),
])
def test_eta_text(elapsed, done, total, text):
    assert eta_text(elapsed, done, total) == text


def test_progress_line():
    assert progress_line("read") == "read"
    assert progress_line("charts and PDFs", 0, 40) == "charts and PDFs 0/40 (0%)"
    assert progress_line("charts and PDFs", 12, 40, 6.0) == "charts and PDFs 12/40 (30%) ETA 0:14"
    assert progress_line("charts and PDFs", 40, 40, 20.0) == "charts and PDFs 40/40 (100%) done in 0:20"


def _terminal():
    """A real pseudo-terminal: the file Progress writes to, and a function returning what reached the other end."""
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w", encoding="utf-8")

    def received() -> str:
        stream.close()
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the other end is closed and everything was read
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        return b"".join(chunks).decode("utf-8")

    return stream, received


def test_on_a_terminal_the_line_carries_the_pace_of_its_own_stage():
    now = [100.0]
    stream, received = _terminal()
    with Progress(stream=stream, clock=lambda: now[0]) as progress:
        assert progress.enabled
        progress("read")
        now[0] += 30.0                       # read and analyse take 30 s: not counted in the charts' pace
        progress("charts and PDFs", 0, 4)
        now[0] += 2.0
        progress("charts and PDFs", 1, 4)
        now[0] += 2.0
        progress("charts and PDFs", 2, 4)
    out = received()
    assert "\rread" in out
    assert "charts and PDFs 1/4 (25%) ETA 0:06" in out
    assert "charts and PDFs 2/4 (50%) ETA 0:04" in out
    assert out.endswith("\r")                # the line is cleared at the end


@pytest.mark.parametrize("enabled", [True, False])
def test_in_a_pipe_nothing_is_written(enabled):
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as stream, Progress(enabled=enabled, stream=stream) as progress:
        assert not progress.enabled
        progress("read")
        progress("charts and PDFs", 1, 2)
    with os.fdopen(read_end, "rb") as pipe:
        assert pipe.read() == b""


def test_quiet_on_a_terminal_writes_nothing():
    stream, received = _terminal()
    with Progress(enabled=False, stream=stream) as progress:
        progress("charts and PDFs", 1, 2)
    assert received() == ""


def _report(tmp_path: Path, *extra: str, terminal: bool) -> tuple[subprocess.CompletedProcess, str]:
    """`partner-review report` on a sample drop as a real process, its stderr a pseudo-terminal or a pipe."""
    args = [sys.executable, "-m", "pipeline", "report", "--input", str(DROP), "--output", str(tmp_path / "out"),
            "--jobs", "1", "--as-of", "2026-07-03", *extra]
    if not terminal:
        res = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        return res, res.stderr
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        res = subprocess.run(args, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, text=True,
                             timeout=300, cwd=tmp_path)
    finally:
        os.close(slave)
        reader.join(10)
        os.close(master)
    return res, b"".join(chunks).decode("utf-8", "replace")


def test_the_report_shows_progress_with_an_eta_on_a_terminal(tmp_path):
    res, err = _report(tmp_path, terminal=True)
    assert res.returncode == 0, res.stdout + err
    assert "\rread" in err
    assert re.search(r"read \d+/\d+ \(\d+%\)", err), err[:500]   # the workbooks read, counted
    assert "charts and PDFs 0/" in err
    assert "done in " in err                 # the last partner: the stage's time
    assert "9 of 9 partner reviews written" in res.stdout


def test_the_report_is_quiet_in_a_pipe_and_with_q(tmp_path):
    res, err = _report(tmp_path, terminal=False)
    assert res.returncode == 0, res.stdout + err
    assert "\r" not in err and "charts and PDFs" not in err and "ETA" not in err
    res, err = _report(tmp_path, "-q", terminal=True)
    assert res.returncode == 0, res.stdout + err
    assert "charts and PDFs" not in err and "\r" not in err
