r"""Terminal output: the problem listing, summary lines and progress (quiet in a pipe).

Text from the input (cell values, sheet and file names) is never printed raw: every C0 and C1 control
character, DEL included, is shown as an escape (`visible`), so a value typed as ``\x1b[2J`` cannot clear
or recolour the terminal and a NUL or newline cannot hide or fake a line.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Iterable

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


class Progress:
    """``progress(stage, done, total)`` callback: a one-line counter on a terminal, silent in a pipe."""

    def __init__(self, enabled: bool = True, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._last = ""

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled and self._last:
            self.stream.write("\r" + " " * len(self._last) + "\r")
            self.stream.flush()

    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None:
        if not self.enabled:
            return
        text = f"{stage} {done}/{total}" if total else stage
        pad = " " * max(0, len(self._last) - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._last = text
