"""The portfolio review PDF (internal): the alliance director's cockpit, every partner side by side.

Page 1 is the programme at a glance (`portfolio_front`). Then: partners ranked by health with their score
over the quarters the history holds and the movers (`portfolio_trend`), the KPI attainment heat map
(numbers printed in every cell so it reads in black and white), flags by code and partner, our
accountability (`portfolio_gaps`), the open disagreements on figures, the partners' view beside ours, the
data we are missing with every input problem no partner review shows (`portfolio_gaps`), and the internal
notes on commitments (this document is ours alone, so ``internal_note`` may appear here). Every section
formats what the analysis decided (`Analysis.programme` and the analysis frames).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from pipeline.analyse.programme import names_list
from pipeline.core.schema import ATTAINMENT, STATUS
from pipeline.render import layout as L
from pipeline.render.context import FLAG_TITLES, KPI_STATUS
from pipeline.render.identity import portfolio_keywords
from pipeline.render.layout import fmt_attainment, fmt_pct, is_missing, para
from pipeline.render.portfolio_front import front_page
from pipeline.render.portfolio_gaps import accountability, missing_data
from pipeline.render.portfolio_trend import movers, ranked, ranking

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import Analysis

SECTION_TITLES = ("Partners ranked by health", "Movers since last quarter", "KPI attainment heat map",
                  "Flags by code and partner", "Our accountability: our commitments late or slipped",
                  "Open disagreements on figures", "The partners' view beside ours", "Data we are missing",
                  "Input problems no partner review shows")
HEAT_COLUMNS = 10       # KPIs per heat-map table; more KPIs continue in a second table
NOTES_LIMIT = 300       # internal notes listed at most
NAMES_LISTED = 12       # partners named in a sentence; the rest counted ("and 88 more")
MATRIX_TITLES = {      # short column heads for the flag matrix, so no word breaks inside a narrow column
    "KPI_BELOW_TARGET": "Below target", "KPI_DECLINING": "Declining", "KPI_MISSING": "Not reported",
    "KPI_DISCREPANCY": "Figures differ", "KPI_CONFLICT": "Conflict", "KPI_RESTATED": "Restated",
    "COMMITMENT_OVERDUE": "Overdue", "COMMITMENT_SLIPPED": "Slipped", "COMMITMENT_DROPPED": "Dropped",
    "COMMITMENT_STALE": "Stale", "COMMITMENT_INCOMPLETE": "Incomplete", "RECIPROCITY_IMBALANCE": "Imbalance",
    "NO_CHECKIN": "No check-in", "DATA_PROBLEM": "Data excluded",
}


def portfolio_pdf(analysis: Analysis, briefs: dict[str, str] | None = None) -> bytes:
    """The portfolio review as PDF bytes: page 1 the programme at a glance, then the sections in SECTION_TITLES;
    `briefs` names each partner's meeting brief (partner_id -> its path in the quarter folder)."""
    from reportlab.platypus import PageBreak

    rec = analysis.reconciled
    org = rec.config.organisation
    q = analysis.quarter.label
    names = dict(zip(rec.partners["partner_id"], rec.partners["partner_name"])) if not rec.partners.empty else {}
    paused = set(analysis.health.loc[analysis.health["state"] == "paused", "partner_id"]) \
        if "state" in analysis.health else set()
    names = {p: f"{n} (paused)" if p in paused else n for p, n in names.items()}  # named so in every section
    order = ranked(analysis, names)
    story: list = front_page(analysis) + [PageBreak()]
    story += ranking(analysis, order)
    story += movers(analysis, names)
    story += _heatmap(analysis, order)
    story += _flag_matrix(analysis, order)
    story += accountability(analysis, names)
    story += _disagreements(analysis, names)
    story += _their_view(analysis, names)
    story += missing_data(analysis, names)
    story += _internal_notes(analysis, names)
    story += _briefs(analysis, order, briefs or {})
    page = L.Page(header_left=f"Portfolio review · {q} · internal", header_right=org, landscape=True,
                  watermark=str(rec.config.org.watermark or ""))
    return L.build(story, page, title=f"Portfolio review {q}", author=org, subject="internal", as_of=analysis.as_of,
                   keywords=portfolio_keywords(q))


def _briefs(a: Analysis, order: pd.DataFrame, briefs: dict[str, str]) -> list:
    """Each partner's meeting brief, in the ranking's order, and the partners whose Canvas records no
    alternative of ours (`Analysis.no_alternative`): decide it before their meeting."""
    out = [L.heading("Meeting briefs")]
    if not briefs:
        return out + [para("No meeting brief was written with this portfolio.", "note")]
    missing = set(a.no_alternative)
    names = dict(zip(order["partner_id"], order["name"]))
    without = [str(names.get(p, p)) for p in order["partner_id"] if p in missing]
    out.append(para("Each partner's brief for its account owner is in the quarter folder under briefs/. "
                    + (f"No alternative recorded for {len(without)} of {len(order)} partners: "
                       f"{names_list(without, 12)}. Decide what we do without each agreement before its meeting."
                       if without else "Every partner's Canvas records our alternative."), "cell"))
    owners = dict(zip(a.reconciled.partners["partner_id"], a.reconciled.partners["internal_owner"]))
    w = L.content_width(landscape=True)
    rows = [[L.cell(h, "head") for h in ("Partner", "Internal owner", "Meeting brief", "Our alternative")]]
    for pid, name in zip(order["partner_id"], order["name"]):
        if pid in briefs:
            rows.append([L.cell(name, "cellb", limit=120), L.cell(owners.get(pid, ""), "cell", limit=60),
                         L.cell(briefs[pid], "cellsmall", limit=240),
                         L.cell("not recorded: decide it first" if pid in missing else "recorded", "cell")])
    return out + [L.table(rows, [60 * L.MM, 40 * L.MM, w - 150 * L.MM, 50 * L.MM])]


def _band(status: object) -> str:
    """The tint of a heat-map cell: the attainment band the analysis gave (``status``), none without one."""
    return KPI_STATUS.get(str(status), ("", "none"))[1]


def _heatmap(a: Analysis, ranked: pd.DataFrame) -> list:
    w = L.content_width(landscape=True)
    medium, high = a.thresholds.on_track, a.thresholds.at_risk  # only to say them: the bands are in STATUS
    out = [L.heading("KPI attainment heat map"),
           para(f"Attainment this quarter, partners in health order. Shaded by band: {medium:.0%} or more, "
                f"{high:.0%} to {medium:.0%}, under {high:.0%}; — means no figure or no target. The number is "
                "printed in every cell, so the map reads in black and white.", "small")]
    kpis = a.reconciled.kpis
    kpi_names = dict(zip(kpis["kpi_id"], kpis["kpi_name"])) if not kpis.empty else {}
    cur = a.kpi_quarterly[a.kpi_quarterly["quarter"] == a.quarter.label]
    present = set(cur["kpi_id"].tolist())
    kpi_ids = [k for k in kpi_names if k in present] + sorted(present - set(kpi_names))
    if not kpi_ids or ranked.empty:
        return out + [para("No KPI figures this quarter.", "note")]
    last = cur.drop_duplicates(["partner_id", "kpi_id"], keep="last")
    grid = last.pivot(index="partner_id", columns="kpi_id", values=ATTAINMENT)
    status = last.pivot(index="partner_id", columns="kpi_id", values=STATUS)
    tints = {t: L.color(c) for t, c in L.STATUS_TINTS.items()}
    names = [L.cell(n, "cell", limit=80) for n in ranked["name"].tolist()]
    for start in range(0, len(kpi_ids), HEAT_COLUMNS):
        chunk = kpi_ids[start:start + HEAT_COLUMNS]
        name_w = 55 * L.MM
        cw = min((w - name_w) / len(chunk), 30 * L.MM)
        rows = [[L.cell("Partner", "head")] + [L.cell(kpi_names.get(k, k), "headc", limit=60) for k in chunk]]
        extra: list[tuple] = []
        values = grid.reindex(index=ranked["partner_id"], columns=chunk).to_numpy().tolist()
        statuses = status.reindex(index=ranked["partner_id"], columns=chunk).to_numpy().tolist()
        for i, (name, atts, sts) in enumerate(zip(names, values, statuses), start=1):
            rows.append([name] + [L.cell(fmt_attainment(att, a.thresholds.edges), "cellc") for att in atts])
            bands = ["none" if is_missing(att) else _band(st) for att, st in zip(atts, sts)]
            j = 0
            while j < len(bands):  # one rectangle per run of cells in the same band
                end = j
                while end + 1 < len(bands) and bands[end + 1] == bands[j]:
                    end += 1
                extra.append(("BACKGROUND", (j + 1, i), (end + 1, i), tints[bands[j]]))
                j = end + 1
        extra += [("GRID", (1, 1), (-1, -1), 0.6, L.color("#ffffff"))]
        out.append(L.table(rows, [name_w] + [cw] * len(chunk), zebra=False, extra=extra))
    return out


def _flag_matrix(a: Analysis, ranked: pd.DataFrame) -> list:
    w = L.content_width(landscape=True)
    out = [L.heading("Flags by code and partner")]
    fl = a.flags
    if fl.empty:
        return out + [para("No flags this quarter.", "cell")]
    counts = fl.groupby(["partner_id", "code"]).size().to_dict()
    present = set(fl["code"].tolist())
    codes = [c for c in FLAG_TITLES if c in present] + sorted(present - set(FLAG_TITLES))
    name_w = 55 * L.MM
    cw = min((w - name_w - 16 * L.MM) / len(codes), 24 * L.MM)
    rows = [[L.cell("Partner", "head")] + [L.cell(MATRIX_TITLES.get(c, FLAG_TITLES.get(c, c)), "headcs") for c in codes]
            + [L.cell("Total", "headr")]]
    totals = fl["code"].value_counts()
    rows.append([L.cell("All partners", "cellb")] + [L.cell(str(totals.get(c, 0)), "cellc") for c in codes]
                + [L.cell(str(len(fl)), "cellr")])
    for r in L.records(ranked[["partner_id", "name"]]):
        pid = r["partner_id"]
        vals = [int(counts.get((pid, c), 0)) for c in codes]
        rows.append([L.cell(r["name"], "cell", limit=80)] + [L.cell(str(v) if v else "·", "cellc") for v in vals]
                    + [L.cell(str(sum(vals)), "cellr")])
    out.append(L.table(rows, [name_w] + [cw] * len(codes) + [16 * L.MM],
                       extra=[("BACKGROUND", (0, 1), (-1, 1), L.color(L.HEAD_BG)),
                              ("LEFTPADDING", (1, 0), (-1, 0), 1.2), ("RIGHTPADDING", (1, 0), (-1, 0), 1.2),
                              ("LINEBELOW", (0, 1), (-1, 1), 0.6, L.color(L.ACCENT))]))
    return out


def _disagreements(a: Analysis, names: dict) -> list:
    """Every open disagreement: a KPI whose internal and partner figures differ beyond tolerance this quarter."""
    from pipeline.render.layout import fmt_number

    w = L.content_width(landscape=True)
    currency = a.reconciled.config.currency
    tol = a.thresholds.tolerance  # only to say it: the disagreements are the analysis's
    out = [L.heading("Open disagreements on figures")]
    d = a.disagreements
    if d is None or not len(d):
        return out + [para(f"No KPI has our figure and the partner's more than {tol:.0%} apart this quarter.", "cell")]
    kpis = a.reconciled.kpis
    info = {r["kpi_id"]: r for r in kpis.to_dict("records")} if not kpis.empty else {}
    heads = ("Partner", "KPI", "Ours", "Theirs", "Gap", "Since", "Our cells", "Their cells")
    rows = [[L.cell(h, "head" if i < 2 or i > 4 else "headr") for i, h in enumerate(heads)]]
    for r in d.to_dict("records"):
        k = info.get(r["kpi_id"], {})
        unit = str(k.get("unit") or "count")
        fmt = (lambda x, unit=unit: fmt_number(x, unit, currency))  # noqa: E731
        rows.append([L.cell(names.get(r["partner_id"], r["partner_id"]), "cell", limit=80),
                     L.cell(k.get("kpi_name", r["kpi_id"]), "cell", limit=60), L.cell(fmt(r["internal"]), "cellr"),
                     L.cell(fmt(r["partner"]), "cellr"), L.cell(fmt_pct(r["discrepancy"], 1), "cellr"),
                     L.cell(f"{r['since']} ({int(r['quarters'])} q)", "cell"),
                     L.cell(r["internal_cells"], "cellsmall", limit=300), L.cell(r["partner_cells"], "cellsmall", limit=300)])
    rest = w - (45 + 32 + 22 + 22 + 16 + 22) * L.MM
    out.append(L.table(rows, [45 * L.MM, 32 * L.MM, 22 * L.MM, 22 * L.MM, 16 * L.MM, 22 * L.MM, rest / 2, rest / 2]))
    return out


def _internal_notes(a: Analysis, names: dict) -> list:
    cs = a.commitment_status
    if "internal_note" not in cs.columns:
        return []
    notes = cs[cs["internal_note"].fillna("").astype(str).str.strip() != ""]
    if notes.empty:
        return []
    w = L.content_width(landscape=True)
    out = [L.heading("Internal notes on commitments"),
           para("Our own notes from the commitment logs; they never appear in a partner's review.", "small")]
    rows = [[L.cell(h, "head") for h in ("Partner", "Commitment", "Description", "Internal note")]]
    for r in notes.head(NOTES_LIMIT).to_dict("records"):
        rows.append([L.cell(names.get(r["partner_id"], r["partner_id"]), "cell", limit=80),
                     L.cell(r["commitment_id"], "cell", limit=40), L.cell(r.get("description"), "cell", limit=300),
                     L.cell(r["internal_note"], "cell")])
    out.append(L.table(rows, [50 * L.MM, 26 * L.MM, (w - 76 * L.MM) * 0.45, (w - 76 * L.MM) * 0.55]))
    if len(notes) > NOTES_LIMIT:
        out.append(para(f"{len(notes) - NOTES_LIMIT} more notes are in the commitment logs.", "note"))
    return out


def _their_view(a: Analysis, names: dict) -> list:
    """Each partner's rating beside our health, where the two views disagree most first, and who has not
    returned this quarter's data request (with each partner's requests returned over the quarters)."""
    r = a.returns
    out = [L.heading("The partners' view beside ours")]
    if r is None or not len(r):
        return out
    w = L.content_width(landscape=True)
    gap = r["view_gap"].abs().fillna(-1)
    ranked = r.assign(_gap=gap, _name=[str(names.get(p, p)) for p in r["partner_id"]]).sort_values(
        ["_gap", "_name"], ascending=[False, True], kind="stable")
    out.append(para("Their rating (1 to 5, the mean of the questions answered in their data request) beside our health "
                    "score; the partners whose rating and our score disagree most come first (the score read on the "
                    "same scale: 100 is 5).", "small"))
    rows = [[L.cell(h, "head" if i == 0 else "headr") for i, h in enumerate(
        ("Partner", "Our health", "Their rating", "Last quarter", "Views differ by", "Requests returned"))]]
    for row in ranked.to_dict("records"):
        score = row["health_score"]
        rows.append([L.cell(row["_name"], "cell", limit=80),
                     L.cell("—" if is_missing(score) else f"{score:.0f} ({row['health_status']})", "cellr"),
                     L.cell("not returned" if not row["returned_now"] else
                            "none answered" if is_missing(row["rating"]) else f"{row['rating']:.1f}", "cellr"),
                     L.cell("—" if is_missing(row["previous_rating"]) else f"{row['previous_rating']:.1f}", "cellr"),
                     L.cell("—" if is_missing(row["view_gap"]) else f"{row['view_gap']:+.1f}", "cellr"),
                     L.cell(f"{row['returned']} of {row['asked']}" if row["asked"] else "none asked yet", "cellr")])
    out.append(L.table(rows, [w - 150 * L.MM, 28 * L.MM, 28 * L.MM, 28 * L.MM, 30 * L.MM, 36 * L.MM]))
    missing = [str(names.get(p, p)) for p, back in zip(r["partner_id"], r["returned_now"]) if not back]
    out.append(para((f"Not returned for {a.quarter.label}: " + names_list(sorted(missing), NAMES_LISTED) + "."
                     + (" Each is listed under Data we are missing." if len(missing) > NAMES_LISTED else ""))
                    if missing else
                    f"Every partner returned its data request for {a.quarter.label}.", "cell"))
    return out
