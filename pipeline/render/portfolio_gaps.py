"""The portfolio's lists of what is owed: our accountability (our own and joint commitments late or slipped,
by internal owner, and each owner's on-time share) and the data we are missing (per partner, and every
input problem that no partner review shows, with its file, sheet, cell and "did you mean").

The lists are `Analysis.programme.late` / `.owners` / `.missing` / `.unattributed`; this module formats them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.render import layout as L
from pipeline.render.layout import fmt_date, fmt_pct, para

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import Analysis

PARTIES = {"us": "ours", "joint": "joint"}


def accountability(a: Analysis, names: dict) -> list:
    """Our own and joint commitments late or slipped, by internal owner, with the owners' on-time shares."""
    w = L.content_width(landscape=True)
    p = a.programme
    out = [L.heading("Our accountability: our commitments late or slipped")]
    if not len(p.owners):
        return out + [para("We have no commitment of our own or joint this quarter.", "cell")]
    out.append(para("Per internal owner (the commitment's owner when it is ours, otherwise the partner's internal "
                    "owner): our own and joint commitments made, open and late, and the share delivered on time "
                    "(done on time, of those done with a due date and those open past it).", "small"))
    rows = [[L.cell(h, "head" if i == 0 else "headr") for i, h in enumerate(
        ("Internal owner", "Commitments", "Open", "Late or slipped", "Done", "Done on time", "On time"))]]
    for r in L.records(p.owners):
        rows.append([L.cell(r["owner"], "cellb", limit=80), L.cell(str(r["made"]), "cellr"),
                     L.cell(str(r["open"]), "cellr"), L.cell(str(r["late"]) if r["late"] else "·", "cellr"),
                     L.cell(str(r["done"]), "cellr"), L.cell(str(r["done_on_time"]), "cellr"),
                     L.cell(fmt_pct(r["on_time_share"]), "cellr")])
    out.append(L.table(rows, [w - 150 * L.MM] + [25 * L.MM] * 6))
    late = p.late
    if not len(late):
        return out + [para("None of our own or joint commitments is late or has slipped.", "cell")]
    out.append(L.heading(f"{len(late)} late or slipped, by owner, most days late first", 2))
    heads = ("Internal owner", "Partner", "Commitment", "Description", "Due", "Days late", "Slipped by", "Why")
    rows = [[L.cell(h, "headr" if h in ("Days late", "Slipped by") else "head") for h in heads]]
    previous = None
    for r in L.records(late):  # the owner on every row (a page may start inside a group), bold where a group starts
        first = r["owner"] != previous
        previous = r["owner"]
        partner = names.get(r["partner_id"], r["partner_id"])
        rows.append([L.cell(r["owner"], "cellb" if first else "cell", limit=60), L.cell(partner, "cell", limit=80),
                     L.cell(f"{r['commitment_id']} ({PARTIES.get(r['party'], r['party'])})", "cell", limit=60),
                     L.cell(r["description"], "cell", limit=200), L.cell(fmt_date(r["due_date"]), "cell"),
                     L.cell(str(r["days_late"]) if r["days_late"] else "—", "cellr"),
                     L.cell(f"{r['slip_days']} days" if r["slip_days"] else "—", "cellr"), L.cell(r["why"], "cell")])
    fixed = [34, 40, 30, 0, 21, 13, 17, 30]
    widths = [x * L.MM for x in fixed]
    widths[3] = w - sum(widths)
    out.append(L.table(rows, widths))
    return out


def missing_data(a: Analysis, names: dict) -> list:
    """Per partner, what it was asked for and did not send; then every input problem no review shows."""
    w = L.content_width(landscape=True)
    m = a.programme.missing
    out = [L.heading("Data we are missing")]
    if not len(m):
        out.append(para("Every partner sent its own figure for every KPI with a target, returned its data request "
                        "and agrees with our figures.", "cell"))
    else:
        out.append(para("Per partner: the KPIs with a target this quarter for which they sent no figure of their own, "
                        "whether their data request for this quarter came back, and the open disagreements on "
                        "figures (listed above).", "small"))
        rows = [[L.cell(h, "head" if i in (0, 2) else "headr") for i, h in enumerate(
            ("Partner", "Without their figure", "KPIs", "Data request", "Disagreements"))]]
        for r in L.records(m):
            rows.append([L.cell(names.get(r["partner_id"], r["partner_id"]), "cellb", limit=80),
                         L.cell(f"{r['without_their_figure']} of {r['kpis_asked']}", "cellr"),
                         L.cell("all of them" if r["without_their_figure"] == r["kpis_asked"] else r["kpis"] or "—",
                                "cell", limit=600), L.cell(r["request"], "cellr"),
                         L.cell(str(r["disagreements"]) if r["disagreements"] else "·", "cellr")])
        out.append(L.table(rows, [55 * L.MM, 28 * L.MM, w - 139 * L.MM, 30 * L.MM, 26 * L.MM]))
    return out + input_problems(a)


def input_problems(a: Analysis) -> list:
    """Every input problem (error or warning) that belongs to no partner, so no partner review shows it:
    rows whose partner could not be told (unknown or ambiguous, with the "did you mean"), and problems
    with a whole file, sheet or the settings. All of them: the table flows on over pages."""
    u = a.programme.unattributed
    out = [L.heading("Input problems no partner review shows", 2)]
    if not len(u):
        return out + [para("None: every excluded row belongs to a partner and is listed in that partner's review.",
                           "cell")]
    w = L.content_width(landscape=True)
    out.append(para(f"{len(u)} problem{'s' if len(u) != 1 else ''} in the input that belong to no partner's review. "
                    "Until they are fixed, the rows behind them are in no review and no figure.", "small"))
    rows = [[L.cell(h, "head") for h in ("Where (file › sheet › cell)", "What was wrong", "Did you mean",
                                         "How to fix it")]]
    for r in L.records(u):
        where = " › ".join(str(x) for x in (r["file"], r["sheet"], r["cell"]) if x)
        rows.append([L.cell(where or "—", "cell", limit=200), L.cell(r["message"], "cell"),
                     L.cell(r["did_you_mean"] or "—", "cell", limit=120), L.cell(r["fix"], "cell")])
    rest = w - 70 * L.MM - 40 * L.MM
    out.append(L.table(rows, [70 * L.MM, rest * 0.6, 40 * L.MM, rest * 0.4]))
    return out
