"""The flags read as a partner lead reads them: one finding per subject, grouped into themes.

flags.csv keeps one row per flag (the catalog is an interface); a review shows findings. A finding is one
subject (a KPI, a commitment, the check-ins, the balance of commitments, the excluded data) with every
flag raised on it in one sentence ("Joint customer NPS: 72% of target (29 against 40) and falling two
quarters running (32 → 31 → 29 since 2026-Q1)."), the most severe severity of them, and whose move it
is. Findings are grouped into `THEMES`; the most important theme comes first (the most severe finding,
then the order of `THEMES`), and each theme is one line of the meeting's agenda with whose move it is.
docs/analysis.md ("Findings and themes") holds the rules.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.core.frames import is_missing, records
from pipeline.core.schema import FLAG_SEVERITIES

# theme key -> title, in the order that breaks ties between themes of the same severity
THEMES = {
    "results": "Results against plan",
    "our_commitments": "Our commitments",
    "partner_commitments": "Your commitments",  # the review and the e-mail speak to the partner: ours and yours
    "joint": "Joint work",
    "figures": "Figures to agree",
    "data": "Data excluded",
}
FINDING_COLUMNS = ["quarter", "partner_id", "theme", "subject", "title", "detail", "sentence", "severity", "codes",
                   "whose_move"]
THEME_COLUMNS = ["quarter", "partner_id", "theme", "title", "severity", "whose_move", "findings", "agenda"]
RESULTS_CODES = {"KPI_BELOW_TARGET", "KPI_DECLINING"}
PARTY_THEMES = {"us": "our_commitments", "partner": "partner_commitments", "joint": "joint"}
SUBJECTLESS = {"NO_CHECKIN": ("Check-ins", "joint"), "RECIPROCITY_IMBALANCE": ("Balance of commitments", "joint"),
               "DATA_PROBLEM": ("Data", "data")}
# what each code asks of the meeting (said of several subjects, of one), in the order the agenda line names them
ACTIONS = {
    "KPI_BELOW_TARGET": ("agree what closes the gap next quarter",) * 2,
    "KPI_DECLINING": ("agree what turns the trend around",) * 2,
    "COMMITMENT_OVERDUE": ("deliver each or agree a new date", "deliver it or agree a new date"),
    "COMMITMENT_SLIPPED": ("deliver each or agree a new date", "deliver it or agree a new date"),
    "COMMITMENT_DROPPED": ("confirm whether the dropped ones are still wanted", "confirm whether it is still wanted"),
    "COMMITMENT_STALE": ("bring the log up to date",) * 2,
    "COMMITMENT_INCOMPLETE": ("bring the log up to date",) * 2,
    "NO_CHECKIN": ("set the check-in cadence",) * 2,
    "RECIPROCITY_IMBALANCE": ("rebalance who takes on what",) * 2,
    "KPI_DISCREPANCY": ("agree one figure for each and how each side counts it",
                        "agree one figure and how each side counts it"),
    "KPI_CONFLICT": ("settle which of two values is right",) * 2,
    "KPI_RESTATED": ("confirm the restated figures and why they changed",) * 2,
    "KPI_MISSING": ("agree who reports each and by when", "agree who reports it and by when"),
    "DATA_PROBLEM": ("correct the rows listed in the data notes",) * 2,
}
OUR_DATA = "we are correcting our records (see the data notes)"
# KPI_MISSING where the figures were left out on one side (`flags.kpi_missing`): that side's move, not "who reports"
MISSING_BY = {"us": ("correct our figures (see the data notes)", "correct our figure (see the data notes)"),
              "partner": ("send figures we can read (see the data notes)", "send a figure we can read (see the data notes)")}
BOTH_RESULTS = "agree what closes the gap and turns the trend around next quarter"
# a partner with nothing flagged still meets: the agenda's one line (whose move: both)
QUIET_AGENDA = "The quarter in review and the plan for next quarter"
PAUSED_AGENDA = "The pause: what both sides need before co-selling resumes, and the plan until then"
AGENDA_NAMES = {"NO_CHECKIN": "the check-ins", "RECIPROCITY_IMBALANCE": "the balance of commitments"}
_RANK = {s: i for i, s in enumerate(FLAG_SEVERITIES)}


def _mover(moves: list[str]) -> str:
    """One party when every flag names the same one; both (joint) when they name different ones; '' when none."""
    named = {m for m in moves if m}
    return named.pop() if len(named) == 1 else "joint" if named else ""


def _short(text: object, limit: int = 60) -> str:
    s = "" if is_missing(text) else str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


def _join(clauses: list[str]) -> str:
    return " and ".join(clauses) if len(clauses) == 2 else "; ".join(clauses)


def build_findings(flags: pd.DataFrame, kpi_defs: pd.DataFrame, commitments: pd.DataFrame,
                   partner_names: dict[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(findings, themes) of every partner in `flags` (sorted most severe first, as `flags.build_flags` gives
    them). Findings come theme by theme in the themes' order, most severe first within a theme; themes most
    important first. KPI names come from `kpi_defs`, commitment descriptions from `commitments`, and the
    partner's name in its commitments' theme ("Acme's commitments", as the review's commitments section
    says) from `partner_names`."""
    if flags is None or not len(flags):
        return pd.DataFrame(columns=FINDING_COLUMNS), pd.DataFrame(columns=THEME_COLUMNS)
    kpi_names = {str(k): str(n) for k, n in zip(kpi_defs["kpi_id"], kpi_defs["kpi_name"])} if len(kpi_defs) else {}
    described = {(str(p), str(c)): d for p, c, d in zip(commitments["partner_id"], commitments["commitment_id"],
                                                         commitments["description"])} if len(commitments) else {}
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}  # (partner, subject, the code of a subjectless flag)
    for f in records(flags, ("quarter", "partner_id", "code", "severity", "subject", "message", "whose_move", "clause")):
        subject = "" if is_missing(f.get("subject")) else str(f["subject"])
        groups.setdefault((str(f["partner_id"]), subject, "" if subject else str(f["code"])), []).append(f)
    found: list[dict[str, Any]] = []
    for position, ((pid, subject, alone), fl) in enumerate(groups.items()):
        codes = [str(f["code"]) for f in fl]
        named = ""
        if not subject:
            title, theme = SUBJECTLESS.get(alone, (alone, "data"))
        elif codes[0].startswith("KPI_"):
            title = kpi_names.get(subject, subject)
            theme = "results" if RESULTS_CODES & set(codes) else "figures"
        else:  # a commitment: the theme of the party that holds it
            desc = _short(described.get((pid, subject)))
            title = f"{subject} ({desc})" if desc else subject
            named = f"“{desc}”" if desc else subject
            theme = PARTY_THEMES.get(_mover([str(f.get("whose_move") or "") for f in fl]), "joint")
        clauses = [str(f.get("clause") or "") or str(f["message"]) for f in fl]
        detail = _join([c.rstrip(".") for c in clauses])
        severity = min((str(f["severity"]) for f in fl), key=lambda s: _RANK.get(s, len(_RANK)))
        found.append(dict(quarter=str(fl[0]["quarter"]), partner_id=pid, theme=theme, subject=subject, title=title,
                          detail=detail, sentence=f"{title}: {detail}.", severity=severity, codes=";".join(codes),
                          whose_move=_mover([str(f.get("whose_move") or "") for f in fl]), _pos=position,
                          _named=named))
    frame = pd.DataFrame(found)
    frame["_sev"] = frame["severity"].map(_RANK).fillna(len(_RANK))
    frame["_order"] = frame["theme"].map({t: i for i, t in enumerate(THEMES)})
    worst = frame.groupby(["partner_id", "theme"])["_sev"].transform("min")
    frame["_theme_rank"] = worst * len(THEMES) + frame["_order"]
    frame = frame.sort_values(["partner_id", "_theme_rank", "_sev", "_pos"], kind="stable")
    partner_order = {p: i for i, p in enumerate(dict.fromkeys(str(p) for p in flags["partner_id"]))}
    frame = frame.assign(_p=frame["partner_id"].map(partner_order)).sort_values("_p", kind="stable")
    names = partner_names or {}
    buckets: dict[tuple[int, float], list[dict[str, Any]]] = {}  # (partner's place, theme's rank) -> its findings
    for r in records(frame, ("quarter", "partner_id", "theme", "title", "codes", "whose_move", "_named", "_sev", "_p",
                             "_theme_rank")):
        buckets.setdefault((int(r["_p"]), float(r["_theme_rank"])), []).append(r)
    themes = [_theme(buckets[key], names.get(str(buckets[key][0]["partner_id"]), "")) for key in sorted(buckets)]
    return (frame[FINDING_COLUMNS].reset_index(drop=True).astype("str"),
            pd.DataFrame(themes, columns=THEME_COLUMNS).astype({c: "str" for c in THEME_COLUMNS if c != "findings"}))


def _theme(rows: list[dict[str, Any]], partner: str) -> dict[str, Any]:
    """One theme of one partner (its findings, in order): its title, most severe severity, whose move, and the
    agenda line."""
    first = rows[0]
    theme = str(first["theme"])
    each = [str(r["codes"]).split(";") for r in rows]
    codes = [c for cs in each for c in cs]
    subjects = {c: sum(c in cs for cs in each) for c in ACTIONS}  # findings with the code
    actions = list(dict.fromkeys(ACTIONS[c][int(subjects[c] == 1)] for c in ACTIONS if c in codes))  # catalog order
    if {"KPI_BELOW_TARGET", "KPI_DECLINING"} <= set(codes):  # one action for KPIs under target and falling
        actions = [BOTH_RESULTS] + actions[2:]
    left_out = {str(r["whose_move"]) for r, cs in zip(rows, each) if "KPI_MISSING" in cs}
    if len(left_out) == 1 and next(iter(left_out)) in MISSING_BY:   # figures left out on one side: its move
        n = int(subjects["KPI_MISSING"] == 1)
        actions = [MISSING_BY[next(iter(left_out))][n] if a == ACTIONS["KPI_MISSING"][n] else a for a in actions]
    whose = _mover([str(r["whose_move"]) for r in rows]) or "joint"
    if theme == "data" and whose == "us":   # rows of our records: ours to correct, nothing asked of them
        actions = [OUR_DATA]
    kpis = theme in ("results", "figures")
    # commitments named by what they are (their description), the check-ins and the balance by name
    names = [str(r["_named"]) if r["_named"] else AGENDA_NAMES.get(cs[0], str(r["title"])).lower()
             for r, cs in zip(rows, each)] if not kpis else [str(r["title"]) for r in rows]
    if len(names) > 3:
        names = [f"{len(names)} KPIs" if kpis else f"{len(names)} items"]
    title = THEMES[theme]
    head = f"{title} ({_and(names)})" if theme != "data" else title
    return dict(quarter=str(first["quarter"]), partner_id=str(first["partner_id"]), theme=theme, title=title,
                severity=str(FLAG_SEVERITIES[int(min(r["_sev"] for r in rows))]), whose_move=whose,
                findings=len(rows), agenda=f"{head}: {_and(actions)}")


def top_gaps(findings: pd.DataFrame) -> list[str]:
    """One partner's finding sentences (in the view's order: theme by theme), most severe first; within a
    severity each theme's first before any theme's second, so the top three are not one theme's three. The
    page's top gaps and the manifest's ``top_gaps`` (its first three)."""
    seen: dict[Any, int] = {}
    keyed = []
    for i, r in enumerate(records(findings, ("severity", "theme", "sentence"))):
        nth = seen[r["theme"]] = seen.get(r["theme"], -1) + 1
        keyed.append((_RANK.get(r["severity"], len(_RANK)), nth, i, str(r["sentence"])))
    return [s for *_, s in sorted(keyed)]


def agenda(themes: pd.DataFrame, paused: bool) -> list[tuple[str, str]]:
    """The meeting's agenda: one line per theme with whose move it is (us, partner, joint), most important
    first; a paused partnership's first line is the pause; with nothing flagged, one line for the quarter."""
    lines = [(PAUSED_AGENDA, "joint")] if paused else []
    lines += [(str(r["agenda"]), str(r["whose_move"])) for r in records(themes, ("agenda", "whose_move"))]
    return lines or [(QUIET_AGENDA, "joint")]
