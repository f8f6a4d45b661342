"""Which partner a review PDF belongs to, written into the PDF itself and read back before it is sent.

The renderer puts ``partner-review:1 {"partner_id": ..., "quarter": ..., "fingerprint": ...}`` into the PDF's
Keywords; the portfolio carries ``{"portfolio": quarter}``. The sender reads it back from the file it is
about to attach (`pdf_identity`) and refuses a file whose identity is not the manifest entry's: a file
name shared or swapped by mistake can then never put one partner's review in front of another.
"""
from __future__ import annotations

import io
import json
from typing import Any

IDENTITY_PREFIX = "partner-review:1 "


def review_keywords(partner_id: str, quarter: str, fingerprint: str) -> str:
    """The Keywords of a partner review PDF."""
    return IDENTITY_PREFIX + json.dumps({"partner_id": partner_id, "quarter": quarter, "fingerprint": fingerprint},
                                        ensure_ascii=True, sort_keys=True)


def request_keywords(partner_id: str, quarter: str, reviewed: str, due: str) -> str:
    """The Keywords of a data request workbook (its docProps/core.xml): whose it is, the quarter it asks
    about, the quarter reviewed with it, and when the answers are due."""
    return IDENTITY_PREFIX + json.dumps({"request": partner_id, "quarter": quarter, "reviewed": reviewed, "due": due},
                                        ensure_ascii=True, sort_keys=True)


def xlsx_identity(data: bytes) -> dict[str, Any]:
    """The identity a workbook carries in its Keywords ({} for one without, or bytes that are no workbook).
    Read with defusedxml: the file is in the output folder, where anything may have been put."""
    import zipfile

    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            core = z.read("docProps/core.xml")
        root = ElementTree.fromstring(core)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, DefusedXmlException, ElementTree.ParseError):
        return {}
    node = root.find("{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}keywords")
    return parse_keywords(node.text if node is not None else None)


def brief_keywords(partner_id: str, quarter: str) -> str:
    """The Keywords of an internal meeting brief: the e-mail gate refuses any PDF that carries them."""
    return IDENTITY_PREFIX + json.dumps({"brief": partner_id, "quarter": quarter}, ensure_ascii=True, sort_keys=True)


def portfolio_keywords(quarter: str) -> str:
    return IDENTITY_PREFIX + json.dumps({"portfolio": quarter}, ensure_ascii=True)


def parse_keywords(keywords: object) -> dict[str, Any]:
    """The identity in a Keywords string, or {} when it holds none."""
    if not isinstance(keywords, str) or not keywords.startswith(IDENTITY_PREFIX):
        return {}
    try:
        found = json.loads(keywords[len(IDENTITY_PREFIX):])
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def pdf_identity(pdf: bytes) -> dict[str, Any]:
    """The identity a PDF carries in its metadata ({} for a PDF without one, or bytes that are no PDF)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        meta = PdfReader(io.BytesIO(pdf)).metadata
    except (PyPdfError, ValueError, KeyError, TypeError, OSError):
        return {}
    return parse_keywords(meta.get("/Keywords") if meta else None)
