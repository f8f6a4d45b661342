"""What `email` did, or is about to do, for each partner: one `Outcome` each (who gets what, and what happened),
gathered in an `EmailResult`; the lines the command prints come from here."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

EMAIL_DIR = "email"   # REVIEWS/email/: the drafts and the send log
# outcome of one partner
DRAFTED, SENT, ALREADY_SENT, FAILED = "drafted", "sent", "already_sent", "failed"


@dataclass
class Outcome:
    """What happened to one partner's review."""

    partner_id: str
    partner_name: str = ""
    status: str = DRAFTED
    code: str = ""
    detail: str = ""
    draft: Path | None = None
    recipients: list[str] = field(default_factory=list)  # accepted by the server (when sent)
    refused: list[str] = field(default_factory=list)
    to: list[str] = field(default_factory=list)        # the message's To, Cc and attachments: who gets what
    cc: list[str] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)
    pending: bool = False                              # drafted, and to be sent once the run goes on

    def preview(self) -> str:
        """Who gets what, on the lines under the partner's: To, Cc and the files attached."""
        who = f"         to {', '.join(self.to)}" + (f"; cc {', '.join(self.cc)}" if self.cc else "")
        return f"{who}\n         attached {', '.join(self.attached)}"

    def line(self) -> str:
        who = f"{self.partner_id} {self.partner_name}".strip()
        if self.pending:
            return f"to send  {who}\n{self.preview()}"
        if self.status == FAILED:
            return f"FAILED   {who}: [{self.code}] {self.detail}"
        if self.status == SENT:
            text = f"sent     {who} to {', '.join(self.recipients)}"
            return text + (f"; REFUSED {', '.join(self.refused)}: {self.detail}" if self.refused else "")
        if self.status == ALREADY_SENT:
            return f"skipped  {who}: {self.detail}"
        drafted = f"drafted  {who} -> {EMAIL_DIR}/{self.draft.name if self.draft else ''}"
        return f"{drafted}\n{self.preview()}" if self.to else drafted


@dataclass
class EmailResult:
    """Every partner's outcome; ``ok`` is False when anything failed or a recipient was refused."""

    send: bool
    outcomes: list[Outcome] = field(default_factory=list)

    def _count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def drafted(self) -> int:
        return sum(1 for o in self.outcomes if o.draft is not None)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if o.status == FAILED or o.refused)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self) -> str:
        parts = [f"{self.drafted} drafted"]
        if self.send:
            parts += [f"{self._count(SENT)} sent", f"{self._count(ALREADY_SENT)} already sent"]
        parts.append(f"{self.failed} failed")
        return ", ".join(parts)


