"""The portfolio review PDF (internal): every partner side by side.

Sections: partners ranked by health, the KPI attainment heat map (numbers printed in every cell so it
reads in black and white), flags by code and partner, the biggest movers on last quarter, and the internal
notes on commitments (this document is ours alone, so ``internal_note`` may appear here), and the input
problems that no partner review shows: rows whose partner could not be told, and files that could not be read.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from pipeline.analyse.summary import PAUSE_RULE
from pipeline.core.schema import ATTAINMENT, STATUS
from pipeline.render import layout as L
from pipeline.render.context import FLAG_TITLES, KPI_STATUS
from pipeline.render.explain import HEALTH_STATES, health_word
from pipeline.render.identity import portfolio_keywords
from pipeline.render.layout import fmt_pct, is_missing, para

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import Analysis

SECTION_TITLES = ("Partners ranked by health", "KPI attainment heat map", "Flags by code and partner",
                  "Biggest movers on last quarter", "Open disagreements on figures")
HEAT_COLUMNS = 10       # KPIs per heat-map table; more KPIs continue in a second table
NOTES_LIMIT = 300       # internal notes listed at most
PROBLEMS_LIMIT = 300    # input problems listed at most (all of them are in reconciled.xlsx and `validate`)
MATRIX_TITLES = {      # short column heads for the flag matrix, so no word breaks inside a narrow column
    "KPI_BELOW_TARGET": "Below target", "KPI_DECLINING": "Declining", "KPI_MISSING": "Not reported",
    "KPI_DISCREPANCY": "Figures differ", "KPI_CONFLICT": "Conflict", "KPI_RESTATED": "Restated",
    "COMMITMENT_OVERDUE": "Overdue", "COMMITMENT_SLIPPED": "Slipped", "COMMITMENT_DROPPED": "Dropped",
    "COMMITMENT_STALE": "Stale", "COMMITMENT_INCOMPLETE": "Incomplete", "RECIPROCITY_IMBALANCE": "Imbalance",
    "NO_CHECKIN": "No check-in", "DATA_PROBLEM": "Data excluded",
}


def portfolio_pdf(analysis: Analysis) -> bytes:
    """The portfolio review as PDF bytes."""
    from reportlab.platypus import Spacer

    rec = analysis.reconciled
    org = rec.config.organisation
    q = analysis.quarter.label
    names = dict(zip(rec.partners["partner_id"], rec.partners["partner_name"])) if not rec.partners.empty else {}
    paused = set(analysis.health.loc[analysis.health["state"] == "paused", "partner_id"]) \
        if "state" in analysis.health else set()
    names = {p: f"{n} (paused)" if p in paused else n for p, n in names.items()}  # named so in every section
    ranked = _ranked(analysis, names)
    story: list = [para(f"PORTFOLIO REVIEW · {q} · INTERNAL, NOT FOR PARTNERS", "subtitle"),
                   para(f"{len(ranked)} partners, {q}", "title"),
                   para(f"Prepared by {org} on {analysis.as_of:%d %b %Y}." if org else
                        f"Prepared on {analysis.as_of:%d %b %Y}.", "body"), Spacer(1, 4)]
    story += _ranking(analysis, ranked)
    story += _heatmap(analysis, ranked)
    story += _flag_matrix(analysis, ranked)
    story += _movers(analysis, ranked)
    story += _disagreements(analysis, names)
    story += _their_view(analysis, names)
    story += _internal_notes(analysis, names)
    story += _input_problems(analysis)
    page = L.Page(header_left=f"Portfolio review · {q} · internal", header_right=org, landscape=True,
                  watermark=str(rec.config.org.watermark or ""))
    return L.build(story, page, title=f"Portfolio review {q}", author=org, subject="internal", as_of=analysis.as_of,
                   keywords=portfolio_keywords(q))


def _ranked(a: Analysis, names: dict) -> pd.DataFrame:
    """The health frame with names, ranked best first (ties by name)."""
    h = a.health.copy()
    if h.empty:
        return h.assign(name=[])
    h["name"] = [str(names.get(p, p)) for p in h["partner_id"]]
    h["score_sort"] = pd.to_numeric(h["score"], errors="coerce").fillna(-1)
    return h.sort_values(["score_sort", "name"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _ranking(a: Analysis, ranked: pd.DataFrame) -> list:
    w = L.content_width(landscape=True)
    out = [L.heading("Partners ranked by health")]
    if ranked.empty:
        return out + [para("No partner has a health score this quarter.", "note")]
    counts = ranked["status"].value_counts()
    states = [f"{counts.get(s, 0)} {HEALTH_STATES[s].lower()}" for s in HEALTH_STATES if counts.get(s, 0)]
    out.append(para(", ".join([f"{counts.get(s, 0)} {s}" for s in ("green", "amber", "red")] + states) + "."
                    + (" Partners without a score are listed last." if states else ""), "cell"))
    partners = {r["partner_id"]: r for r in L.records(a.reconciled.partners)}
    paused = [str(partners.get(r["partner_id"], {}).get("partner_name") or r["partner_id"])
              for r in L.records(ranked) if r.get("state") == "paused"]
    if paused:
        out.append(para(f"Paused: {', '.join(paused)}. While a partnership is paused it is not scored, and its "
                        + PAUSE_RULE, "cell"))
    gaps = a.findings if a.findings is not None else a.flags  # the gaps as the partner reviews count them
    severities = gaps.groupby(["partner_id", "severity"]).size().to_dict() if not gaps.empty else {}
    cur = a.kpi_quarterly[a.kpi_quarterly["quarter"] == a.quarter.label]
    on_track = (cur["status"] == "on_track").groupby(cur["partner_id"]).agg(["sum", "size"])
    kpis = dict(zip(on_track.index, zip(on_track["sum"].tolist(), on_track["size"].tolist())))
    heads = ("#", "Partner", "Tier", "Internal owner", "Health", "Status", "vs last quarter", "High", "Medium", "Low",
             "KPIs on track")
    rows = [[L.cell(h, "head" if i < 4 else "headr") for i, h in enumerate(heads)]]
    blocks: list[list] = []  # [tint, first row, last row]: adjacent rows of one status share one rectangle
    for i, r in enumerate(L.records(ranked), start=1):
        pid = r["partner_id"]
        info = partners.get(pid, {})
        prev: Any = r.get("previous_score")  # a score, or missing
        change = "—" if is_missing(prev) or is_missing(r["score"]) else _signed(float(r["score"]) - float(prev))
        done, n = kpis.get(pid, (0, 0))
        rows.append([L.cell(str(i), "cell"), L.cell(r["name"], "cellb", limit=120),
                     L.cell(info.get("tier", ""), "cell", limit=40),
                     L.cell(info.get("internal_owner", ""), "cell", limit=60),
                     L.cell("—" if is_missing(r["score"]) else str(int(r["score"])), "cellr"),
                     L.cell(health_word(r["status"]), "cellr"), L.cell(change, "cellr"),
                     *[L.cell(str(severities.get((pid, s), 0)), "cellr") for s in ("high", "medium", "low")],
                     L.cell(f"{int(done)} / {n}", "cellr")])
        tint = L.STATUS_TINTS.get(str(r["status"]), "#eeeeee")
        if blocks and blocks[-1][0] == tint and blocks[-1][2] == i - 1:
            blocks[-1][2] = i
        else:
            blocks.append([tint, i, i])
    fixed = [10, 0, 24, 40, 16, 30, 24, 14, 16, 14, 22]
    widths = [x * L.MM for x in fixed]
    widths[1] = w - sum(widths)
    shading = [("BACKGROUND", (4, first), (5, last), L.color(tint)) for tint, first, last in blocks]
    return out + [L.table(rows, widths, extra=shading)]


def _signed(x: float) -> str:
    return f"▲ {x:.0f}" if x > 0 else f"▼ {abs(x):.0f}" if x < 0 else "= 0"


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
            rows.append([name] + [L.cell(fmt_pct(att), "cellc") for att in atts])
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


def _movers(a: Analysis, ranked: pd.DataFrame, top: int = 8) -> list:
    w = L.content_width(landscape=True)
    out = [L.heading("Biggest movers on last quarter")]
    h = ranked.assign(change=pd.to_numeric(ranked["score"], errors="coerce")
                      - pd.to_numeric(ranked["previous_score"], errors="coerce")).dropna(subset=["change"])
    h = h.reindex(h["change"].abs().sort_values(ascending=False, kind="stable").index).head(top)
    left = [[L.cell(x, "head" if i == 0 else "headr") for i, x in enumerate(("Partner", "Last quarter", "Now", "Change"))]]
    left += [[L.cell(r["name"], "cell", limit=80), L.cell(f"{float(r['previous_score']):.0f}", "cellr"),
              L.cell(f"{int(r['score'])}", "cellr"), L.cell(_signed(r["change"]), "cellr")] for r in h.to_dict("records")]
    kq = a.kpi_quarterly
    prev_q = a.quarter.previous().label
    names = dict(zip(ranked["partner_id"], ranked["name"]))
    kpis = a.reconciled.kpis
    kpi_names = dict(zip(kpis["kpi_id"], kpis["kpi_name"])) if not kpis.empty else {}
    now = kq[kq["quarter"] == a.quarter.label].set_index(["partner_id", "kpi_id"])["attainment"]
    before = kq[kq["quarter"] == prev_q].set_index(["partner_id", "kpi_id"])["attainment"]
    both = pd.DataFrame({"now": now[~now.index.duplicated(keep="last")],
                         "before": before[~before.index.duplicated(keep="last")]}).dropna()
    both["change"] = both["now"] - both["before"]
    both = both.reindex(both["change"].abs().sort_values(ascending=False, kind="stable").index).head(top)
    pairs = cast("Iterator[tuple[tuple[str, str], pd.Series]]", both.iterrows())  # indexed by (partner, kpi)
    right = [[L.cell(x, "head" if i < 2 else "headr") for i, x in enumerate(("Partner", "KPI", prev_q, "Now", "Change"))]]
    right += [[L.cell(names.get(pid, pid), "cell", limit=60), L.cell(kpi_names.get(kid, kid), "cell", limit=60),
               L.cell(fmt_pct(r["before"]), "cellr"), L.cell(fmt_pct(r["now"]), "cellr"),
               L.cell(_signed(r["change"] * 100) + " pts", "cellr")] for (pid, kid), r in pairs]
    half = (w - 8 * L.MM) / 2
    lt = L.table(left, [half - 54 * L.MM, 20 * L.MM, 14 * L.MM, 20 * L.MM]) if len(left) > 1 else \
        para("No earlier health score to compare with.", "note")
    rt = L.table(right, [half * 0.33, half * 0.29, half * 0.14, half * 0.1, half * 0.14]) if len(right) > 1 else \
        para("No KPI has attainment in both quarters.", "note")
    pair = L.table([[[L.heading("Health score", 2), lt], [L.heading("KPI attainment", 2), rt]]], [half + 4 * L.MM] * 2,
                   header_rows=0, zebra=False,
                   extra=[("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    return out + [pair]


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
    out.append(para((f"Not returned for {a.quarter.label}: " + ", ".join(sorted(missing)) + ".") if missing else
                    f"Every partner returned its data request for {a.quarter.label}.", "cell"))
    return out


def _input_problems(a: Analysis) -> list:
    """Every input problem (error or warning) that belongs to no partner, so no partner review shows it:
    rows whose partner could not be told (unknown or ambiguous, with the "did you mean"), and problems
    with a whole file, sheet or the settings."""
    unowned = [p for p in a.reconciled.problems.actionable if not p.partner_id]
    out = [L.heading("Input problems no partner review shows")]
    if not unowned:
        return out + [para("None: every excluded row belongs to a partner and is listed in that partner's review.",
                           "cell")]
    w = L.content_width(landscape=True)
    out.append(para(f"{len(unowned)} problem{'s' if len(unowned) != 1 else ''} in the input that belong to no "
                    "partner's review. Until they are fixed, the rows behind them are in no review and no figure.",
                    "small"))
    rows = [[L.cell(h, "head") for h in ("Where (file › sheet › cell)", "What was wrong", "How to fix it")]]
    rows += [[L.cell(p.where or "—", "cell", limit=200), L.cell(p.message, "cell"), L.cell(p.fix, "cell")]
             for p in unowned[:PROBLEMS_LIMIT]]
    out.append(L.table(rows, [70 * L.MM, (w - 70 * L.MM) * 0.6, (w - 70 * L.MM) * 0.4]))
    if len(unowned) > PROBLEMS_LIMIT:
        out.append(para(f"{len(unowned) - PROBLEMS_LIMIT} more are listed by partner-review validate and in "
                        "reconciled.xlsx (sheet problems).", "note"))
    return out
