"""The e-mail's text as a template the user can change (`string.Template`: ``$name`` or ``${name}``, ``$$`` for a
dollar sign).

Which template: ``email --template FILE``; else, with ``email --input DIR``, ``DIR/email_template.txt`` (next to
the config, ``partner-review.toml``) when it is there; else the one shipped in the package (`DEFAULT_TEMPLATE`,
beside this module). A template is no setting of the analysis: changing it changes no review's fingerprint, so
the words can change without the send log taking the reviews for new ones. Lines starting with ``##`` are
notes, never sent; a first line ``Subject: ...`` sets the subject. A template is checked whole before anything is drafted:
an unknown field, a ``$`` that starts no field, a ``${`` never closed, a file that cannot be read or is not
UTF-8 text stop the run (`TemplateError`, exit 2) naming the file and line.
"""
from __future__ import annotations

import difflib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from string import Template

from pipeline.core.problems import RunRefused

DEFAULT_TEMPLATE = "email_template.txt"   # the file name shipped in the package, and looked for next to the config
MAX_TEMPLATE_BYTES = 64 * 1024

# field -> what it holds: the only names a template may use (`pipeline.distribute.text.fields` fills each one)
FIELDS: dict[str, str] = {
    "greeting": "'Dear Maya,' when the partner lead's first name can be told safely, else 'Dear <partner> team,'",
    "first_name": "the partner lead's first name, or '' when it cannot be told safely",
    "partner_lead": "the partner lead's full name as the registry has it",
    "partner_name": "the partner's name",
    "partner_id": "the partner's id",
    "quarter": "the quarter reviewed, e.g. 2026-Q3",
    "organisation": "our organisation's name (organisation.name), or ''",
    "partnership": "'the partnership between <us> and <partner>' (or 'our partnership with <partner>')",
    "subject": "the default subject: '<us> / <partner>: partnership review <quarter>'",
    "verdict": "one sentence: the partnership's health this quarter, in words and points",
    "health": "the health in short: '46 out of 100 (at risk)', 'paused, not scored this quarter'",
    "highlights": "two or three sentences from the review's summary (what the KPIs and commitments show)",
    "agenda": "the points for the review meeting: an introducing line and one '- ' line per point (at most three)",
    "agenda_points": "the same points alone, one '- ' line each ('' when there are none)",
    "meeting": "one sentence proposing the review meeting (its date when the review proposes one)",
    "next_meeting": "the proposed meeting date alone, e.g. 14 Jan 2027, or ''",
    "request": "the paragraph on the data request attached for next quarter, with its due date ('' without one)",
    "sender_name": "the internal owner who signs (our organisation's name when no owner is known)",
    "signature": "the sender's name and, on the next line, our organisation's name",
}


def fields_reference() -> str:
    """The Markdown table of the fields (README.md, "The e-mail", is kept equal to it by a test)."""
    rows = [f"| `${{{k}}}` | {v.replace('<', '&lt;').replace('>', '&gt;')} |" for k, v in FIELDS.items()]
    return "\n".join(["| field | holds |", "|---|---|", *rows]) + "\n"


class TemplateError(RunRefused):
    """A template that cannot be used: the run stops before anything is drafted (exit 2)."""


@dataclass(frozen=True)
class MailTemplate:
    """A checked template: where it came from, its subject (None: the default) and its body."""

    source: str
    subject: Template | None
    body: Template

    def render(self, values: dict[str, str]) -> tuple[str | None, str]:
        """(subject or None, plain-text body): every field filled, blank lines from empty fields collapsed."""
        body = _one_stop(self.body.substitute(values))
        body = "\n".join(line.rstrip() for line in body.splitlines())
        body = re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
        subject = None
        if self.subject is not None:  # one line: a field's line break can never start a header
            subject = " ".join(self.subject.substitute(values).split()) or None
        return subject, body


def _one_stop(text: str) -> str:
    """A full stop after a field that ends with one is said once: "… Añil Robotics S.L.." reads "S.L."; an
    ellipsis stays."""
    return re.sub(r"(?<=[^.]\.)\.(?!\.)", "", text)


def parse_template(text: str, source: str) -> MailTemplate:
    """A template from its text; TemplateError naming ``source`` and the line of the first mistake."""
    lines = text.splitlines()
    kept = ["" if line.lstrip().startswith("##") else line for line in lines]  # notes blanked, line numbers kept
    checked = "\n".join(kept)
    for m in Template.pattern.finditer(checked):
        line = checked.count("\n", 0, m.start()) + 1
        name = m.group("named") or m.group("braced")
        if m.group("invalid") is not None:
            rest = checked[m.start():m.start() + 12].split("\n")[0]
            why = (f"'{rest}' opens a field with '${{' but never closes it with '}}'" if rest.startswith("${") else
                   f"'{rest}' is not a field: write $$ for a dollar sign, ${{name}} for a field")
            raise TemplateError(f"{source}, line {line}: {why}")
        if name is not None and name not in FIELDS:
            near = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f" (did you mean ${{{near[0]}}}?)" if near else ""
            raise TemplateError(f"{source}, line {line}: unknown field ${{{name}}}{hint}; the fields are "
                                + ", ".join(FIELDS))
    body = [line for line, was in zip(kept, lines) if not was.lstrip().startswith("##")]
    while body and not body[0].strip():
        body.pop(0)
    subject = None
    if body and body[0].lower().startswith("subject:"):
        subject = Template(body.pop(0)[len("subject:"):].strip())
    if not "".join(body).strip():
        raise TemplateError(f"{source}: the template has no text for the e-mail's body")
    return MailTemplate(source, subject, Template("\n".join(body)))


def load_template(path: Path | None) -> MailTemplate:
    """The template in ``path`` (None: the one shipped in the package); TemplateError when it cannot be used."""
    if path is None:
        from importlib.resources import files

        return parse_template(files("pipeline.distribute").joinpath(DEFAULT_TEMPLATE).read_text(encoding="utf-8"),
                              f"the built-in {DEFAULT_TEMPLATE}")
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a folder, or a pipe that would wait forever
            raise TemplateError(f"{path}: the e-mail template must be a file")
        with open(path, "rb") as fh:
            data = fh.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise TemplateError(f"{path}: the e-mail template cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_TEMPLATE_BYTES:
        raise TemplateError(f"{path}: the e-mail template is larger than {MAX_TEMPLATE_BYTES // 1024} KB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise TemplateError(f"{path}, line {line}: the e-mail template is not UTF-8 text; save it as UTF-8") from None
    return parse_template(text, str(path))


def find_template(explicit: Path | None, input_dir: Path | None) -> Path | None:
    """The template file to use: ``explicit``; else ``email_template.txt`` in the input folder, next to its
    partner-review.toml, when it is there; else None (the built-in one)."""
    if explicit is not None:
        return Path(explicit)
    if input_dir is None:
        return None
    path = Path(input_dir) / DEFAULT_TEMPLATE
    return path if os.path.lexists(path) else None
