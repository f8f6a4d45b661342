"""The parts of the partner review that explain its numbers: the commitment track record (table and a
small vector chart), the data notes with the reconciliation statement, and how the health score is made."""
from __future__ import annotations

from pipeline.analyse.analysis import OUR_RECORDS
from pipeline.core.schema import BEYOND_TOLERANCE, DISCREPANCY
from pipeline.render import layout as L
from pipeline.render.context import HEALTH_WORDS, Ctx, true
from pipeline.render.layout import fmt_pct, is_missing, para, text

USED = {"internal": "ours", "partner": "yours"}
TRACK = (("made", "Made"), ("on_time", "Kept on time"), ("late", "Kept late"), ("slipped", "Slipped"),
         ("dropped", "Dropped"))


def track_record(c: Ctx) -> list:
    """Each party's commitment track record over the last four quarters, one compact row per party."""
    tr = c.view.track_record
    parties = ("us", "partner", "joint")
    out = [L.heading("Track record over the last four quarters", 2)]
    if tr is None or not len(tr) or int(tr[[k for k, _ in TRACK]].to_numpy().sum()) == 0:
        return out + [para("No commitment was open, due, done or dropped in the last four quarters.", "note")]
    t = {r["party"]: r for r in L.records(tr)}
    get = (lambda p, k: int(t[p][k]) if p in t else 0)  # noqa: E731
    rows = [[L.cell("", "head")] + [L.cell(label, "headr") for _k, label in TRACK] + [L.cell("On-time rate", "headr")]]
    for p in parties:
        cells = []
        for key, _label in TRACK:
            n = get(p, key)
            extra = f" ({get(p, 'slip_days')} days)" if key == "slipped" and n else ""
            cells.append(L.cell(f"{n}{extra}", "cellr"))
        kept, due = get(p, "on_time"), get(p, "on_time") + get(p, "late")
        rows.append([L.cell(c.party(p), "cellb")] + cells + [L.cell(fmt_pct(kept / due) if due else "—", "cellr")])
    w = L.content_width()
    out.append(L.table(rows, [30 * L.MM] + [(w - 30 * L.MM) / (len(TRACK) + 1)] * (len(TRACK) + 1)))
    out.append(para("Made: commitments open at the quarter's end or due, done or dropped in the last four quarters. "
                    "Kept on time or late: done in that time, against the due date. Slipped: due later than first "
                    "agreed, with the days added up. Dropped: open in one review and gone from the next log.", "small"))
    return out


def data_notes(c: Ctx) -> list:
    """Sources, the reconciliation statement, where the two sides differ, and the rows left out."""
    v, w = c.view, L.content_width()
    out = [L.heading("Data notes", outline=True), L.heading("Sources", 2)]
    out += ([para("• " + text(s[:1].upper() + s[1:] if s == OUR_RECORDS else s, 300), "cell", markup=True)
             for s in v.sources]
            or [para("No source files recorded.", "note")])
    out.append(para("The files you sent us are named in full, with sheet and cell wherever a figure is cited, so you "
                    "can check your own cells; what comes from our side (our plan, registry and systems) is cited as "
                    "“our records”.", "small"))
    out += _reconciliation(c)
    out.append(L.heading("Where the two sides' figures differ", 2))
    kq = v.kpi_quarterly
    q_labels = {q.label for q in v.quarters}
    tol = v.thresholds.tolerance  # only to say it: the verdict is the analysis's BEYOND_TOLERANCE
    # masks over the whole frame, and only the listed rows and columns taken out of it
    window = kq["quarter"].isin(q_labels).to_numpy(dtype=bool)
    both = kq[DISCREPANCY].notna().to_numpy(dtype=bool)
    over = kq[BEYOND_TOLERANCE].to_numpy(dtype=bool)
    conflict = kq["conflict"].fillna(False).astype(bool).to_numpy()
    agreed = int((window & both).sum()) - int((window & over).sum())
    shown = [col for col in ("kpi_id", "qindex", "quarter", "internal", "partner", "discrepancy", "conflict",
                             "actual_source") if col in kq.columns]
    disc = kq.loc[window & (over | conflict), shown]
    out.append(para((f"Differences over {tol:.0%} between our figure and yours, and any source that reported "
                     "two values for the same quarter. " if not disc.empty else "No difference over "
                     f"{tol:.0%} between the two sides' figures. ") +
                    (f"In {agreed} other KPI-quarters both sides reported figures within {tol:.0%} of each other."
                     if agreed else ""), "cell"))
    if not disc.empty:
        rows = [[L.cell(h, "head" if i < 2 else "headr") for i, h in enumerate(
            ("KPI", "Quarter", "Ours", "Yours", "Difference", "Used"))]]
        for r in L.records(disc.sort_values(["kpi_id", "qindex"])):
            rows.append([L.cell(c.subject(r["kpi_id"]), "cell"), L.cell(r["quarter"], "cell"),
                         L.cell(c.value(r["kpi_id"], r["internal"]), "cellr"),
                         L.cell(c.value(r["kpi_id"], r["partner"]), "cellr"),
                         L.cell(fmt_pct(r["discrepancy"], 1) + (" · conflict" if true(r.get("conflict")) else ""), "cellr"),
                         L.cell(USED.get(str(r.get("actual_source") or ""), "—"), "cellr")])
        out.append(L.table(rows, [w - 120 * L.MM, 20 * L.MM, 25 * L.MM, 25 * L.MM, 28 * L.MM, 22 * L.MM]))
    out.append(L.heading("Rows excluded from this review", 2))
    if not v.problems:
        out.append(para("No rows were excluded.", "cell"))
    else:   # every row with file, sheet and cell (review.md); ours are ours to fix, theirs say how
        n = len(v.problems)
        ours = sum(p.file == OUR_RECORDS for p in v.problems)
        whose = ("all in our records, which we are correcting" if ours == n else "all in your files" if not ours
                 else f"{ours} in our records, which we are correcting, {n - ours} in your files")
        said = (f"{n} rows or values of the data for this review were excluded or only partly read ({whose}), each "
                "listed here with where it is" if n != 1 else
                f"One value of the data for this review was excluded ({whose.replace('all ', '')}); it is listed here "
                "with where it is")
        out.append(para(said + "; nothing was read as zero.", "cell"))
        rows = [[L.cell(h, "head") for h in ("Where (file › sheet › cell)", "What was wrong", "How it is fixed")]]
        rows += [[L.cell(p.where or "—", "cell", limit=200), L.cell(p.message, "cell"),
                  L.cell("We are correcting it in our records." if p.file == OUR_RECORDS else p.fix, "cell")]
                 for p in v.problems]
        out.append(L.table(rows, [55 * L.MM, (w - 55 * L.MM) * 0.55, (w - 55 * L.MM) * 0.45]))
    return out


def _reconciliation(c: Ctx) -> list:
    """The reconciliation statement: for each KPI where our figure and the partner's differ this quarter,
    both figures, the gap, the cell each came from (this partner's own rows only) and since when."""
    rs = c.view.disagreements
    tol = c.view.thresholds.tolerance
    out = [L.heading(f"Reconciliation statement, {c.q}", 2)]
    if rs is None or not len(rs):
        both = sum(not is_missing(r["internal"]) and not is_missing(r["partner"]) for r in c.current)
        return out + [para(f"Both sides reported {both} KPI{'s' if both != 1 else ''} for {c.q}; the figures agree "
                           f"within {tol:.0%}." if both else f"Only one side reported each KPI for {c.q}, so there are "
                           "no two figures to reconcile.", "cell")]
    out.append(para(f"Our figure and yours differ by more than {tol:.0%} for these KPIs. Both are shown; yours with "
                    "the file, sheet and cell it came from, so you can check it, ours from our records.", "cell"))
    rows = [[L.cell(h, "head") for h in ("KPI", "Our figure", "Your figure", "Gap", "Differ since")]]
    for r in L.records(rs):
        kid = r["kpi_id"]
        gap = float(r["gap"])
        used = str(r.get("actual_source") or "")
        ours = (f"<b>{c.value(kid, r['internal'])}</b>{' (used)' if used == 'internal' else ''}"
                f'<br/><font size="6.5" color="{L.MUTED}">{text(r["internal_cells"], 300)}</font>')
        theirs = (f"<b>{c.value(kid, r['partner'])}</b>{' (used)' if used == 'partner' else ''}"
                  f'<br/><font size="6.5" color="{L.MUTED}">{text(r["partner_cells"], 300)}</font>')
        n = int(r["quarters"])
        since = f"{r['since']}" + (f" ({n} quarters running)" if n > 1 else " (this quarter)")
        gap_s = (f"ours {c.value(kid, abs(gap))} {'higher' if gap > 0 else 'lower'}<br/>"
                 f'<font size="6.5" color="{L.MUTED}">{fmt_pct(r["discrepancy"], 1)} of ours</font>')
        rows.append([L.cell(c.subject(kid), "cellb"), para(ours, "cell", markup=True), para(theirs, "cell", markup=True),
                     para(gap_s, "cell", markup=True),
                     L.cell(since, "cell")])
    w = L.content_width()
    out.append(L.table(rows, [32 * L.MM, (w - 92 * L.MM) / 2, (w - 92 * L.MM) / 2, 30 * L.MM, 30 * L.MM]))
    return out


HEALTH_STATES = {"paused": "Paused", "not_scored": "Not scored"}  # a health without a number: no band
PART_NAMES = {"results": "Results against plan", "delivery": "Commitments kept", "relationship": "Relationship kept up",
              "rule": "Rules"}


def health_word(status: object) -> str:
    """The band or state in words: Healthy, Needs attention, At risk, Paused, Not scored."""
    s = str(status or "")
    return HEALTH_WORDS.get(s) or HEALTH_STATES.get(s) or s or "n/a"


def signed_points(points: object) -> str:
    """The points a rule moved: +5, −12, 0 (— when nothing was scored)."""
    if is_missing(points):
        return "—"
    n = int(float(points))  # type: ignore[arg-type]  # a number: is_missing ruled out None and NaN
    return f"+{n}" if n > 0 else f"−{-n}" if n < 0 else "0"


def health_method(c: Ctx) -> list:
    """How the health score is computed, with this partner's points: they add up to the score, and the
    "Out of" column to 100."""
    v, w = c.view, L.content_width()
    green, amber = v.thresholds.green, v.thresholds.amber
    bd = v.health_breakdown
    parts = [r for r in L.records(bd) if r["component"] != "rule"]
    rule = [r for r in L.records(bd) if r["component"] == "rule"]
    out_of = {r["component"]: int(float(r["max_points"])) for r in parts if not is_missing(r["max_points"])}
    names = ", ".join(f"{PART_NAMES.get(k, k).lower()} {n}" for k, n in out_of.items())
    out = [L.heading("How the health score is computed", outline=True),
           para(f"Health is three things, with the same points every quarter: {names}, {sum(out_of.values())} in all. "
                "A part with nothing to measure counts at the rate of the measured parts, so it neither lifts nor lowers "
                "the score. Three rules set the band whatever the points (below); the points a rule moves are a line "
                f"of their own, so the points always add up to the score. {green:.0f} or more is green, {amber:.0f} to "
                f"{green - 1:.0f} amber, under {amber:.0f} red. Data quality is not in the score: it is the confidence "
                "beside it.", "cell", limit=2000)]
    rows = [[L.cell(h, "head" if i in (0, 3) else "headr") for i, h in enumerate(("Part", "Points", "Out of", "How"))]]
    for r in parts:
        rows.append([L.cell(PART_NAMES.get(r["component"], r["component"]), "cell"),
                     L.cell("—" if is_missing(r["points"]) else f"{int(float(r['points']))}", "cellr"),
                     L.cell(str(out_of.get(r["component"], "—")), "cellr"), L.cell(r.get("detail"), "cell")])
    for r in rule:
        rows.append([L.cell(PART_NAMES["rule"], "cell"), L.cell(signed_points(r["points"]), "cellr"), L.cell("", "cellr"),
                     L.cell(r.get("detail") or "—", "cell")])
    h = v.health
    scored = not is_missing(h.get("score"))
    total = str(int(h["score"])) if scored else "—"
    verdict = f"{health_word(h.get('status'))} ({h.get('status') or 'n/a'})" if scored else health_word(h.get("status"))
    rows.append([L.cell("Health score", "cellb"), L.cell(total, "cellr"), L.cell(str(sum(out_of.values())), "cellr"),
                 L.cell(verdict, "cell")])
    out.append(L.table(rows, [38 * L.MM, 16 * L.MM, 16 * L.MM, w - 70 * L.MM],
                       extra=[("LINEABOVE", (0, -1), (-1, -1), 0.8, L.color(L.ACCENT)),
                              ("FONT", (0, -1), (-1, -1), L.FONT_BOLD, 7.8)]))
    from reportlab.platypus import KeepTogether

    out = [KeepTogether(out)]  # the heading, the rules and the table on one page
    if h.get("confidence"):
        out.append(para(f"Confidence: {h['confidence']}.", "small"))
    if not scored and h.get("state_note"):
        out.append(para(str(h["state_note"]), "small"))
    return out
