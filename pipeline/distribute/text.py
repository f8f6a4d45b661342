"""The words of one partner's e-mail: every field a template may use (`pipeline.distribute.template.FIELDS`),
filled from that partner's manifest entry alone (and the quarter's name and our organisation's).

Nothing here decides anything: the health band, the summary, the agenda and the proposed meeting date come
from the analysis through the manifest; this module puts them into sentences, with the PDF's one date style
(`pipeline.render.formats.fmt_date`) and number style (`fmt_number`). An older manifest without ``agenda``
or ``next_meeting`` still gives a readable e-mail: the agenda falls back to ``top_gaps`` (their commitment
codes dropped, their dates in the one style), the meeting to "I will suggest a date".

The greeting uses the partner lead's first name only when it can be told safely from ``partner_lead`` (see
`first_name`); otherwise it greets the partner's team, never "Dear Fergus Vane,".
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from pipeline.render.formats import fmt_date, fmt_number

# words before a name that are not a first name: "Dr. Anna Schmidt" is greeted as the team, not as "Dr."
TITLES = {"dr", "mr", "mrs", "ms", "miss", "mx", "prof", "sir", "dame", "herr", "frau", "m", "mme", "mlle", "sr",
          "sra", "srta", "dott", "ing", "mag", "dipl", "rev", "hr", "fr"}
# scripts whose names are usually written family name first: the first word would be the family name
FAMILY_FIRST_SCRIPTS = ("CJK", "HANGUL", "HIRAGANA", "KATAKANA")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}
MAX_POINTS = 3

# the summary's sentences the e-mail leaves out: the agenda says what is flagged, the review explains a pause
_FLAGGED = re.compile(r"^\d+ gaps? (are|is) flagged")
_PAUSE_RULE = "While the partnership with "
_FOR_REFERENCE = "For reference, "
_OUR_SIDE = "Our side"     # the summary's name for us when organisation.name is not set
_CODE_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9]*[-_][A-Za-z0-9_-]+ \((?P<title>[^()]+)\): ")
_CITATION = re.compile(r"(?:: |, )[^:;,()]+? › [^›]+? › [A-Z]{1,3}\d+(?: \([^)]*\))?")  # a cited cell: file, sheet, cell
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[^\s])")

VERDICTS = {
    "green": "In short, the partnership is healthy (health score {score} out of 100).",
    "amber": "In short, the partnership needs attention (health score {score} out of 100).",
    "red": "In short, the partnership is at risk (health score {score} out of 100).",
    "paused": "The partnership is paused this quarter, so the review shows its figures for reference and gives no "
              "health score.",
}
HEALTH_WORDS = {"green": "healthy", "amber": "needs attention", "red": "at risk"}
NOTHING_PRESSING = "Nothing calls for urgent attention, so when we meet I suggest we plan the quarter ahead together."
NOTHING_PRESSING_PAUSED = "When we meet, I suggest we talk about where the partnership goes from here."
NOT_SCORED = "This quarter's review gives no health score: there were too few figures to score it."


def first_name(lead: str) -> str:
    """The partner lead's first name when it can be told safely, else '': at least two words, no digit, no comma
    ("Vane, Fergus"), no title ("Dr.") or initial ("J. Smith") first, letters only, and not a script whose
    names are written family name first. A name in capitals is greeted in title case."""
    words = str(lead or "").split()
    if len(words) < 2 or "," in lead or any(c.isdigit() for c in lead):  # "Lead 2" is a placeholder, not a name
        return ""
    first = words[0]
    bare = first.rstrip(".")
    if bare.lower() in TITLES or len(bare) < 2 or first.endswith("."):
        return ""
    if not first[0].isalpha() or not all(c.isalpha() or c in "-'’" for c in first):
        return ""
    if any(unicodedata.name(c, "").startswith(FAMILY_FIRST_SCRIPTS) for c in lead):
        return ""
    return first.capitalize() if first.isupper() else first


def in_one_date_style(text: str) -> str:
    """Every ISO date in ``text`` as the PDF writes dates (30 Sep 2026)."""
    def one(m: re.Match[str]) -> str:
        try:
            return fmt_date(dt.date(int(m[1]), int(m[2]), int(m[3])))
        except ValueError:
            return m[0]
    return _ISO_DATE.sub(one, text)


def agenda_points(entry: dict[str, Any]) -> list[str]:
    """The points for the meeting: the manifest's ``agenda`` (plain sentences), or for an older manifest its
    ``top_gaps`` with the commitment code dropped ("KV-01 (Certify ...): ..." reads "Certify ...: ...") and
    no workbook cell cited ("file › sheet › D287": ours are no business of the partner's)."""
    agenda = entry.get("agenda")
    if isinstance(agenda, list):
        points = [str(p) for p in agenda]
    else:
        points = [_CITATION.sub("", _CODE_PREFIX.sub(lambda m: f"{m['title']}: ", str(g)))
                  for g in entry.get("top_gaps") or []]
    return [in_one_date_style(" ".join(p.split())) for p in points if p.strip()][:MAX_POINTS]


def highlights(summary: str, partner: str = "", organisation: str = "") -> str:
    """Two or three of the summary's sentences: what the KPIs and commitments show. The sentence counting the
    flagged gaps is left out (the agenda names them), and so are a pause's rule and its KPIs "for reference"
    (the verdict says the partnership is paused; the review explains the rest). Written to the partner, the
    overdue commitments by party read "2 of yours", "1 of ours" instead of naming the two sides."""
    sentences = [s for s in _SENTENCE_END.split(" ".join(str(summary or "").split())) if s]
    kept = [s for s in sentences
            if not _FLAGGED.match(s) and not s.startswith(_PAUSE_RULE) and not s.startswith(_FOR_REFERENCE)]
    text = " ".join(kept[:MAX_POINTS])
    for side, word in ((partner, "yours"), (organisation or _OUR_SIDE, "ours")):
        if side:
            text = re.sub(rf"(overdue \((?:[^()]*, )?\d+) {re.escape(side)}(?=[,)])", rf"\1 of {word}", text)
    return in_one_date_style(text)


def _score(entry: dict[str, Any]) -> str:
    score = entry.get("health_score")
    if isinstance(score, (int, float)) and not isinstance(score, bool) and score == score:  # a number, not NaN
        return fmt_number(round(score), "score")
    return ""


def verdict(entry: dict[str, Any]) -> tuple[str, str]:
    """(the verdict sentence, the health in short) from the band or state the analysis gave."""
    status, score = str(entry.get("health_status") or ""), _score(entry)
    if status == "paused":
        return VERDICTS["paused"], "paused, not scored this quarter"
    if score and status in VERDICTS:
        return VERDICTS[status].format(score=score), f"{score} out of 100 ({HEALTH_WORDS[status]})"
    if score:
        return f"The partnership's health score this quarter is {score} out of 100.", f"{score} out of 100"
    return NOT_SCORED, "not scored this quarter"


def _meeting(entry: dict[str, Any]) -> tuple[str, str]:
    """(the sentence proposing the meeting, its date alone)."""
    try:
        day = fmt_date(dt.date.fromisoformat(str(entry.get("next_meeting") or "")[:10]))
    except ValueError:
        return "I will suggest a date for our review meeting shortly.", ""
    return (f"I propose we hold our review meeting on {day}; if that day does not suit you, please suggest another.",
            day)


def _request(identity: dict[str, Any] | None) -> str:
    if identity is None:
        return ""
    due = str(identity.get("due") or "")
    try:
        when = f" Please send it back by {fmt_date(dt.date.fromisoformat(due))}."
    except ValueError:
        when = ""
    return (f"We also attach a short workbook for {identity.get('quarter') or 'next quarter'}: your figures for each "
            "KPI, where your and our joint commitments stand, and a few questions on how the partnership is working "
            f"for you, each scored 1 to 5.{when}")


def fields(entry: dict[str, Any], manifest: dict[str, Any], request: dict[str, Any] | None = None) -> dict[str, str]:
    """Every template field for one partner (see `pipeline.distribute.template.FIELDS`); ``request`` is the
    identity of the data request attached, or None."""
    org = str(manifest.get("organisation") or "").strip()
    name = str(entry.get("partner_name") or entry["partner_id"])
    quarter = str(manifest.get("quarter") or "")
    lead = " ".join(str(entry.get("partner_lead") or "").split())
    first = first_name(lead)
    points = agenda_points(entry)
    if points:
        n = NUMBER_WORDS.get(len(points), str(len(points)))
        intro = f"When we meet to review the quarter, I suggest we discuss {n} point{'s' * (len(points) != 1)}:"
        listed = "\n".join(f"- {p}" for p in points)
        agenda = f"{intro}\n{listed}"
    else:
        listed = ""
        agenda = (NOTHING_PRESSING_PAUSED if entry.get("health_status") == "paused" else NOTHING_PRESSING)
    said, health = verdict(entry)
    meeting, day = _meeting(entry)
    owner = " ".join(str(entry.get("internal_owner") or "").split())
    sender = owner or org
    return {
        "greeting": f"Dear {first}," if first else f"Dear {name} team,",
        "first_name": first,
        "partner_lead": lead,
        "partner_name": name,
        "partner_id": str(entry["partner_id"]),
        "quarter": quarter,
        "organisation": org,
        "partnership": f"the partnership between {org} and {name}" if org else f"our partnership with {name}",
        "subject": f"{org + ' / ' if org else ''}{name}: partnership review {quarter}".strip(),
        "verdict": said,
        "health": health,
        "highlights": highlights(str(entry.get("summary") or ""), name, org),
        "agenda": agenda,
        "agenda_points": listed,
        "meeting": meeting,
        "next_meeting": day,
        "request": _request(request),
        "sender_name": sender,
        "signature": "\n".join(dict.fromkeys(s for s in (owner, org) if s)),
    }
