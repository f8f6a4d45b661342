r"""Terminal output: the problem listing, summary lines and progress (quiet in a pipe).

Text from the input (cell values, sheet and file names) is never printed raw: every C0 and C1 control
character, DEL included, is shown as an escape (`visible`), so a value typed as ``\x1b[2J`` cannot clear
or recolour the terminal and a NUL or newline cannot hide or fake a line.
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable

import click

from pipeline.core.problems import ERROR, NOTE, WARNING, Problem

_COLOURS = {ERROR: "red", WARNING: "yellow", NOTE: "blue"}
_C1_OR_DEL = re.compile(r"[\x7f-\x9f]")


def visible(text: object) -> str:
    """`text` with every control character escaped (`pipeline.reconcile.values.escape_controls`)."""
    from pipeline.reconcile.values import escape_controls

    return escape_controls(str(text))


def visible_lines(text: object) -> str:
    """Like `visible`, but the line breaks our own multi-line messages are made of are kept."""
    return "\n".join(visible(line) for line in str(text).split("\n"))


def visible_json(text: str) -> str:
    r"""JSON text with DEL and C1 characters as ``\u00HH`` (json escapes C0 itself): the same JSON value."""
    return _C1_OR_DEL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo(text: object = "", *, err: bool = False, **style) -> None:
    """`click.secho` for text that may hold input: control characters escaped, our line breaks kept."""
    click.secho(visible_lines(text), err=err, **style)


def format_problem(p: Problem) -> str:
    """One line: ``severity  where  [CODE] message -> fix``, control characters escaped."""
    where = p.where or "(input folder)"
    col = f" ({p.column})" if p.column and p.column not in p.message else ""
    fix = f" -> {p.fix}" if p.fix else ""
    return visible(f"{p.severity:<7} {where}{col}  [{p.code}] {p.message}{fix}")


def echo_problems(problems: Iterable[Problem], *, quiet: bool = False, verbose: bool = False, err: bool = False) -> None:
    for p in problems:
        if p.severity == NOTE and not verbose:
            continue
        if quiet and p.severity != ERROR:
            continue
        click.secho(format_problem(p), fg=_COLOURS.get(p.severity), err=err)


def summary_line(rec) -> str:
    c = rec.problems.counts()
    read = sum(1 for f in rec.inputs if f.status == "read")
    refused = sum(1 for f in rec.inputs if f.status == "refused")
    skipped = sum(1 for f in rec.inputs if f.status == "skipped")
    parts = [f"{c[ERROR]} error{'s' * (c[ERROR] != 1)}", f"{c[WARNING]} warning{'s' * (c[WARNING] != 1)}",
             f"{c[NOTE]} note{'s' * (c[NOTE] != 1)}"]
    files = f"{len(rec.inputs)} file{'s' * (len(rec.inputs) != 1)} ({read} read, {refused} refused, {skipped} skipped)"
    verdict = "clean" if not rec.problems.actionable else "problems found"
    return f"{verdict}: {', '.join(parts)} in {files}"


def duration_text(seconds: float) -> str:
    """``0:07``, ``12:30``, ``1:02:03``: minutes and seconds, hours when there are any."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def eta_text(elapsed: float, done: int, total: int) -> str:
    """What is left of a stage at the pace so far: ``ETA 0:18`` ('' until one item is done, and when the
    stage has no count); ``done in 0:25`` when every item is."""
    if total <= 0 or done <= 0:
        return ""
    if done >= total:
        return f"done in {duration_text(elapsed)}"
    return f"ETA {duration_text(elapsed / done * (total - done))}"


def progress_line(stage: str, done: int = 0, total: int = 0, elapsed: float = 0.0) -> str:
    """One progress line: ``charts and PDFs 12/40 (30%) ETA 0:18``, or the stage alone when it has no count."""
    if not total:
        return stage
    eta = eta_text(elapsed, done, total)
    return f"{stage} {done}/{total} ({100 * done // total}%)" + (f" {eta}" if eta else "")


class Progress:
    """``progress(stage, done, total)`` callback: one line on a terminal (a counter and an ETA from the pace
    since the stage began, `progress_line`), redrawn in place; silent in a pipe and when not `enabled`
    (``-q``). `clock` is the time source (seconds, monotonic)."""

    def __init__(self, enabled: bool = True, stream=None, clock: Callable[[], float] = time.monotonic):
        self.stream = stream or sys.stderr
        self.enabled = enabled and _is_terminal(self.stream)
        self.clock = clock
        self._last = ""
        self._stage = ""
        self._started = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled and self._last:
            self.stream.write("\r" + " " * len(self._last) + "\r")
            self.stream.flush()

    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if stage != self._stage:
            self._stage, self._started = stage, now
        text = progress_line(stage, done, total, now - self._started)
        pad = " " * max(0, len(self._last) - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._last = text


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False
