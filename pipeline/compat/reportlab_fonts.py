"""TrueType subsets made and deflated once per process, not once per PDF.

Every PDF embeds a subset of each TrueType font it uses: reportlab builds it (``TTFontFace.makeSubset``) and
deflates it (the stream's ``PDFZCompress`` filter) for each document, about 3 ms of a two-page brief, more than
a page of text costs. The documents of a run use mostly the same characters in the same order (reportlab
numbers a subset's characters in the order of their first use), so nine in ten subsets are byte for byte one
the process made before. `install` keeps, for each of our faces, the subsets it made and their deflated bytes,
and gives them back: the same bytes reportlab would have made, so the PDF is byte for byte the same.

Only our registered faces are touched (an instance attribute on each face); the deflate filter answers from
memory only for a subset this module made (by identity), and deflates everything else as before.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

KEPT = 32   # subsets kept per face (about 30 kB each), the least recently used dropped first

_deflated: dict[int, tuple[bytes, bytes]] = {}   # id(subset bytes) -> (the subset, deflated)
_installed = False


def active() -> bool:
    """On reportlab versions whose ``TTFontFace.makeSubset`` and ``PDFZCompress`` this relies on."""
    from pipeline.compat.versions import supported

    return supported("reportlab")


def install(fonts: list[Any]) -> bool:
    """Keep the subsets of `fonts` (reportlab TTFonts, once registered) for the rest of the process. Returns
    whether the fast path is on (off on a reportlab this was not made for: each PDF then makes its own)."""
    global _installed
    if not active():
        return False
    from reportlab.pdfbase import pdfdoc

    for font in fonts:
        face = font.face
        if "makeSubset" not in vars(face):
            face.makeSubset = _kept(face.makeSubset)
    if not _installed:
        zlib_filter = pdfdoc.PDFZCompress
        encode = zlib_filter.encode

        def kept_encode(text: Any) -> bytes:
            hit = _deflated.get(id(text))
            if hit is not None and hit[0] is text:
                return hit[1]
            return encode(text)

        zlib_filter.encode = kept_encode
        _installed = True
    return True


def _kept(make: Any) -> Any:
    made: OrderedDict[tuple[int, ...], bytes] = OrderedDict()

    def make_subset(subset: list[int]) -> bytes:
        key = tuple(subset)
        data = made.get(key)
        if data is not None:
            made.move_to_end(key)
            return data
        data = made[key] = make(subset)
        from reportlab.pdfbase import pdfdoc

        _deflated[id(data)] = (data, pdfdoc.PDFStreamFilterZCompress().encode(data))
        while len(made) > KEPT:
            _, old = made.popitem(last=False)
            _deflated.pop(id(old), None)
        return data

    return make_subset


def kept() -> int:
    """How many subsets are kept now (for the tests)."""
    return len(_deflated)
