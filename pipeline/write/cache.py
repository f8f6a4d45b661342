"""Content-addressed cache of partner reviews, so a re-run renders only what changed.

A partner PDF is made from its `PartnerView`, the report date, the library versions and our code.
`review_keys` gives every partner's key at once: a hash of what all views share (quarter, config, KPI
definitions, the frames' columns; `analyse.partner_digests`), of the partner's own rows in every frame it
is sliced from, of the report date, and of `code_fingerprint` (the source of the whole package and the
versions of the `LIBRARIES` that read and draw). So a review is served from the cache only when nothing
it is made from changed, and any code or library change renders everything again.

An entry is stored under ``OUTPUT/.cache/<quarter>/<key>.pdf``: a first line with the format and the
SHA-256 of the rest, the partner's manifest record as one line of JSON, then the PDF. It is served only
when that checksum still matches; a corrupted or truncated entry is deleted and treated as a miss, never
copied into place. Entries a run neither used nor wrote are pruned at its end, so the cache holds at most
one review per partner per quarter.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.core.files import code_fingerprint, discard, read_entry, write_entry
from pipeline.core.files import prune as prune_entries

CACHE_DIR = ".cache"
FORMAT = b"partner-review-cache 2"


def cache_dir(output_dir: Path, quarter: str) -> Path:
    return Path(output_dir) / CACHE_DIR / quarter


def read_cache_dir(output_dir: Path) -> Path:
    """Where `pipeline.read.cache` keeps the workbooks read (no quarter label looks like this)."""
    return Path(output_dir) / CACHE_DIR / "read"


def review_identities(analysis: Any, report_date: dt.date) -> dict[str, tuple[str, str]]:
    """partner_id -> (the cache key of its review, its content fingerprint), for every partner in the registry.

    The key covers everything the PDF's bytes depend on (`code_fingerprint`, the report date, the data);
    the fingerprint only what the review says: the data it is made from (`analyse.partner_digests` with
    ``content``), not the date it bears, the library versions, settings it does not show, or the bytes.
    The send log recognises a review by it."""
    from pipeline.analyse.analysis import partner_digests

    shared, own = partner_digests(analysis)
    shown, says = partner_digests(analysis, content=True)
    base = hashlib.sha256()
    base.update(code_fingerprint().encode() + b"|" + str(report_date).encode() + b"|" + shared)
    content = hashlib.sha256(b"partner-review content 1|" + shown)
    out = {}
    for pid, digest in own.items():
        key, fingerprint = base.copy(), content.copy()
        key.update(pid.encode("utf-8", "surrogatepass") + b"|" + digest)
        fingerprint.update(pid.encode("utf-8", "surrogatepass") + b"|" + says[pid])
        out[pid] = (key.hexdigest(), fingerprint.hexdigest()[:32])
    return out


def brief_keys(analysis: Any, review_keys: dict[str, str]) -> dict[str, str]:
    """partner_id -> the cache key of its meeting brief: its review's key (everything the review is made from,
    the date, the code) with the brief's own inputs (`analyse.analysis.brief_digests`: Canvas, next targets)."""
    from pipeline.analyse.analysis import brief_digests

    own = brief_digests(analysis)
    return {pid: hashlib.sha256(b"brief 1|" + key.encode() + b"|" + own.get(pid, b"")).hexdigest()
            for pid, key in review_keys.items()}


def review_keys(analysis: Any, report_date: dt.date | None = None) -> dict[str, str]:
    """partner_id -> the cache key of its review, for every partner in the registry."""
    return {pid: key for pid, (key, _fp) in review_identities(analysis, report_date or dt.date.today()).items()}


def get(folder: Path, key: str) -> tuple[bytes, dict[str, Any]] | None:
    """The cached PDF and manifest record for `key`, or None. An entry whose checksum does not match, or
    that does not parse, is removed, not served."""
    path = Path(folder) / f"{key}.pdf"
    body = read_entry(path, FORMAT)
    if body is not None:
        record, sep, pdf = body.partition(b"\n")
        try:
            entry = json.loads(record)
        except ValueError:
            entry = None
        if sep and isinstance(entry, dict) and pdf.startswith(b"%PDF"):
            return pdf, entry
        discard(path)
    return None


def put(folder: Path, key: str, pdf: bytes, entry: dict[str, Any]) -> None:
    """Store `pdf` and its manifest record under `key`."""
    body = json.dumps(entry, ensure_ascii=True, sort_keys=True, default=str).encode() + b"\n" + pdf
    write_entry(Path(folder) / f"{key}.pdf", FORMAT, body)


def prune(folder: Path, keep: Iterable[str]) -> int:
    """Delete the reviews (and stray temp files) of `folder` whose key is not in `keep`."""
    return prune_entries(folder, keep, suffix=".pdf")
