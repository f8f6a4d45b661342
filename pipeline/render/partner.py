"""The partner review PDF: one partner's quarter, rendered only from its `PartnerView`.

Sections (spec review.md): the first page (who, when, health, summary, top gaps, what changed), flagged
gaps, KPI scorecard, trend charts, commitments and delivery, agenda, data notes, and how the health score
is computed. Each section is one function returning flowables. ``internal_note`` is never read here.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.render import layout as L
from pipeline.render.layout import fmt_change, fmt_date, fmt_number, fmt_pct, is_missing, para, text

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.frames import PartnerView

SECTION_TITLES = ("Flagged gaps", "KPI scorecard", "Trends", "Commitments", "Agenda for the review meeting",
                  "Data notes", "How the health score is computed")

FLAG_TITLES = {
    "KPI_BELOW_TARGET": "KPI below target", "KPI_DECLINING": "KPI declining", "KPI_MISSING": "KPI not reported",
    "KPI_DISCREPANCY": "Figures disagree", "KPI_CONFLICT": "Conflicting figures", "KPI_RESTATED": "Past figure restated",
    "COMMITMENT_OVERDUE": "Commitment overdue", "COMMITMENT_SLIPPED": "Commitment slipped",
    "COMMITMENT_DROPPED": "Commitment dropped", "COMMITMENT_STALE": "Commitment not updated",
    "COMMITMENT_INCOMPLETE": "Commitment incomplete", "RECIPROCITY_IMBALANCE": "Delivery out of balance",
    "NO_CHECKIN": "No check-in", "DATA_PROBLEM": "Data excluded",
}
KPI_STATUS = {"on_track": ("On track", "green"), "at_risk": ("At risk", "amber"), "off_track": ("Off track", "red"),
              "missing": ("Not reported", "none"), "no_target": ("No target", "none")}
HEALTH_WORDS = {"green": "Healthy", "amber": "Needs attention", "red": "At risk"}
COMPONENTS = {"kpi_attainment": "KPI attainment", "our_delivery": "Our delivery",
              "partner_delivery": "Partner's delivery", "data_quality": "Data quality"}


class _Ctx:
    """Names and lookups every section needs, taken from the view once."""

    def __init__(self, view: "PartnerView") -> None:
        self.view = view
        self.partner = str(view.partner.get("partner_name") or view.partner.get("partner_id") or "")
        self.lead = str(view.partner.get("partner_lead") or "") or self.partner
        self.us = view.organisation
        self.q = view.quarter.label
        self.currency = view.config.currency
        self.kpi = {r["kpi_id"]: r for r in view.kpis.to_dict("records")}

    def party(self, code: object) -> str:
        return {"us": self.us, "partner": self.partner, "joint": "Both of us"}.get(str(code or ""), "—")

    def subject(self, subject: object) -> str:
        s = "" if is_missing(subject) else str(subject)
        return str(self.kpi[s]["kpi_name"]) if s in self.kpi else s

    def value(self, kpi_id: str, v: object) -> str:
        return fmt_number(v, str(self.kpi.get(kpi_id, {}).get("unit") or "count"), self.currency)


def partner_pdf(view: "PartnerView", charts: dict[str, bytes]) -> bytes:
    """The partner review as PDF bytes."""
    from reportlab.platypus import PageBreak

    c = _Ctx(view)
    story: list = []
    story += _first_page(c)
    story.append(PageBreak())
    story += _gaps(c)
    story += _scorecard(c)
    story += _trends(c, charts)
    story += _commitments(c)
    story += _agenda(c)
    story += _data_notes(c)
    story += _health_method(c)
    page = L.Page(header_left=f"{c.partner} · {c.q} partner review · prepared for {c.lead}",
                  header_right=f"prepared by {c.us}", watermark=str(view.config["organisation.watermark"] or ""))
    return L.build(story, page, title=f"{c.partner} — {c.q} partner review", author=c.us,
                   subject=f"Quarterly partner review {c.q}")


# --------------------------------------------------------------------------------------------- page one
def _first_page(c: _Ctx) -> list:
    from reportlab.platypus import Spacer

    v, w = c.view, L.content_width()
    h = v.health
    score, status = h.get("score"), str(h.get("status") or "")
    facts = [
        ("Prepared for", f"{c.lead}, {c.partner}" if c.lead != c.partner else c.partner),
        ("Prepared by", c.us + (f" ({v.partner.get('internal_owner')})" if v.partner.get("internal_owner") else "")),
        ("Quarter", c.q + (f" · tier {v.partner.get('tier')}" if v.partner.get("tier") else "")),
        ("Date", fmt_date(_report_date(v))),
    ]
    fact_rows = [[para(k, "label"), para(val, "value")] for k, val in facts]
    facts_t = L.table(fact_rows, [26 * L.MM, w - 78 * L.MM], header_rows=0, zebra=False,
                      extra=[("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])
    colour = L.STATUS_COLOURS.get(status, L.MUTED)
    prev = h.get("previous_score")
    delta = "" if is_missing(prev) or is_missing(score) else f"{_signed(float(score) - float(prev))} on last quarter"
    box = L.table([[para("HEALTH", "bigsub", markup=True)],
                   [para(f'<font color="{colour}">{"—" if is_missing(score) else int(score)}</font>'
                         '<font size="11" color="#5f6b7a"> / 100</font>', "big", markup=True)],
                   [para(f'<font color="{colour}">{HEALTH_WORDS.get(status, status)} ({status or "n/a"})</font>',
                         "bigsub", markup=True)],
                   [para(delta, "cellc")]],
                  [48 * L.MM], header_rows=0, zebra=False,
                  extra=[("BOX", (0, 0), (-1, -1), 1.6, L.color(colour)), ("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")),
                         ("BACKGROUND", (0, 0), (-1, -1), L.color(L.STATUS_TINTS.get(status, "#eeeeee")))])
    top = L.table([[facts_t, box]], [w - 52 * L.MM, 52 * L.MM], header_rows=0, zebra=False,
                  extra=[("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")), ("ALIGN", (1, 0), (1, 0), "RIGHT"),
                         ("LEFTPADDING", (0, 0), (-1, -1), 0), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])
    out = [para(f"QUARTERLY PARTNER REVIEW · {c.q}", "subtitle"), para(c.partner, "title", limit=200),
           Spacer(1, 8), top, Spacer(1, 6), _tiles(c), L.heading("Summary", 2)]
    why = str(v.extras.get("why") or "")
    out += [para(s) for s in ([why] if why else []) + _summary(c)]
    out.append(L.heading("Top gaps", 2))
    top_flags = v.flags.head(3)
    if top_flags.empty:
        out.append(para("No gaps were flagged this quarter."))
    for f in top_flags.to_dict("records"):
        out.append(para(f'<b>{text(FLAG_TITLES.get(f["code"], f["code"]))}</b> ({text(f["severity"])}) — '
                        f'{text(f["message"], 300)} <font color="{L.MUTED}">Next move: {text(c.party(f["whose_move"]))}</font>',
                        markup=True))
    out.append(L.heading("What changed since last quarter", 2))
    changes = [s for s in v.extras.get("changes", []) if s]
    out += [para("• " + text(s, 600), markup=True) for s in changes] or \
        [para("This is the first quarter reviewed with this tool, so there is no earlier review to compare with.", "note")]
    return out


def _tiles(c: _Ctx):
    """Four numbers at a glance under the header."""
    v, w = c.view, L.content_width()
    cur = _current(v)
    com = v.commitments
    flag = (lambda col: _col(com, col, False).fillna(False).astype(bool))
    tiles = [(f"{int((cur['status'] == 'on_track').sum())} / {len(cur)}", "KPIs on track"),
             (str(int(flag("is_open").sum())), "commitments open"),
             (str(int(flag("is_overdue").sum())), "commitments overdue"),
             (f"{len(v.flags)}", f"gaps flagged, {int((v.flags['severity'] == 'high').sum())} high")]
    cells = [[[para(n, "tile"), para(label, "tilelabel")] for n, label in tiles]]
    return L.table(cells, [w / 4] * 4, header_rows=0, zebra=False,
                   extra=[("BACKGROUND", (0, 0), (-1, -1), L.color(L.ZEBRA)), ("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")),
                          ("LINEAFTER", (0, 0), (-2, -1), 0.5, L.color(L.RULE)), ("TOPPADDING", (0, 0), (-1, -1), 5),
                          ("BOTTOMPADDING", (0, 0), (-1, -1), 6)])


def _report_date(v: "PartnerView") -> Any:
    d = v.extras.get("date") or v.extras.get("generated_at")
    return pd.Timestamp(d) if d else dt.date.today()


def _signed(x: float) -> str:
    return f"▲ {x:.0f}" if x > 0 else f"▼ {abs(x):.0f}" if x < 0 else "= 0"


def summary_sentences(view: "PartnerView") -> list[str]:
    """The review's summary, for other views of the same review (the e-mail body)."""
    return _summary(_Ctx(view))


def _summary(c: _Ctx) -> list[str]:
    """Two or three plain sentences written from the data."""
    v = c.view
    cur = _current(v)
    counts = cur["status"].value_counts()
    n = len(cur)
    kpi_s = (f"{counts.get('on_track', 0)} of {n} KPIs are on track this quarter"
             + (f", {counts.get('at_risk', 0)} at risk" if counts.get("at_risk", 0) else "")
             + (f", {counts.get('off_track', 0)} off track" if counts.get("off_track", 0) else "")
             + (f" and {counts.get('missing', 0)} not reported" if counts.get("missing", 0) else "") + ".")
    worst = cur.dropna(subset=["attainment"]).sort_values("attainment").head(1)
    if not worst.empty and worst.iloc[0]["attainment"] < 0.9:
        r = worst.iloc[0]
        kpi_s += f" Furthest from target: {c.subject(r['kpi_id'])} at {fmt_pct(r['attainment'])} of target."
    com = v.commitments
    open_n = int(_col(com, "is_open", False).fillna(False).astype(bool).sum())
    overdue = com[_col(com, "is_overdue", False).fillna(False).astype(bool)]
    com_s = f"{len(com)} commitments are tracked: {open_n} open, {int((_col(com, 'status', '') == 'done').sum())} done"
    if len(overdue):
        by = _col(overdue, "party", "").map(lambda x: "joint" if x == "joint" else c.party(x)).value_counts()
        com_s += f", {len(overdue)} overdue (" + ", ".join(f"{n} {who}" for who, n in by.items()) + ")"
    com_s += "."
    high = int((v.flags["severity"] == "high").sum())
    n_f = len(v.flags)
    flag_s = ((f"{n_f} gaps are flagged, {high or 'none'} of them high severity" if n_f > 1 else
               f"1 gap is flagged ({v.flags['severity'].iloc[0] if n_f else ''} severity)") +
              "; the agenda at the end of this review proposes what to discuss." if n_f else "No gaps are flagged this quarter.")
    return [kpi_s, com_s, flag_s]


def _col(df: pd.DataFrame, name: str, default: object) -> pd.Series:
    """A column, or `default` on every row when the frame lacks it."""
    return df[name] if name in df.columns else pd.Series(default, index=df.index, dtype=object)


def _current(v: "PartnerView") -> pd.DataFrame:
    kq = v.kpi_quarterly
    return kq[kq["quarter"] == v.quarter.label]


# ------------------------------------------------------------------------------------------- sections
def _gaps(c: _Ctx) -> list:
    out = [L.heading("Flagged gaps")]
    fl = c.view.flags
    if fl.empty:
        return out + [para("No gaps were flagged this quarter.")]
    fl = fl.assign(_o=fl["severity"].map(L.SEVERITY_ORDER).fillna(3)).sort_values("_o", kind="stable")
    w = L.content_width()
    rows = [[para(h, "head") for h in ("#", "Severity", "Gap and evidence", "Whose move")]]
    extra = []
    for i, f in enumerate(fl.to_dict("records"), start=1):
        title = FLAG_TITLES.get(f["code"], f["code"]) + (f": {c.subject(f['subject'])}" if c.subject(f["subject"]) else "")
        rows.append([para(str(i), "cell"), para(str(f["severity"]).capitalize(), "cellb"),
                     para(f"<b>{text(title, 200)}</b><br/>{text(f['message'])}", "cell", markup=True),
                     para(c.party(f["whose_move"]), "cell")])
        extra.append(("BACKGROUND", (1, i), (1, i), L.color(L.SEVERITY_TINTS.get(f["severity"], L.ZEBRA))))
    return out + [L.table(rows, [8 * L.MM, 18 * L.MM, w - 66 * L.MM, 40 * L.MM], extra=extra)]


def _scorecard(c: _Ctx) -> list:
    out = [L.heading("KPI scorecard")]
    cur = _current(c.view).set_index("kpi_id")
    w = L.content_width()
    heads = ("KPI", "Target", "Actual", "Attainment", "vs last quarter", "vs a year ago", "Status")
    rows = [[para(h, "head" if i in (0, 6) else "headr") for i, h in enumerate(heads)]]
    extra = []
    for i, (kid, k) in enumerate(c.kpi.items(), start=1):
        r = cur.loc[kid] if kid in cur.index else None
        if isinstance(r, pd.DataFrame):
            r = r.iloc[-1]
        g = (lambda col: None if r is None else r.get(col))
        hint = "lower is better" if k.get("direction") == "lower" else ""
        name = f"<b>{text(k.get('kpi_name') or kid, 200)}</b>" + (f'<br/><font size="6.5" color="{L.MUTED}">{hint}</font>' if hint else "")
        actual = f"<b>{c.value(kid, g('actual'))}</b>"
        both = not is_missing(g("internal")) and not is_missing(g("partner"))
        if both:
            src = str(g("actual_source") or "")
            mark = {s: " (used)" if src == s else "" for s in ("internal", "partner")}
            actual += (f'<br/><font size="6.5" color="{L.MUTED}">internal {c.value(kid, g("internal"))}{mark["internal"]}'
                       f'<br/>partner {c.value(kid, g("partner"))}{mark["partner"]}</font>')
        elif not is_missing(g("actual")) and g("actual_source") == "partner":
            actual += f'<br/><font size="6.5" color="{L.MUTED}">partner-reported</font>'
        label, tone = KPI_STATUS.get(str(g("status") or "missing"), (str(g("status")), "none"))
        rows.append([para(name, "cell", markup=True), para(c.value(kid, g("target")), "cellr"),
                     para(actual, "cellr", markup=True), para(fmt_pct(g("attainment")), "cellr"),
                     para(fmt_change(g("change_qoq")), "cellr"), para(fmt_change(g("change_yoy")), "cellr"),
                     para(label, "cellb")])
        extra.append(("BACKGROUND", (6, i), (6, i), L.color(L.STATUS_TINTS[tone])))
    col = (w - 46 * L.MM - 34 * L.MM) / 5
    out.append(L.table(rows, [46 * L.MM, col, 34 * L.MM, col, col, col, col], extra=extra))
    out.append(para("Attainment is actual against target (target against actual where lower is better). Where we and "
                    "the partner both reported a figure both are shown; “(used)” marks the one that drives attainment. "
                    "Changes are relative to the actual of the previous quarter and of the same quarter a year ago.",
                    "small"))
    return out


def _trends(c: _Ctx, charts: dict[str, bytes]) -> list:
    from pipeline.charts import HEIGHT_IN, WIDTH_IN

    out = [L.heading("Trends"),
           para(f"Each KPI over the last {len(c.view.quarters)} quarters. Solid line with dots: actual; dashed line "
                "with squares: target; dotted line with triangles: the partner's own figure where it is not the one "
                "used. A gap in a line is a quarter with no figure (never a zero). The shaded column is this quarter.",
                "small")]
    pngs = [charts[k] for k in c.kpi if k in charts]
    if not pngs:
        return out + [para("No KPI has figures to chart.", "note")]
    w = L.content_width()
    cw = (w - 4 * L.MM) / 2
    ch = cw * HEIGHT_IN / WIDTH_IN
    imgs = [L.image(p, cw, ch) for p in pngs]
    grid = [imgs[i:i + 2] + [""] * (2 - len(imgs[i:i + 2])) for i in range(0, len(imgs), 2)]
    out.append(L.table(grid, [cw + 2 * L.MM] * 2, header_rows=0, zebra=False,
                       extra=[("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
    return out


_STATE_ORDER = {"Overdue": 0, "Slipped": 1, "Blocked": 2, "Open": 3, "Dropped": 4, "Done": 5, "Cancelled": 6}


def _state(r: dict) -> tuple[str, str, str]:
    """(state word, detail, tint) of one commitment row."""
    slip = int(r.get("slip_days") or 0)
    slipped = f"slipped {slip} days" if slip > 0 else ""
    if _true(r.get("is_dropped")):
        return "Dropped", "open last quarter, gone from the log", "none"
    if r.get("status") == "done":
        when = fmt_date(r.get("completed_date"))
        late = r.get("on_time")
        detail = f"{when}" + ("" if is_missing(late) else " · on time" if late else " · late")
        return "Done", detail, "green"
    if r.get("status") == "cancelled":
        return "Cancelled", "", "none"
    pct = r.get("percent_complete")
    pct_s = "" if is_missing(pct) else f"{float(pct) * 100:.0f}% complete"
    if _true(r.get("is_overdue")):
        late = int(r.get("days_overdue") or 0)
        late_s = f"{late} days" if late else "due on the quarter's last day"
        return "Overdue", "; ".join(x for x in (late_s, slipped, pct_s) if x), "red"
    if slipped:
        return "Slipped", "; ".join(x for x in (slipped, pct_s) if x), "amber"
    if r.get("status") == "blocked":
        return "Blocked", pct_s, "amber"
    return "Open", pct_s or str(r.get("status") or "").replace("_", " "), "none"


def _true(x: object) -> bool:
    return not is_missing(x) and bool(x)


def _commitments(c: _Ctx) -> list:
    out = [L.heading("Commitments")]
    com, w = c.view.commitments, L.content_width()
    out.append(L.heading("Delivery side by side", 2))
    d = c.view.delivery.set_index("party") if not c.view.delivery.empty else pd.DataFrame()
    parties = [p for p in ("us", "partner", "joint")]
    metrics = [("made", "Commitments made"), ("open", "Open"), ("done", "Done"), ("done_on_time", "Done on time"),
               ("done_late", "Done late"), ("overdue", "Overdue"), ("slipped", "Slipped"), ("dropped", "Dropped"),
               ("on_time_rate", "On-time delivery rate")]
    rows = [[para("", "head")] + [para(c.party(p), "headr") for p in parties]]
    for key, label in metrics:
        vals = [d.loc[p, key] if p in d.index and key in d.columns else None for p in parties]
        show = [fmt_pct(x) if key == "on_time_rate" else ("—" if is_missing(x) else str(int(x))) for x in vals]
        rows.append([para(label, "cell")] + [para(s, "cellr") for s in show])
    out.append(L.table(rows, [50 * L.MM] + [(w - 50 * L.MM) / 3] * 3))
    out += _track_record(c)
    titles = {"us": f"Our commitments ({c.us})", "partner": f"{c.partner}'s commitments", "joint": "Joint commitments"}
    for party in parties:
        part = [r for r in com.to_dict("records") if r.get("party") == party]
        out.append(L.heading(titles[party], 2))
        if not part:
            out.append(para("None recorded.", "note"))
            continue
        states = [(_state(r), r) for r in part]
        states.sort(key=lambda s: (_STATE_ORDER.get(s[0][0], 9), str(s[1].get("due_date"))))
        tally = pd.Series([s[0][0] for s in states]).value_counts()
        out.append(para(f"{len(part)} commitment{'s' if len(part) != 1 else ''}: " + ", ".join(f"{n} {k.lower()}" for k, n in tally.items()) + ".",
                        "small"))
        rows = [[para(h, "head") for h in ("Ref", "Commitment", "Owner", "Due", "State")]]
        extra = []
        for i, ((word, detail, tint), r) in enumerate(states, start=1):
            body = text(r.get("description"))
            if r.get("note"):
                body += f'<br/><font color="{L.MUTED}"><i>Note: {text(r.get("note"), 300)}</i></font>'
            if r.get("linked_kpi_id"):
                body += f'<br/><font color="{L.MUTED}" size="6.5">moves {text(c.subject(r.get("linked_kpi_id")), 120)}</font>'
            rows.append([para(r.get("commitment_id"), "cell", limit=40), para(body, "cell", markup=True),
                         para(r.get("owner") or "—", "cell", limit=80), para(fmt_date(r.get("due_date")), "cell"),
                         para(f"<b>{word}</b>" + (f"<br/>{text(detail)}" if detail else ""), "cell", markup=True)])
            if tint != "none":
                extra.append(("BACKGROUND", (4, i), (4, i), L.color(L.STATUS_TINTS[tint])))
        out.append(L.table(rows, [19 * L.MM, w - 101 * L.MM, 27 * L.MM, 21 * L.MM, 34 * L.MM], extra=extra))
    return out


TRACK = (("made", "Made"), ("on_time", "Kept on time"), ("late", "Kept late"), ("slipped", "Slipped"),
         ("dropped", "Dropped"))


def _track_record(c: _Ctx) -> list:
    """Each party's commitment track record over the last four quarters: a table and a small bar chart."""
    tr = c.view.extras.get("track_record")
    parties = ("us", "partner", "joint")
    out = [L.heading("Track record over the last four quarters", 2)]
    if tr is None or not len(tr) or int(tr[[k for k, _ in TRACK]].to_numpy().sum()) == 0:
        return out + [para("No commitment was open, due, done or dropped in the last four quarters.", "note")]
    t = tr.set_index("party")
    get = (lambda p, k: int(t.at[p, k]) if p in t.index else 0)  # noqa: E731
    rows = [[para("", "head")] + [para(c.party(p), "headr") for p in parties]]
    for key, label in TRACK:
        cells = []
        for p in parties:
            n = get(p, key)
            extra = f" ({get(p, 'slip_days')} days)" if key == "slipped" and n else ""
            cells.append(para(f"{n}{extra}", "cellr"))
        rows.append([para(label, "cell")] + cells)
    w = L.content_width()
    table = L.table(rows, [30 * L.MM] + [22 * L.MM] * 3)
    chart = _track_chart(c, t, parties, w - 100 * L.MM)
    out.append(L.table([[table, chart]], [96 * L.MM, w - 96 * L.MM], header_rows=0, zebra=False,
                       extra=[("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    out.append(para("Made: commitments open at the quarter's end or due, done or dropped in the last four quarters. "
                    "Kept on time or late: done in that time, against the due date. Slipped: due later than first "
                    "agreed, with the days added up. Dropped: open in one review and gone from the next log.", "small"))
    return out


def _track_chart(c: _Ctx, t: pd.DataFrame, parties: tuple[str, ...], width: float):
    """Grouped horizontal bars (kept on time, kept late, slipped, dropped) per party, drawn as vectors."""
    from reportlab.graphics.shapes import Drawing, Rect, String

    keys = [("on_time", "on time", L.STATUS_COLOURS["green"]), ("late", "late", L.STATUS_COLOURS["amber"]),
            ("slipped", "slipped", "#8e5bb5"), ("dropped", "dropped", L.MUTED)]
    vals = {p: [int(t.at[p, k]) if p in t.index else 0 for k, _, _ in keys] for p in parties}
    if not any(any(v) for v in vals.values()):
        return para("None kept, slipped or dropped yet in these four quarters: every commitment made is still open.", "note")
    top = max(max(v) for v in vals.values())
    label_w, bar_h, gap = 34 * L.MM, 6.0, 7
    group_h = len(keys) * bar_h + gap
    height = len(parties) * group_h + 14
    d = Drawing(width, height)
    scale = (width - label_w - 16) / top
    for i, p in enumerate(parties):
        y0 = height - 14 - (i + 1) * group_h + gap
        name = c.party(p)
        d.add(String(0, y0 + len(keys) * bar_h / 2 - 3, name if len(name) <= 24 else name[:23] + "…",
                     fontName=L.FONT, fontSize=6.6, fillColor=L.color(L.INK)))
        for j, (k, _, colour) in enumerate(keys):
            y = y0 + (len(keys) - 1 - j) * bar_h
            n = vals[p][j]
            if n:  # a zero is no bar and no label: the table beside it holds every count
                d.add(Rect(label_w, y, n * scale, bar_h - 1.2, fillColor=L.color(colour), strokeColor=None))
                d.add(String(label_w + n * scale + 2, y + 0.6, str(n), fontName=L.FONT, fontSize=5.8,
                             fillColor=L.color(L.INK)))
    x = label_w
    for _, label, colour in keys:  # legend along the top
        d.add(Rect(x, height - 8, 6, 6, fillColor=L.color(colour), strokeColor=None))
        d.add(String(x + 8, height - 7.3, label, fontName=L.FONT, fontSize=6.6, fillColor=L.color(L.INK)))
        x += 10 + len(label) * 3.8 + 8
    return d


def _agenda(c: _Ctx) -> list:
    out = [L.heading("Agenda for the review meeting")]
    seen: dict[str, str] = {}
    subjects: set[str] = set()
    for f in c.view.flags.to_dict("records"):  # most severe first: one point per KPI or commitment
        item = str(f.get("agenda") or "").strip()
        subject = str(f.get("subject") or "").strip()
        if item and item not in seen and (not subject or subject not in subjects):
            seen[item] = c.party(f.get("whose_move"))
            subjects.add(subject)
    if not seen:
        return out + [para("Nothing flagged: a short review of the quarter and next quarter's plan.")]
    rows = [[para(h, "head") for h in ("#", "Discussion point", "Leads")]]
    rows += [[para(str(i), "cell"), para(item, "cell"), para(who, "cell")]
             for i, (item, who) in enumerate(seen.items(), start=1)]
    w = L.content_width()
    return out + [L.table(rows, [8 * L.MM, w - 50 * L.MM, 42 * L.MM])]


def _data_notes(c: _Ctx) -> list:
    v, w = c.view, L.content_width()
    out = [L.heading("Data notes"), L.heading("Sources", 2)]
    out += [para("• " + text(s, 300), "cell", markup=True) for s in v.sources] or [para("No source files recorded.", "note")]
    out += _reconciliation(c)
    out.append(L.heading("Where the two sides' figures differ", 2))
    kq = v.kpi_quarterly
    q_labels = {q.label for q in v.quarters}
    tol = float(v.config["kpi.discrepancy_tolerance"])
    both = kq[kq["quarter"].isin(q_labels) & kq["discrepancy"].notna()]
    conflict = kq["conflict"].fillna(False).astype(bool)
    disc = kq[kq["quarter"].isin(q_labels) & ((kq["discrepancy"] > tol) | conflict)]
    agreed = len(both) - int((both["discrepancy"] > tol).sum())
    out.append(para((f"Differences over {tol:.0%} between our figure and the partner's, and any source that reported "
                     "two values for the same quarter. " if not disc.empty else "No difference over "
                     f"{tol:.0%} between the two sides' figures. ") +
                    (f"In {agreed} other KPI-quarters both sides reported figures within {tol:.0%} of each other."
                     if agreed else ""), "cell"))
    if not disc.empty:
        rows = [[para(h, "head" if i < 2 else "headr") for i, h in enumerate(
            ("KPI", "Quarter", "Internal", "Partner", "Difference", "Used"))]]
        for r in disc.sort_values(["kpi_id", "qindex"]).to_dict("records"):
            rows.append([para(c.subject(r["kpi_id"]), "cell"), para(r["quarter"], "cell"),
                         para(c.value(r["kpi_id"], r["internal"]), "cellr"), para(c.value(r["kpi_id"], r["partner"]), "cellr"),
                         para(fmt_pct(r["discrepancy"], 1) + (" · conflict" if _true(r.get("conflict")) else ""), "cellr"),
                         para(str(r.get("actual_source") or "—"), "cellr")])
        out.append(L.table(rows, [w - 120 * L.MM, 20 * L.MM, 25 * L.MM, 25 * L.MM, 28 * L.MM, 22 * L.MM]))
    out.append(L.heading("Rows excluded from this review", 2))
    if not v.problems:
        out.append(para("No rows were excluded.", "cell"))
    else:
        rows = [[para(h, "head") for h in ("Where (file › sheet › cell)", "What was wrong", "How to fix it")]]
        rows += [[para(p.where or "—", "cell", limit=200), para(p.message, "cell"), para(p.fix, "cell")]
                 for p in v.problems]
        out.append(L.table(rows, [55 * L.MM, (w - 55 * L.MM) * 0.55, (w - 55 * L.MM) * 0.45]))
    return out


def _reconciliation(c: _Ctx) -> list:
    """The reconciliation statement: for each KPI where our figure and the partner's differ this quarter,
    both figures, the gap, the cell each came from (this partner's own rows only) and since when."""
    rs = c.view.extras.get("disagreements")
    tol = float(c.view.config["kpi.discrepancy_tolerance"])
    out = [L.heading(f"Reconciliation statement, {c.q}", 2)]
    if rs is None or not len(rs):
        cur = _current(c.view)
        both = int((cur["internal"].notna() & cur["partner"].notna()).sum())
        return out + [para(f"Both sides reported {both} KPI{'s' if both != 1 else ''} for {c.q}; the figures agree "
                           f"within {tol:.0%}." if both else f"Only one side reported each KPI for {c.q}, so there are "
                           "no two figures to reconcile.", "cell")]
    out.append(para(f"Our figure and {c.partner}'s differ by more than {tol:.0%} for these KPIs. Both are shown with "
                    "the file, sheet and cell each came from, so the two sides can check the same cells.", "cell"))
    rows = [[para(h, "head") for h in ("KPI", f"Our figure ({c.us})", f"{c.partner}'s figure", "Gap", "Differ since")]]
    for r in rs.to_dict("records"):
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
        rows.append([para(c.subject(kid), "cellb"), para(ours, "cell", markup=True), para(theirs, "cell", markup=True),
                     para(gap_s, "cell", markup=True),
                     para(since, "cell")])
    w = L.content_width()
    out.append(L.table(rows, [32 * L.MM, (w - 92 * L.MM) / 2, (w - 92 * L.MM) / 2, 30 * L.MM, 30 * L.MM]))
    return out


def _health_method(c: _Ctx) -> list:
    v, w = c.view, L.content_width()
    green, amber = v.config["health.green"], v.config["health.amber"]
    out = [L.heading("How the health score is computed"),
           para(f"The score adds up the points below, out of 100. {green} or more is green, {amber} to {green - 1} amber, "
                f"under {amber} red. Each component's share is set in the configuration.", "cell")]
    bd = v.health_breakdown
    rows = [[para(h, "head" if i in (0, 4) else "headr") for i, h in enumerate(("Component", "Share", "Points", "Out of", "How"))]]
    for r in bd.to_dict("records"):
        rows.append([para(COMPONENTS.get(r["component"], r["component"]), "cell"), para(fmt_pct(r["weight"]), "cellr"),
                     para("—" if is_missing(r["points"]) else f"{int(round(float(r['points'])))}", "cellr"),
                     para("—" if is_missing(r["max_points"]) else f"{float(r['max_points']):.0f}", "cellr"),
                     para(r.get("detail"), "cell")])
    total = "—" if is_missing(v.health.get("score")) else str(int(v.health["score"]))
    rows.append([para("Health score", "cellb"), para("", "cell"), para(total, "cellr"), para("100", "cellr"),
                 para(f"{HEALTH_WORDS.get(str(v.health.get('status')), '')} ({v.health.get('status') or 'n/a'})", "cell")])
    out.append(L.table(rows, [38 * L.MM, 16 * L.MM, 16 * L.MM, 16 * L.MM, w - 86 * L.MM],
                       extra=[("LINEABOVE", (0, -1), (-1, -1), 0.8, L.color(L.ACCENT)),
                              ("FONT", (0, -1), (-1, -1), L.FONT_BOLD, 7.8)]))
    return out
