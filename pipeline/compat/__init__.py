"""Fast paths over libraries' private APIs, in one place, each behind a version check.

Four speed-ups (issue 7, and the fonts for issue 19) reach below a library's public API:

| module | mirrors | supported |
|---|---|---|
| `reportlab_flow` | reportlab's ``Paragraph._setup`` and ``Table._calc`` (markup parsed once per shape, tables measured once) | reportlab 5.1 |
| `reportlab_png` | reportlab's ``Canvas._doc`` and ``_setXObjects`` (chart PNGs embedded without decoding) | reportlab 5.1 |
| `reportlab_fonts` | reportlab's ``TTFontFace.makeSubset`` and ``PDFZCompress`` (a font subset made and deflated once per process, not per PDF) | reportlab 5.1 |
| `mpl_text` | matplotlib's Agg text internals (chart text rasterised once per process) | matplotlib 3.11 |

Each is used only on the versions it was written and tested against (`versions.SUPPORTED`, also the upper
bounds in pyproject.toml); on any other version the code takes reportlab's and matplotlib's public path, which
draws the same thing more slowly. `fast_paths()` says which are on, and ``tests/test_compat.py`` fails
when one is off on the installed versions: a speed-up that silently disappeared on an upgrade would be a
regression nobody sees. To support a new version: run the suite on it (the tests compare each fast path
with the public one), then widen its range here and in pyproject.toml.
"""  # noqa: E501 - the rows of the table above are not wrapped
from __future__ import annotations

from pipeline.compat.versions import SUPPORTED, supported  # noqa: F401 - the table and check, at the package


def fast_paths() -> dict[str, bool]:
    """Each fast path and whether it is on here."""
    from pipeline.compat import mpl_text, reportlab_flow, reportlab_fonts, reportlab_png

    return {"reportlab_flow": reportlab_flow.active(), "reportlab_png": reportlab_png.active(),
            "reportlab_fonts": reportlab_fonts.active(), "mpl_text": mpl_text.active()}
