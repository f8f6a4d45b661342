"""PNG charts placed in a PDF without decoding them.

A PNG's image data is a zlib stream of predictor-filtered rows, which PDF reads as is (FlateDecode with
PNG predictors). Embedding those bytes skips what reportlab's ``Image`` does for every chart: decode the
PNG to raw RGB, hash it and deflate it again (a third of a partner PDF's build time for twelve charts).
The picture is the same pixels; the file is smaller. PNGs this cannot take (interlaced, 16-bit,
transparent, grey with alpha) go through reportlab's ``Image`` as before.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from typing import Any, NamedTuple

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOURS = {0: 1, 2: 3, 3: 1}  # PNG colour type -> samples per pixel: grey, RGB, palette


class Png(NamedTuple):
    """What a PDF image object needs from one PNG."""

    width: int
    height: int
    colour_type: int
    palette: bytes
    data: bytes  # the concatenated IDAT chunks: a zlib stream


def parse(png: bytes) -> Png | None:
    """The PNG's size, colours and image data, or None when it cannot be embedded as is."""
    if not png.startswith(SIGNATURE):
        return None
    pos, header, palette, idat = len(SIGNATURE), None, b"", []
    try:
        while pos + 8 <= len(png):
            size, kind = struct.unpack(">I4s", png[pos:pos + 8])
            body = png[pos + 8:pos + 8 + size]
            if kind == b"IHDR":
                header = struct.unpack(">IIBBBBB", body)
            elif kind == b"PLTE":
                palette = body
            elif kind == b"IDAT":
                idat.append(body)
            elif kind == b"tRNS":
                return None  # transparency needs a soft mask: leave it to reportlab
            elif kind == b"IEND":
                break
            pos += 12 + size
    except struct.error:
        return None
    if header is None or not idat:
        return None
    width, height, depth, colour, _compression, _filter, interlace = header
    if depth != 8 or interlace or colour not in _COLOURS or (colour == 3 and not palette):
        return None
    data = b"".join(idat)
    try:  # a damaged stream would embed silently: check it inflates to every row (cheap next to deflating)
        if len(zlib.decompress(data)) != height * (1 + width * _COLOURS[colour]):
            return None
    except zlib.error:
        return None
    return Png(width, height, colour, palette, data)


def active() -> bool:
    """On reportlab versions whose canvas internals `_draw` mirrors (`pipeline.compat`)."""
    from pipeline.compat.versions import supported

    return supported("reportlab")


def flowable(png: bytes, width: float, height: float):
    """A flowable drawing `png` at `width` x `height` points; None when the PNG needs reportlab's decoder,
    or on a reportlab this module was not made for (then reportlab's Image draws it)."""
    if not active():
        return None
    info = parse(png)
    if info is None:
        return None
    return (_flowable_class or _make_flowable_class())(info, png, width, height)


_flowable_class: Any = None


def _make_flowable_class():
    """The flowable class, made once (reportlab is imported on first use)."""
    global _flowable_class
    from reportlab.platypus import Flowable

    class PngFlowable(Flowable):
        def __init__(self, info: Png, png: bytes, width: float, height: float) -> None:
            super().__init__()
            self.info, self.png = info, png
            self.width, self.height = width, height
            self.hAlign = "CENTER"  # as reportlab's Image, when placed in a frame rather than a cell

        def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
            return self.width, self.height

        def draw(self) -> None:
            _draw(self.canv, self.info, self.png, self.width, self.height)

    _flowable_class = PngFlowable
    return PngFlowable


def _draw(canv: Any, info: Png, png: bytes, width: float, height: float) -> None:
    """What ``Canvas.drawImage`` does, with an image object that carries the PNG's own data."""
    name = "png" + hashlib.md5(png, usedforsecurity=False).hexdigest()
    doc = canv._doc
    reg = doc.getXObjectName(name)
    if not doc.idToObject.get(reg):
        obj = _xobject(info, name)
        canv._setXObjects(obj)
        doc.Reference(obj, reg)
        doc.addForm(name, obj)
    canv._currentPageHasImages = 1
    canv.saveState()
    canv.scale(width, height)
    canv._code.append(f"/{reg} Do")
    canv.restoreState()
    canv._formsinuse.append(name)


def _xobject(info: Png, name: str):
    from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFImageXObject, PDFName, PDFStream, PDFText

    class PngXObject(PDFImageXObject):
        def __init__(self) -> None:
            self.name = name
            self.mask = None

        def format(self, document: Any) -> bytes:
            colours = _COLOURS[info.colour_type]
            if info.colour_type == 3:
                space: Any = PDFArray([PDFName("Indexed"), PDFName("DeviceRGB"), len(info.palette) // 3 - 1,
                                       PDFText(info.palette)])
            else:
                space = PDFName("DeviceGray" if colours == 1 else "DeviceRGB")
            stream = PDFStream(content=info.data)
            d = stream.dictionary
            d["Type"], d["Subtype"] = PDFName("XObject"), PDFName("Image")
            d["Width"], d["Height"], d["BitsPerComponent"] = info.width, info.height, 8
            d["ColorSpace"] = space
            d["Filter"] = PDFName("FlateDecode")  # one filter, so DecodeParms is one dictionary
            d["DecodeParms"] = PDFDictionary({"Predictor": 15, "Colors": colours, "BitsPerComponent": 8,
                                              "Columns": info.width})
            d["Length"] = len(info.data)
            return stream.format(document)

    return PngXObject()
