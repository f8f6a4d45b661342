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
