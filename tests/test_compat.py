"""The fast paths over private library APIs (pipeline.compat): on where they are known to work, loudly.

A speed-up that silently switched itself off on an upgrade would be a regression nobody sees. These tests
fail when the installed reportlab or matplotlib is one our mirrors were not made for, or when one of the
private functions they need is gone: then run the suite on the new version (the render and chart tests
compare each fast path with the public one), and widen `pipeline.compat.SUPPORTED` and the upper bounds
in pyproject.toml."""
from __future__ import annotations

from importlib import metadata

import pytest

from pipeline import compat
from pipeline.compat import versions


def test_every_fast_path_is_on_with_the_installed_libraries():
    off = [name for name, on in compat.fast_paths().items() if not on]
    assert off == [], (f"fast paths off: {off} with reportlab {metadata.version('reportlab')} and matplotlib "
                       f"{metadata.version('matplotlib')}; supported: {compat.SUPPORTED}")


@pytest.mark.parametrize("library", sorted(compat.SUPPORTED))
def test_the_pinned_upper_bound_keeps_each_mirrored_library_on_a_supported_version(library):
    """pyproject.toml bounds each mirrored library below the next version nobody checked."""
    import re
    import tomllib
    from pathlib import Path

    deps = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    [spec] = [d for d in deps if re.match(rf"{library}\b", d)]
    upper = re.search(r"<\s*([\d.]+)", spec)
    assert upper, f"{spec}: a library whose private API we mirror needs an upper bound"
    newest = max(compat.SUPPORTED[library])
    bound = tuple(int(p) for p in upper.group(1).split("."))[:2]
    assert bound == (newest[0], newest[1] + 1), f"{spec}: the upper bound is the minor version after {newest}"


def test_an_unsupported_version_takes_the_public_path(monkeypatch):
    from pipeline.compat import reportlab_flow, reportlab_fonts, reportlab_png

    versions.supported.cache_clear()
    monkeypatch.setattr(versions, "SUPPORTED", {"reportlab": ((4, 0),), "matplotlib": ((3, 8),)})
    try:
        assert not reportlab_flow.active() and not reportlab_png.active() and not reportlab_fonts.active()
        assert reportlab_fonts.install([]) is False
        assert reportlab_png.flowable(b"\x89PNG", 10, 10) is None
    finally:
        versions.supported.cache_clear()


def _doc(words: str) -> bytes:
    import datetime as dt

    from pipeline.render import layout as L

    story = [L.para(words), L.para(f"<b>{words}</b> · <i>{words}</i>", markup=True)]
    return L.build(story, L.Page(header_left="Kestrel & Vane · 2026-Q3", header_right="Northwind"), title="t",
                   author="a", as_of=dt.date(2026, 10, 9), subject="s", keywords="k")


def test_font_subsets_kept_give_the_bytes_reportlab_makes():
    """A font subset is made and deflated once per process (`reportlab_fonts`), and a PDF is byte for byte the
    one reportlab makes on its own; the same characters again make no new subset."""
    from reportlab.pdfbase import pdfdoc, pdfmetrics

    from pipeline.compat import reportlab_fonts
    from pipeline.render import style

    style.register_fonts()
    words = "Château Vert — Северный Ветер, Αθηνά: ▲ 2.1 pts “on track” → 15 Oct 2026"
    kept = _doc(words)
    assert reportlab_fonts.kept() > 0, "no subset was kept: reportlab no longer calls TTFontFace.makeSubset"
    n = reportlab_fonts.kept()
    assert _doc(words) == kept and reportlab_fonts.kept() == n   # the same subsets again: none made anew
    faces = [pdfmetrics.getFont(name).face for name in (style.FONT, style.FONT_BOLD, style.FONT_ITALIC)]
    saved = [vars(f).pop("makeSubset") for f in faces]
    saved_encode = vars(pdfdoc.PDFZCompress).pop("encode")
    try:   # reportlab's own path: each subset made and deflated for this PDF
        own = _doc(words)
    finally:
        for f, m in zip(faces, saved):
            f.makeSubset = m
        pdfdoc.PDFZCompress.encode = saved_encode
    assert own == kept
    assert _doc(words + " Añil Robotics") != kept   # a new character: a new subset, made and kept
    assert reportlab_fonts.kept() > n
