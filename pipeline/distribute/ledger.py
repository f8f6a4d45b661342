"""What may be sent, and what has been: the quarter's manifest, the identity gate every review passes
before it is attached, and the send log that makes sending exactly-once (see `pipeline.distribute.send`)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipeline.core.problems import PipelineError
from pipeline.render.identity import pdf_identity

ATTACHMENT_REFUSED = "ATTACHMENT_REFUSED"  # the built message failed the one-attachment check
PDF_NOT_PARTNERS = "PDF_NOT_PARTNERS"      # the PDF's own metadata names another partner, quarter or content
REQUEST_NOT_PARTNERS = "REQUEST_NOT_PARTNERS"  # the data request's own properties name another partner or quarter
REQUEST_MISSING = "REQUEST_MISSING"        # the manifest names a data request that is not in the quarter folder


# --- the manifest ---------------------------------------------------------------------------------
def read_manifest(reviews_dir: Path) -> dict[str, Any]:
    """The quarter folder's manifest.json; a PipelineError when it is missing or not a manifest."""
    path = Path(reviews_dir) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"no manifest.json in {reviews_dir}: "
                            "point --reviews at a quarter folder written by `report`") from None
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path} cannot be read: {exc}; run `partner-review report` again") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("partners"), list):
        raise PipelineError(f"{path} has no 'partners' list; run `partner-review report` again")
    return manifest


def same_review(sent: dict[str, Any], fingerprint: str, sha: str) -> bool:
    """Whether the partner's latest sent review is this one: the same content fingerprint (whatever the
    bytes, the date or the library versions); for a review without one, the same bytes. A record from
    before fingerprints (none in it) counts as this review: a send is never repeated on a guess."""
    if fingerprint:
        return sent.get("fingerprint", fingerprint) == fingerprint
    return sent.get("sha256") == sha


def not_partners_own(pdf: bytes, entry: dict[str, Any], manifest: dict[str, Any]) -> tuple[str, str]:
    """(code, why) when this PDF is not the review the manifest entry says it is (('', '') when it is), from
    the identity the PDF carries in its own metadata (`pipeline.render.identity`): partner, quarter and content."""
    found = pdf_identity(pdf)
    if "portfolio" in found:
        return ATTACHMENT_REFUSED, "it is the portfolio review, which never leaves the house"
    if "brief" in found:
        return ATTACHMENT_REFUSED, "it is an internal meeting brief, which never leaves the house"
    if not found:
        return PDF_NOT_PARTNERS, "the PDF carries no partner identity (it was not written by `partner-review report`)"
    if str(found.get("partner_id")) != str(entry["partner_id"]):
        return PDF_NOT_PARTNERS, f"the PDF is the review of partner {found.get('partner_id')!r}, not of {entry['partner_id']!r}"
    if manifest.get("quarter") and found.get("quarter") != manifest.get("quarter"):
        return PDF_NOT_PARTNERS, f"the PDF is the {found.get('quarter')} review, not the {manifest.get('quarter')} one"
    if entry.get("fingerprint") and found.get("fingerprint") != entry.get("fingerprint"):
        return PDF_NOT_PARTNERS, ("the PDF says something else than the review manifest.json lists; "
                                  "run `partner-review report` again")
    return "", ""


def not_partners_request(found: dict[str, Any], entry: dict[str, Any], manifest: dict[str, Any]) -> tuple[str, str]:
    """(code, why) when this workbook is not the data request of the manifest entry's partner for the quarter
    after the one reviewed (('', '') when it is), from the identity in its own properties (`xlsx_identity`)."""
    if not found or "request" not in found:
        return REQUEST_NOT_PARTNERS, ("the workbook carries no data request identity (it was not written by "
                                      "`partner-review report`)")
    if str(found.get("request")) != str(entry["partner_id"]):
        return REQUEST_NOT_PARTNERS, (f"the workbook is the data request of partner {found.get('request')!r}, "
                                      f"not of {entry['partner_id']!r}")
    if manifest.get("quarter") and found.get("reviewed") != manifest.get("quarter"):
        return REQUEST_NOT_PARTNERS, (f"the workbook is the request sent with the {found.get('reviewed')} review, "
                                      f"not the {manifest.get('quarter')} one")
    return "", ""


BRIEF_SUFFIX = "_brief_internal.pdf"   # how every meeting brief's name ends (casefolded)


def internal_by_name(reviews_dir: Path, path: Path, manifest: dict[str, Any]) -> str:
    """Why `path` is one of our internal files by its name or place ('' when it is not): the portfolio, a
    meeting brief the manifest lists, any file named like a brief or kept in the briefs folder."""
    if path == inside(reviews_dir, manifest.get("portfolio_pdf")):
        return "the manifest names the portfolio PDF as this partner's review"
    briefs = {inside(reviews_dir, e.get("brief")) for e in manifest.get("partners", []) if isinstance(e, dict)}
    if path in briefs or path.name.casefold().endswith(BRIEF_SUFFIX) or path.parent.name.casefold() == "briefs":
        return f"{path.name} is an internal meeting brief, which never leaves the house"
    return ""


def inside(reviews_dir: Path, rel: object) -> Path | None:
    """The manifest path resolved inside the quarter folder, or None when it is empty or escapes it."""
    if not rel or not isinstance(rel, str):
        return None
    root = Path(reviews_dir).resolve()
    path = (root / rel).resolve()
    return path if path.is_relative_to(root) else None


# --- files: drafts and the send log ---------------------------------------------------------------
def read_send_log(path: Path) -> list[dict[str, Any]]:
    """The send log's records; a line cut off by a crash is ignored."""
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            records.append(rec)
    return records


def append_send_log(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and fsync it before the next message goes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
    with open(path, "a+b") as f:
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":  # a previous run died mid-line: start a fresh one
                line = b"\n" + line
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def refuse_shared_files(reviews_dir: Path, entries: list[dict[str, Any]]) -> None:
    """A PipelineError naming them when two partners' entries name one file (as a case-insensitive disk
    tells names apart): then one review was overwritten by another, and nothing may be sent."""
    from pipeline.write.outputs import name_key

    owners: dict[str, list[str]] = {}
    for e in entries:
        path = inside(reviews_dir, e.get("pdf"))
        if path is not None:
            owners.setdefault(name_key(str(path)), []).append(str(e["partner_id"]))
    shared = {k: v for k, v in owners.items() if len(v) > 1}
    if shared:
        pairs = "; ".join(" and ".join(v) for v in shared.values())
        raise PipelineError(f"partners {pairs} share one review file in manifest.json, so one review may hold "
                            "another partner's figures: nothing was drafted or sent. Run `partner-review report` "
                            "again (it names every partner's file uniquely), then send")
