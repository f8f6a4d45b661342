"""Load: read every workbook in the input folder and reconcile it into `pipeline.core.frames.Reconciled`.

`load` is the I/O edge (the config file, `pipeline.read.reader.read_input`); `reconcile` (re-exported from
`pipeline.reconcile.convert`) is the pure part, raw workbooks in, frames and problems out. The rules are in
``docs/reading.md``.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.core import problems as P
from pipeline.core.frames import Reconciled
from pipeline.core.settings import Config, load_config
from pipeline.read.raw import RawWorkbook
from pipeline.reconcile.convert import ORDER, reconcile
from pipeline.reconcile.sheets import classify

__all__ = ["ORDER", "load", "reconcile"]


def load(input_dir: Path, config: Config | None = None,
         progress: Callable[..., None] | None = None, cache_dir: Path | None = None) -> Reconciled:
    """Read every workbook under `input_dir` and reconcile it. Never raises for bad content.

    `progress`, if given, is called with ``"read"`` and ``"reconcile"`` as each stage starts, and with
    ``("read", done, total)`` as the workbooks to read are read (for an ETA). `cache_dir`
    keeps the workbooks read for the next run (see `pipeline.read.cache`).
    """
    from pipeline.read.reader import read_input

    progress = progress or (lambda *args: None)
    input_dir = Path(input_dir)
    progress("read")
    config_problems: list[P.Problem] = []
    if config is None:
        config, config_problems = load_config(input_dir)
    result = read_input(input_dir, config, cache_dir, done=lambda n, total: progress("read", n, total))
    progress("reconcile")
    rec = reconcile(result.workbooks, config)
    rec.problems.items[:0] = list(config_problems) + list(result.problems)
    rec.inputs = list(result.inputs)
    sheets = {wb.path: _sheet_types(wb, config) for wb in result.workbooks}
    for f in rec.inputs:
        if f.path in sheets:
            f.sheets = sheets[f.path]
    return rec


def _sheet_types(wb: RawWorkbook, config: Config) -> list[tuple[str, str]]:
    out = []
    for sheet in wb.sheets:
        stype = classify(sheet, wb.kind == "csv", config.fy_start)
        out.append((sheet.name, stype.key if stype else "ignored"))
    return out
