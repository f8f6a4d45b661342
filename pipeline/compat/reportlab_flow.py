"""reportlab's Paragraph, made cheaper without changing what it draws.

`paragraph(markup, style)` is ``Paragraph(markup, style)`` with shortcuts measured on the partner review
(issue 7), where parsing markup and breaking lines were a third of the time:

- markup is parsed once per *shape*: the same tags with other text between them (``<b>…</b><br/>…``,
  hundreds per review) reuse the fragments reportlab's parser made for that shape, each copy carrying its
  own text. Text with an entity (``&amp;``) goes through the parser as before.
- a tag's attributes already seen (``<font size="6.5" color="#5f6b7a">``) are not converted again.
- a paragraph asked to wrap at the width it last wrapped at (a table measures each cell, then draws it)
  answers from that layout instead of breaking its lines again.

`table_class()` is reportlab's Table with the same memory: once it has measured every row at a width, it
does not measure them again at that width (reportlab does, each time a heading kept with its table, the
frame and the split ask).
"""
from __future__ import annotations

import re
from typing import Any

_TAG = re.compile(r"<[^>]*>")
_para_class: Any = None
_table_class: Any = None
_shapes: dict[tuple, tuple[Any, list]] = {}  # (style id, tags, which texts are empty) -> (style, fragments)
_attributes: dict[tuple, dict] = {}  # (attribute map, case-sensitive, a tag's attributes) -> converted
_KEPT = 2048  # entries per cache; past that it starts again


def active() -> bool:
    """On reportlab versions whose ``Paragraph._setup`` and ``Table._calc`` this mirrors (`pipeline.compat`)."""
    from pipeline.compat.versions import supported

    return supported("reportlab")


def paragraph(markup: str, style: Any):
    """A Paragraph of `markup` in `style` (reportlab's own, on a version this module was not made for)."""
    cls = _para_class or _make_class()
    if cls is _PLAIN:
        return cls(markup, style)
    parsed = _from_shape(markup, style, cls)
    if parsed is None:
        return cls(markup, style)
    text, frags = parsed
    return cls(text, style, frags=frags)


def _from_shape(markup: str, style: Any, cls: Any) -> tuple[str, list] | None:
    """(cleaned text, fragments) as reportlab's parser would make them, from the fragments of the same
    shape of markup parsed before; None when the markup has an entity or does not follow its shape."""
    from reportlab.platypus.paragraph import cleanBlockQuotedText, textTransformFrags

    text = cleanBlockQuotedText(markup)
    if "&" in text or text.startswith("<para"):
        return None
    if "<" in text:
        tags = _TAG.findall(text)
        pieces = _TAG.split(text)  # len(tags) + 1 texts around the tags
    else:
        tags, pieces = [], [text]
    key = (id(style), tuple(tags), tuple(not p for p in pieces))
    shape = _shapes.get(key)
    if shape is None or shape[0] is not style:
        skeleton = "".join(("x" if p else "") + t for p, t in zip(pieces, tags + [""]))
        try:
            frags = cls(skeleton, style).frags
        except ValueError:
            return None
        if len(_shapes) >= _KEPT:
            _shapes.clear()
        shape = _shapes[key] = (style, frags)
    texts = [p for p in pieces if p]
    out, n = [], 0
    new = object.__new__
    for f in shape[1]:
        g = new(type(f))  # a shallow copy, as the parser makes each fragment
        g.__dict__.update(f.__dict__)
        if g.text == "x":
            if n == len(texts):
                return None
            g.text = texts[n]
            n += 1
        out.append(g)
    if n != len(texts):
        return None
    textTransformFrags(out, style)
    return text, out


_PLAIN: Any = None  # reportlab's Paragraph, where the fast path is off


def _make_class():
    global _para_class, _PLAIN
    from reportlab.platypus import Paragraph

    if not active():
        _para_class = _PLAIN = Paragraph
        return Paragraph
    from reportlab.platypus.paragraph import textTransformFrags
    from reportlab.platypus.paraparser import ParaParser, _ExValidate

    class Parser(ParaParser):
        """reportlab's parser, converting each distinct set of tag attributes once per process."""

        def getAttributes(self, attr: dict, attrMap: dict) -> dict:
            key = (id(attrMap), self.caseSensitive, tuple(attr.items()))
            hit = _attributes.get(key)
            if hit is None:
                errors = len(self.errors)
                hit = super().getAttributes(attr, attrMap)
                pure = all(not isinstance(attrMap.get(k if self.caseSensitive else k.lower(), (0, None))[1],
                                          _ExValidate) for k in attr)
                if len(self.errors) != errors or not pure:  # errors are reported, and some checks read state
                    return hit
                if len(_attributes) >= _KEPT:
                    _attributes.clear()
                _attributes[key] = hit
            return dict(hit)

    class Para(Paragraph):
        """A Paragraph parsed by `Parser` that remembers its last layout: wrapping again at the same width
        reuses it."""

        _last: tuple | None = None  # (width, the line layout, the size returned)

        def _setup(self, text: str, style: Any, bulletText: Any, frags: Any, cleaner: Any) -> None:
            if frags is None:  # as Paragraph._setup, with our parser
                text = cleaner(text)
                parser = Parser()
                parser.caseSensitive = self.caseSensitive
                style, frags, bullet_frags = parser.parse(text, style)
                if frags is None:
                    raise ValueError(f"xml parser error ({parser.errors[0]}) in paragraph beginning\n'{text[:30]}'")
                textTransformFrags(frags, style)
                if bullet_frags:
                    bulletText = bullet_frags
            super()._setup(text, style, bulletText, frags, cleaner)

        def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
            last = self._last
            if last is not None and last[0] == avail_width and last[1] is getattr(self, "blPara", None):
                return last[2]
            size = super().wrap(avail_width, avail_height)
            self._last = (avail_width, getattr(self, "blPara", None), size)
            return size

    _para_class = Para
    return Para


_cell_classes: dict[tuple, tuple[Any, Any]] = {}


def cell_styles(nrows: int, ncols: int, header_rows: int, body: dict[str, Any], head: dict[str, Any]) -> list[list]:
    """A Table's ``cellStyles``: one CellStyle per cell, starting from `head` in the first `header_rows`
    rows and `body` below (attribute -> value; ``color`` a hex code). Giving each cell these values as
    its class defaults is what the same commands over the whole table would do, without the per-cell
    work; commands set afterwards change one cell's own style as usual."""
    key = (tuple(body.items()), tuple(head.items()))
    classes = _cell_classes.get(key)
    if classes is None:
        from reportlab.lib.colors import HexColor
        from reportlab.platypus.tables import CellStyle

        def make(values: dict[str, Any]) -> Any:
            attrs = {k: HexColor(v) if k == "color" else v for k, v in values.items()}
            return type("HouseCellStyle", (CellStyle,), attrs)

        classes = _cell_classes[key] = (make(body), make(head))
    cls_body, cls_head = classes
    return [[(cls_head if i < header_rows else cls_body)(f"({i}, {j})") for j in range(ncols)] for i in range(nrows)]


def table_class():
    """reportlab's Table, remembering a complete layout (every row measured) for its width."""
    global _table_class
    if _table_class is not None:
        return _table_class
    from reportlab.platypus import Table

    if not active():
        _table_class = Table
        return Table

    class HouseTable(Table):
        _laid_out_at: float | None = None  # the width of the last layout that measured every row

        def _calc(self, avail_width: float, avail_height: float) -> None:
            # Row heights depend on the width only; a layout at a smaller height may stop measuring early
            # (long-table optimisation), and is then redone, as in reportlab.
            if self._laid_out_at == avail_width:
                return
            super()._calc(avail_width, avail_height)
            complete = self._hmax == self._nrows and not self._spanCmds
            self._laid_out_at = avail_width if complete else None

        def setStyle(self, tblstyle: Any) -> None:
            self._laid_out_at = None
            super().setStyle(tblstyle)

    _table_class = HouseTable
    return HouseTable
