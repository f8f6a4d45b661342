"""Terminal output: the problem listing, summary lines and progress (quiet in a pipe)."""
from __future__ import annotations

import sys
from typing import Iterable

import click

from pipeline.problems import ERROR, NOTE, WARNING, Problem

_COLOURS = {ERROR: "red", WARNING: "yellow", NOTE: "blue"}


def format_problem(p: Problem) -> str:
    """One line: ``severity  where  [CODE] message -> fix``."""
    where = p.where or "(input folder)"
    col = f" ({p.column})" if p.column and p.column not in p.message else ""
    fix = f" -> {p.fix}" if p.fix else ""
    return f"{p.severity:<7} {where}{col}  [{p.code}] {p.message}{fix}"


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

    def __enter__(self) -> "Progress":
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
