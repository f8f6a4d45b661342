"""One partner's review e-mail: building it, and checking it before it leaves.

Every message goes To the partner leads, Cc the internal owner, and carries that partner's PDF and
nothing else; `check_message` is the last gate before a draft is written or a message is sent. Its words
are a template (`pipeline.distribute.template`) filled with that partner's fields (`pipeline.distribute.text`);
the HTML part is the same text, escaped.
"""
from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.distribute.template import MailTemplate


def mail_policy():
    """For writing a built message: SMTP line endings, headers folded only past 200 characters (RFC 5322 allows 998),
    so a subject is never folded right after its colon, which some mail programs show as a leading space."""
    from email.policy import SMTP

    return SMTP.clone(max_line_length=200)


NO_RECIPIENTS = "NO_RECIPIENTS"            # no partner lead address in the registry
BAD_ADDRESS = "BAD_ADDRESS"                # an address that is not an e-mail address


class Unsendable(ValueError):
    """A message that cannot be built: ``code`` from the list above and what to do about it."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code, self.detail = code, detail


def addresses(values: str | Iterable[Any] | None) -> list[str]:
    """Addresses from a list or a `;`/`,`-separated string, trimmed, each once (case-insensitively)."""
    if isinstance(values, str):
        values = values.replace(",", ";").split(";")
    seen: dict[str, str] = {}
    for v in values or []:
        v = str(v).strip()
        if v and v.lower() not in seen:
            seen[v.lower()] = v
    return list(seen.values())


def _address(addr: str, name: str = ""):
    """A validated header Address; ValueError for anything that is not one plain address."""
    from email.headerregistry import Address

    if any(c.isspace() for c in addr) or addr.count("@") != 1:
        raise ValueError(addr)
    try:
        return Address(display_name=name or "", addr_spec=addr)
    except Exception as exc:  # the header parser raises several defect types
        raise ValueError(addr) from exc


# --- building and checking one message ------------------------------------------------------------
def _bodies(entry: dict[str, Any], manifest: dict[str, Any], request: Attachment | None = None,
            template: MailTemplate | None = None) -> tuple[str, str]:
    """The plain-text and HTML bodies: the template (default: the built-in one) filled with this partner's
    fields (`pipeline.distribute.text`)."""
    _, text = _render(entry, manifest, request, template)
    return text, html_page(text)


def _render(entry: dict[str, Any], manifest: dict[str, Any], request: Attachment | None,
            template: MailTemplate | None) -> tuple[str, str]:
    """(subject, plain-text body) of one partner's e-mail."""
    from pipeline.distribute.template import load_template
    from pipeline.distribute.text import fields

    values = fields(entry, manifest, request.identity if request is not None else None)
    subject, text = (template or load_template(None)).render(values)
    return subject or values["subject"], text


def html_page(text: str) -> str:
    """The HTML alternative of a plain-text body: a paragraph per block of lines, a list where every line of
    a block starts with '- ', every character escaped."""
    esc = html.escape
    parts = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        if all(line.startswith("- ") for line in lines):
            parts.append("<ul>" + "".join(f"<li>{esc(line[2:])}</li>" for line in lines) + "</ul>")
        elif len(lines) > 1 and all(line.startswith("- ") for line in lines[1:]):  # an introduced list
            parts.append(f"<p>{esc(lines[0])}</p><ul>" + "".join(f"<li>{esc(x[2:])}</li>" for x in lines[1:]) + "</ul>")
        else:
            parts.append("<p>" + "<br>".join(esc(line) for line in lines) + "</p>")
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="font-family:sans-serif">'
            f'{"".join(parts)}</body></html>\n')


@dataclass(frozen=True)
class Attachment:
    """The data request attached beside the review: its file name, bytes and the identity it carries."""

    name: str
    data: bytes
    identity: dict[str, Any]


def build_message(entry: dict[str, Any], manifest: dict[str, Any], pdf_name: str, pdf: bytes, sender: str | None,
                  request: Attachment | None = None, template: MailTemplate | None = None):
    """One partner's EmailMessage (policy SMTP): its text from ``template`` (default: the built-in one), the
    review PDF attached, and its data request when it has one; Unsendable when it cannot be built."""
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import format_datetime, make_msgid

    recipients, cc = addresses(entry.get("recipients")), addresses(entry.get("cc"))
    if not recipients:
        raise Unsendable(NO_RECIPIENTS, "no partner lead address; fill in partner_lead_email in the Partners sheet "
                                        "and run `report` again")
    lead = str(entry.get("partner_lead") or "") if len(recipients) == 1 else ""
    owner = str(entry.get("internal_owner") or "") if len(cc) == 1 else ""
    try:
        to = [_address(a, lead) for a in recipients]
        copy = [_address(a, owner) for a in cc]
        frm = _address(sender) if sender else (copy[0] if copy else None)
    except ValueError as exc:
        raise Unsendable(BAD_ADDRESS, f"'{exc}' is not an e-mail address; fix it in the Partners sheet (or --from)") from exc
    msg = EmailMessage(policy=SMTP)  # bodies encoded for 78-character lines
    if frm is not None:
        msg["From"] = frm
    msg["To"] = to
    if copy:
        msg["Cc"] = copy
    subject, text = _render(entry, manifest, request, template)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now().astimezone())
    msg["Message-ID"] = make_msgid(domain=frm.domain if frm is not None else "partner-review.invalid")
    msg.set_content(text)
    msg.add_alternative(html_page(text), subtype="html")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=pdf_name)
    if request is not None:
        msg.add_attachment(request.data, maintype="application", filename=request.name,
                           subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return msg


def check_message(raw: bytes, pdf: bytes, portfolio: bytes | None, request: bytes | None = None) -> str:
    """Why this message must not leave ('' when it may): the partner's own PDF and (when it has one) its own
    data request, byte for byte, and nothing else; never the portfolio PDF."""
    import email
    from email.policy import default

    msg = email.message_from_bytes(raw, policy=default)
    parts = [p for p in msg.walk() if not p.is_multipart()
             and (p.is_attachment() or p.get_content_type() not in ("text/plain", "text/html"))]
    expected = [pdf] + ([request] if request is not None else [])
    if len(parts) != len(expected):
        return (f"the message carries {len(parts)} attachments instead of exactly {len(expected)} "
                f"(the review{' and its data request' if request is not None else ''})")
    found = [p.get_payload(decode=True) or b"" for p in parts]
    if portfolio is not None and portfolio in found:
        return "an attachment is the portfolio review, which never leaves the house"
    if found[0] != pdf:
        return "the attachment differs from the partner's own PDF"
    if request is not None and found[1] != request:
        return "the second attachment differs from the partner's own data request"
    return ""
