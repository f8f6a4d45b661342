"""Distribute the reviews: one ``.eml`` draft per partner and, with ``--send``, delivery over SMTP.

The input is a quarter folder written by ``report`` (its ``manifest.json``). Each partner's message goes
To its partner leads, Cc its internal owner, and carries that partner's PDF and nothing else. Before a
message is built, the PDF must prove it is that partner's review: the identity in its own metadata
(`pipeline.render.identity`: partner_id, quarter, content fingerprint) must be the manifest entry's, and no two
entries may name one file (then nothing at all is drafted or sent). Every message is parsed back before
it is written or sent, and refused unless its single attachment equals the partner's PDF byte for byte
and is not the portfolio PDF.

Every draft is written and checked, and who gets what (to, cc, attachments) is echoed, before the first
message goes; the caller may then ask for a confirmation (`email --send` on a terminal, unless ``--yes``).

Sending is exactly-once per review: one ``--send`` at a time per quarter folder (`pipeline.core.locks`; it also
takes the output folder's report lock, so no report rewrites the quarter meanwhile). After the server
accepts a message, one JSON line is appended and fsynced to ``email/sent.jsonl`` (partner_id, pdf,
sha256, fingerprint, recipients, refused, message_id, time). A review counts as sent when the partner's
latest record has its content fingerprint: deleting the cache, a library upgrade or a re-run on another
day (new bytes, same content) sends nothing; a review whose content changed goes out again, and the log
then shows both. ``--resend`` sends regardless. The one window left: a crash after the server accepted a
message but before its log line is written sends that message again on the next run (at least once,
never silently lost).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.files import atomic_write as write_atomic
from pipeline.core.problems import PipelineError
from pipeline.distribute.ledger import (
    ATTACHMENT_REFUSED,
    PDF_NOT_PARTNERS,  # noqa: F401 - a code of this module's outcomes, where callers look for it
    REQUEST_MISSING,
    REQUEST_NOT_PARTNERS,  # noqa: F401 - a code of this module's outcomes, where callers look for it
    append_send_log,
    inside,
    internal_by_name,
    not_partners_own,
    not_partners_request,
    read_manifest,
    read_send_log,
    refuse_shared_files,
    same_review,
)
from pipeline.distribute.mail import (  # noqa: F401 (re-exported codes)
    BAD_ADDRESS,
    NO_RECIPIENTS,
    Attachment,
    Unsendable,
    addresses,
    build_message,
    check_message,
)
from pipeline.distribute.outcome import (  # noqa: F401 (re-exported: where callers look for them)
    ALREADY_SENT,
    DRAFTED,
    EMAIL_DIR,
    FAILED,
    SENT,
    EmailResult,
    Outcome,
)
from pipeline.render.identity import xlsx_identity

if TYPE_CHECKING:
    import smtplib

    from pipeline.distribute.template import MailTemplate

SEND_LOG = "sent.jsonl"
PASSWORD_ENV = "PARTNER_REVIEW_SMTP_PASSWORD"

# why a partner failed: stable codes (tests and tools compare these, never the message text)
UNKNOWN_PARTNER = "UNKNOWN_PARTNER"        # --only names a partner the manifest does not have
NO_SENDER = "NO_SENDER"                    # no --from and no internal owner address to send from
PDF_MISSING = "PDF_MISSING"                # the manifest's PDF is not there (or points outside the folder)
RECIPIENT_REFUSED = "RECIPIENT_REFUSED"    # the server refused recipients (some or all)
CONNECTION = "CONNECTION"                  # cannot connect, or the connection was lost
SMTP_ERROR = "SMTP_ERROR"                  # any other answer the server gave


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. Port 465 means implicit TLS; otherwise STARTTLS unless turned off."""

    host: str = "localhost"
    port: int = 587
    user: str | None = None
    starttls: bool = True
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0


# --- SMTP -----------------------------------------------------------------------------------------
class _Mailer:
    """One SMTP connection, opened on first use and again after it was lost."""

    def __init__(self, settings: SmtpSettings):
        self.settings, self.unreachable = settings, ""
        self.conn: smtplib.SMTP | None = None

    def get(self):
        import smtplib
        import ssl

        if self.conn is None:
            s = self.settings
            if s.port == 465:
                conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            try:
                conn.ehlo()
                if s.starttls and s.port != 465:
                    conn.starttls(context=ssl.create_default_context())
                    conn.ehlo()
                if s.user:
                    conn.login(s.user, s.password or "")
            except BaseException:
                conn.close()
                raise
            self.conn = conn
        return self.conn

    def reset(self) -> None:
        """After a refusal: RSET to reuse the connection, or drop it when it is gone."""
        if self.conn is None:  # nothing to reuse
            self.drop()
            return
        try:
            self.conn.rset()
        except Exception:
            self.drop()

    def drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except Exception:
                self.conn.close()
        self.conn = None


def _check_settings(s: SmtpSettings) -> None:
    if s.user and not s.password:
        raise PipelineError(f"--smtp-user is set but {PASSWORD_ENV} is not: set the password in the environment")
    if s.user and not s.starttls and s.port != 465 and s.host not in ("localhost", "127.0.0.1", "::1"):
        raise PipelineError(f"refusing to send the SMTP password to {s.host} unencrypted: drop --no-starttls")


def _deliver(mailer: _Mailer, out: Outcome, from_addr: str, rcpts: list[str], raw: bytes) -> bool:
    """Send one message; fills ``out`` and says whether the server accepted it for anyone."""
    import smtplib

    if mailer.unreachable:
        out.status, out.code, out.detail = FAILED, CONNECTION, f"not sent: {mailer.unreachable}"
        return False
    try:
        conn = mailer.get()
    except (OSError, smtplib.SMTPException) as exc:
        s = mailer.settings
        hint = " (--no-starttls only for a server on a trusted network)" if isinstance(exc, smtplib.SMTPNotSupportedError) else ""
        mailer.unreachable = f"cannot connect to {s.host}:{s.port}: {exc}{hint}"
        out.status, out.code, out.detail = FAILED, CONNECTION, mailer.unreachable
        return False
    try:
        refused = conn.sendmail(from_addr, rcpts, raw)
    except smtplib.SMTPRecipientsRefused as exc:
        out.status, out.code, out.refused = FAILED, RECIPIENT_REFUSED, list(exc.recipients)
        out.detail = "refused " + "; ".join(f"{a} ({c} {_text(r)})" for a, (c, r) in exc.recipients.items())
        mailer.reset()
        return False
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        out.status, out.code, out.detail = FAILED, CONNECTION, f"connection lost, not sent: {exc or type(exc).__name__}"
        mailer.drop()
        return False
    except smtplib.SMTPResponseException as exc:
        code = CONNECTION if exc.smtp_code == 421 else SMTP_ERROR
        out.status, out.code, out.detail = FAILED, code, f"not sent: the server answered {exc.smtp_code} {_text(exc.smtp_error)}"
        mailer.reset()
        return False
    except smtplib.SMTPException as exc:
        out.status, out.code, out.detail = FAILED, SMTP_ERROR, f"not sent: {exc}"
        mailer.drop()
        return False
    out.status, out.refused = SENT, list(refused)
    out.recipients = [a for a in rcpts if a not in refused]
    if refused:
        out.code = RECIPIENT_REFUSED
        out.detail = "; ".join(f"{a} ({c} {_text(r)})" for a, (c, r) in refused.items())
    return True


def _text(reply: object) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


# --- the command ----------------------------------------------------------------------------------
def run_email(reviews_dir: Path, *, send: bool = False, smtp: SmtpSettings | None = None, sender: str | None = None,
              only: list[str] | None = None, resend: bool = False, echo: Callable[[str], None] | None = None,
              template: MailTemplate | None = None, confirm: Callable[[str], bool] | None = None) -> EmailResult:
    """Write ``REVIEWS/email/<pdf stem>.eml`` for each partner and, with ``send``, deliver each review
    not yet in the send log (all of them with ``resend``). ``only`` limits the run to those partner_ids;
    ``template`` is the text (default: the built-in one). Every draft is written, and who gets what echoed,
    before the first message goes; with ``confirm``, nothing goes unless it answers True to the question
    (then a PipelineError: nothing sent, the drafts written)."""
    reviews_dir = Path(reviews_dir)
    smtp = smtp or SmtpSettings()
    opts = _Options(send, sender, only, resend, echo, template, confirm)
    if not send:
        return _run_email(reviews_dir, smtp, opts)
    _check_settings(smtp)
    from contextlib import ExitStack

    from pipeline.core.locks import REPORT, SEND, hold, lock_path

    with ExitStack() as locks:  # the send lock, then (where `report` writes) the output folder's report lock
        locks.enter_context(hold(reviews_dir, SEND, "partner-review email --send", echo=echo))
        output_dir = reviews_dir.resolve().parent
        if lock_path(output_dir, REPORT).is_file():  # no report rewrites this quarter while it is sent
            locks.enter_context(hold(output_dir, REPORT, "partner-review email --send", echo=echo))
        return _run_email(reviews_dir, smtp, opts)


@dataclass(frozen=True)
class _Options:
    """How `run_email` was asked to run."""

    send: bool
    sender: str | None
    only: list[str] | None
    resend: bool
    echo: Callable[[str], None] | None
    template: MailTemplate | None
    confirm: Callable[[str], bool] | None


def _run_email(reviews_dir: Path, smtp: SmtpSettings, opts: _Options) -> EmailResult:
    send, echo = opts.send, opts.echo
    manifest = read_manifest(reviews_dir)  # read under the locks: the quarter as it is sent
    if send and not str(manifest.get("organisation") or "").strip():
        from pipeline.core.settings import ORGANISATION_UNSET

        raise PipelineError(f"nothing sent: {ORGANISATION_UNSET}; set it, run report again, then send "
                            "(drafts are written without --send)")
    entries = [e for e in manifest["partners"] if isinstance(e, dict) and e.get("partner_id")]
    refuse_shared_files(reviews_dir, entries)
    result = EmailResult(send=send)
    if opts.only:
        known = {str(e["partner_id"]) for e in entries}
        entries = [e for e in entries if str(e["partner_id"]) in set(opts.only)]
        result.outcomes += [Outcome(p, status=FAILED, code=UNKNOWN_PARTNER, detail="no such partner_id in manifest.json")
                            for p in dict.fromkeys(opts.only) if p not in known]
    portfolio_path = inside(reviews_dir, manifest.get("portfolio_pdf"))
    run = _Run(reviews_dir, manifest, opts, portfolio_path,
               portfolio_path.read_bytes() if portfolio_path and portfolio_path.is_file() else None,
               _Mailer(smtp) if send else None)
    if send:  # read under the send lock: a send that ran meanwhile is in it
        for r in read_send_log(run.log_path):
            run.last_sent[str(r.get("partner_id"))] = r
    for entry in entries:  # every draft written, and who gets what shown, before anything is sent
        result.outcomes.append(_one(run, entry))
        if echo:
            echo(result.outcomes[-1].line())
    ready = run.ready
    if echo:
        for out in result.outcomes:
            if out.code == UNKNOWN_PARTNER:
                echo(out.line())
    if ready and opts.confirm is not None:
        people = len({a.lower() for _, m in ready for a in m.rcpts})
        question = (f"Send {len(ready)} e-mail{'s' * (len(ready) != 1)} to {people} "
                    f"recipient{'s' * (people != 1)} now?")
        if not opts.confirm(question):
            raise PipelineError(f"nothing sent: not confirmed (the drafts are in {reviews_dir / EMAIL_DIR})")
    try:
        for out, message in ready:
            _deliver_one(run, out, message)
            if echo:
                echo(out.line())
    finally:
        if run.mailer is not None:
            run.mailer.drop()
    return result


@dataclass
class _Run:
    """One `email` run: what every partner's message needs."""

    reviews_dir: Path
    manifest: dict[str, Any]
    opts: _Options
    portfolio_path: Path | None
    portfolio: bytes | None
    mailer: _Mailer | None
    last_sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # partner_id -> its latest send log record
    ready: list[tuple[Outcome, _Ready]] = field(default_factory=list)   # drafted, checked, to be sent

    @property
    def log_path(self) -> Path:
        return self.reviews_dir / EMAIL_DIR / SEND_LOG


@dataclass(frozen=True)
class _Ready:
    """A checked message about to be sent: its bytes, envelope and what the send log records of it."""

    raw: bytes
    pdf: str                 # the manifest's path of the review
    sender: str
    rcpts: list[str]
    message_id: str
    sha: str
    fingerprint: str


def _one(run: _Run, entry: dict[str, Any]) -> Outcome:
    """Draft and check one partner's review; with --send, one not sent yet joins ``run.ready``."""
    from pipeline.distribute.mail import mail_policy

    pid = str(entry["partner_id"])
    out = Outcome(pid, str(entry.get("partner_name") or ""))
    pdf_path = inside(run.reviews_dir, entry.get("pdf"))
    if pdf_path is None or not pdf_path.is_file():
        out.status, out.code, out.detail = FAILED, PDF_MISSING, f"the review PDF '{entry.get('pdf')}' is not in {run.reviews_dir}"
        return out
    internal = internal_by_name(run.reviews_dir, pdf_path, run.manifest)
    if internal:
        out.status, out.code, out.detail = FAILED, ATTACHMENT_REFUSED, internal
        return out
    pdf = pdf_path.read_bytes()
    code, why = not_partners_own(pdf, entry, run.manifest)
    if why:
        out.status, out.code, out.detail = FAILED, code, f"refused to write or send {pdf_path.name}: {why}"
        return out
    request = None
    if entry.get("request"):   # a manifest from before data requests has none: the review alone goes
        req_path = inside(run.reviews_dir, entry.get("request"))
        if req_path is None or not req_path.is_file() or req_path.suffix.lower() != ".xlsx":
            out.status, out.code = FAILED, REQUEST_MISSING
            out.detail = f"the data request '{entry.get('request')}' is not in {run.reviews_dir}; run `report` again"
            return out
        data = req_path.read_bytes()
        identity = xlsx_identity(data)
        code, why = not_partners_request(identity, entry, run.manifest)
        if why:
            out.status, out.code, out.detail = FAILED, code, f"refused to write or send {req_path.name}: {why}"
            return out
        request = Attachment(req_path.name, data, identity)
    try:
        msg = build_message(entry, run.manifest, pdf_path.name, pdf, run.opts.sender, request, run.opts.template)
    except Unsendable as exc:
        out.status, out.code, out.detail = FAILED, exc.code, exc.detail
        return out
    if run.opts.send and msg["From"] is None:
        out.status, out.code = FAILED, NO_SENDER
        out.detail = "no sender: give --from (or PARTNER_REVIEW_FROM) or an internal_owner_email in the registry"
        return out
    raw = msg.as_bytes(policy=mail_policy())
    why = check_message(raw, pdf, run.portfolio, request.data if request is not None else None)
    if why:
        out.status, out.code, out.detail = FAILED, ATTACHMENT_REFUSED, f"refused to write or send: {why}"
        return out
    msg["X-Unsent"] = "1"  # mail programs open the draft ready to edit and send
    out.draft = run.reviews_dir / EMAIL_DIR / f"{pdf_path.stem}.eml"
    write_atomic(out.draft, msg.as_bytes(policy=mail_policy()))
    out.to = [a.addr_spec for a in msg["To"].addresses]
    out.cc = [a.addr_spec for a in msg["Cc"].addresses] if msg["Cc"] else []
    out.attached = [pdf_path.name] + ([request.name] if request is not None else [])
    if not run.opts.send:
        return out
    sha = hashlib.sha256(pdf).hexdigest()
    fingerprint = str(entry.get("fingerprint") or "")
    before = run.last_sent.get(pid)
    if before and not run.opts.resend and same_review(before, fingerprint, sha):
        out.status = ALREADY_SENT
        legacy = (" by an earlier version, which could not tell what a review says"
                  if fingerprint and not before.get("fingerprint") else "")
        out.detail = (f"already sent{legacy} {before.get('time', '')} to {', '.join(before.get('recipients', []))} "
                      "(--resend to send again)")
        return out
    rcpts = addresses(out.to + out.cc)
    out.pending = True
    run.ready.append((out, _Ready(raw, str(entry.get("pdf")), msg["From"].addresses[0].addr_spec, rcpts,
                                  str(msg["Message-ID"]), sha, fingerprint)))
    return out


def _deliver_one(run: _Run, out: Outcome, m: _Ready) -> None:
    """Send one checked message and, once the server accepted it, append its record to the send log."""
    out.pending = False
    assert run.mailer is not None  # a run that sends has a mailer
    if _deliver(run.mailer, out, m.sender, m.rcpts, m.raw):
        rec = {"partner_id": out.partner_id, "pdf": m.pdf, "sha256": m.sha, "fingerprint": m.fingerprint,
               "recipients": out.recipients,
               "refused": out.refused, "message_id": m.message_id,
               "time": datetime.now(UTC).isoformat(timespec="seconds"), "quarter": run.manifest.get("quarter")}
        append_send_log(run.log_path, rec)
        run.last_sent[out.partner_id] = rec
