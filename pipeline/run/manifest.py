"""The run's manifest.json (review.md "manifest.json"): each partner's record, made by the worker that draws its
review from the analysis's view of it (and stored with the review in the cache), and the previous run's
manifest of the quarter, read back to remove the files it named that this run did not write."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def recipients(text: object) -> list[str]:
    """The addresses of a registry cell ('a@x.com; b@y.com' or with commas), [] when it holds none."""
    if not isinstance(text, str):
        return []
    return [a.strip() for a in text.replace(",", ";").split(";") if a.strip()]


def manifest_entry(view: Any, fingerprint: str) -> dict[str, Any]:
    """One partner's manifest record (its ``pdf`` is added once the review is written). Its ``summary`` is the
    analysis's (`PartnerView.summary`), the sentences the review and the e-mail show."""
    flags = view.flags
    return {
        "partner_id": str(view.partner["partner_id"]),
        "partner_name": view.partner.get("partner_name", ""),
        "pdf": "",
        "recipients": recipients(view.partner.get("recipients")),
        "cc": recipients(view.partner.get("internal_owner_email")),
        "health_score": view.health.get("score"),
        "health_status": view.health.get("status"),
        "flag_count": len(flags),
        "partner_lead": view.partner.get("partner_lead") or "",
        "internal_owner": view.partner.get("internal_owner") or "",
        "summary": " ".join(view.summary),
        "top_gaps": list(view.top_gaps[:3]),
        "agenda": list(view.next_quarter.agenda),
        "next_meeting": view.next_quarter.next_meeting.isoformat() if view.next_quarter.next_meeting else None,
        "fingerprint": fingerprint,
    }


def read_manifest(qdir: Path) -> dict:
    """The quarter folder's manifest as the previous run wrote it, {} when there is none (or it is damaged)."""
    try:
        return json.loads((qdir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
