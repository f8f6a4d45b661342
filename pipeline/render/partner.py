"""The partner review PDF: one partner's quarter, rendered only from its `PartnerView`.

Sections (spec review.md): the first page (who, when, health, summary, top gaps, what changed), flagged
gaps, KPI scorecard, trend charts, commitments and delivery, agenda, data notes, and how the health score
is computed. Each section is one function returning flowables. ``internal_note`` is never read here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.analyse.findings import QUIET_AGENDA
from pipeline.render import layout as L
from pipeline.render.commitments import commitments, next_quarter
from pipeline.render.context import KPI_STATUS, Ctx, true
from pipeline.render.explain import data_notes, health_method
from pipeline.render.front import first_page, tone_cell
from pipeline.render.identity import review_keywords
from pipeline.render.layout import fmt_attainment, is_missing, para, text

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.core.frames import PartnerView

SECTION_TITLES = ("What changed since last quarter", "Flagged gaps", "KPI scorecard", "Trend charts", "Commitments",
                  "Next quarter", "How you rated the partnership", "Agenda for the review meeting", "Data notes",
                  "How the health score is computed")
PULSE_QUARTERS = 4   # quarters of ratings shown side by side
CHARTS_PER_ROW = 3   # the trend charts' small multiples


def partner_pdf(view: PartnerView, charts: dict[str, bytes], fingerprint: str = "") -> bytes:
    """The partner review as PDF bytes. Its metadata names the partner, the quarter and `fingerprint` (what
    the review says, `pipeline.write.cache.review_identities`): the identity the sender checks before attaching
    it. Every section's heading is a bookmark of the PDF's outline; the document's language is English."""
    c = Ctx(view)
    story: list = []
    story += first_page(c)
    story += _changes(c)   # sections flow on, each heading kept with what follows it: no page left a third empty
    story += _gaps(c)
    story += _scorecard(c)
    story += _trends(c, charts)
    story += commitments(c)
    story += next_quarter(c)
    story += _pulse(c)
    story += _agenda(c)
    story += data_notes(c)
    story += health_method(c)
    paused = " (paused)" if c.paused else ""
    page = L.Page(header_left=f"{c.partner} · {c.q} partner review{paused} · prepared for {c.lead}",
                  header_right=f"prepared by {c.us}" if c.us else "", watermark=str(view.config.org.watermark or ""))
    return L.build(story, page, title=f"{c.partner} — {c.q} partner review", author=c.us, as_of=view.as_of,
                   subject=f"Quarterly partner review {c.q}: {c.partner}" + (f", prepared by {c.us}" if c.us else ""),
                   keywords=review_keywords(str(view.partner["partner_id"]), c.q, fingerprint), lang="en")


def _changes(c: Ctx) -> list:
    from reportlab.platypus import KeepTogether

    out = [L.heading("What changed since last quarter", outline=True)]
    changes = [s for s in c.view.changes if s]
    return [KeepTogether(out + ([para("• " + text(s, 600), markup=True) for s in changes] or
                                [para("This is the first quarter reviewed with this tool, so there is no earlier "
                                      "review to compare with.", "note")]))]


# ------------------------------------------------------------------------------------------- sections
def _gaps(c: Ctx) -> list:
    """The findings theme by theme, most important theme first: one row per subject with everything flagged on
    it. Nothing flagged: no section (the summary says so, once)."""
    if not c.findings:
        return []
    from reportlab.platypus import CondPageBreak

    # a new page unless a few of its rows fit under the heading: never a heading and one row at a page foot
    out = [CondPageBreak(60 * L.MM), L.heading("Flagged gaps", outline=True)]
    n, t = len(c.findings), len(c.themes)
    out.append(para(f"{n} gap{'s' * (n != 1)} in {t} theme{'s' * (t != 1)}, the most important first; each gap is one "
                    "KPI or commitment with everything flagged on it.", "small"))
    w = L.content_width()
    rows: list[list[Any]] = [[L.cell(h, "head") for h in ("#", "Severity", "Gap and evidence", "Next step with")]]
    extra: list[tuple] = []
    by_theme: dict[str, list[dict[str, Any]]] = {}
    for f in c.findings:
        by_theme.setdefault(str(f["theme"]), []).append(f)
    i = 0
    for th in c.themes:
        found = by_theme.get(str(th["theme"]), [])
        row = len(rows)
        rows.append([para(f'<b>{text(th["title"])}</b> <font color="{L.MUTED}">· {len(found)} '
                          f'gap{"s" * (len(found) != 1)} · next step with: {text(c.party(th["whose_move"]).lower())}</font>',
                          "cell", markup=True), "", "", ""])
        extra += [("SPAN", (0, row), (-1, row)), ("BACKGROUND", (0, row), (-1, row), L.color(L.HEAD_BG))]
        for f in found:
            i += 1
            rows.append([L.cell(str(i), "cell"), L.cell(str(f["severity"]).capitalize(), "cellb"),
                         para(f"<b>{text(f['title'], 200)}</b><br/>{text(f['detail'])}", "cell", markup=True),
                         L.cell(c.party(f["whose_move"]), "cell")])
            extra.append(("BACKGROUND", (1, len(rows) - 1), (1, len(rows) - 1),
                          L.color(L.SEVERITY_TINTS.get(f["severity"], L.ZEBRA))))
    return out + [L.table(rows, [8 * L.MM, 18 * L.MM, w - 50 * L.MM, 24 * L.MM], extra=extra, zebra=False)]


def _scorecard(c: Ctx) -> list:
    out = [L.heading("KPI scorecard", outline=True)]
    cur = {r["kpi_id"]: r for r in c.current}  # the last row wins, as before
    w = L.content_width()
    heads = ("KPI", "Target", "Actual", "Attainment", "vs last quarter", "vs a year ago", "Status")
    rows = [[L.cell(h, "head" if i in (0, 6) else "headr") for i, h in enumerate(heads)]]
    extra = []
    for i, (kid, k) in enumerate(c.kpi.items(), start=1):
        r = cur.get(kid, {})
        g = r.get
        hint = "lower is better" if k.get("direction") == "lower" else ""
        name = (f"<b>{text(k.get('kpi_name') or kid, 200)}</b>"
                + (f'<br/><font size="6.5" color="{L.MUTED}">{hint}</font>' if hint else ""))
        name_cell = para(name, "cell", markup=True) if hint else L.cell(k.get("kpi_name") or kid, "cellb", limit=200)
        actual = f"<b>{c.value(kid, g('actual'))}</b>"
        actual_cell = None  # bold alone: a plain cell in the bold style draws the same
        both = not is_missing(g("internal")) and not is_missing(g("partner"))
        if both:
            src = str(g("actual_source") or "")
            mark = {s: " (used)" if src == s else "" for s in ("internal", "partner")}
            actual += (f'<br/><font size="6.5" color="{L.MUTED}">ours {c.value(kid, g("internal"))}{mark["internal"]}'
                       f'<br/>yours {c.value(kid, g("partner"))}{mark["partner"]}</font>')
        elif not is_missing(g("actual")) and g("actual_source") == "partner":
            actual += f'<br/><font size="6.5" color="{L.MUTED}">your figure</font>'
        else:
            actual_cell = L.cell(c.value(kid, g("actual")), "cellrb")
        label, tone = KPI_STATUS.get(str(g("status") or "missing"), (str(g("status")), "none"))
        if c.paused:  # not held against its target while paused: no band, untinted
            label, tone = "For reference", "none"
        rows.append([name_cell, L.cell(c.value(kid, g("target")), "cellr"),
                     actual_cell or para(actual, "cellr", markup=True),
                     L.cell(fmt_attainment(g("attainment"), c.view.thresholds.edges), "cellr"),
                     tone_cell(g("qoq_shown"), true(g("change_in_points")), str(g("qoq_tone") or "")),
                     tone_cell(g("yoy_shown"), true(g("change_in_points")), str(g("yoy_tone") or "")),
                     L.cell(label, "cellb")])
        extra.append(("BACKGROUND", (6, i), (6, i), L.color(L.STATUS_TINTS[tone])))
    col = (w - 46 * L.MM - 34 * L.MM) / 5
    out.append(L.table(rows, [46 * L.MM, col, 34 * L.MM, col, col, col, col], extra=extra))
    out.append(para("Attainment is actual against target (target against actual where lower is better). Where we and "
                    "you both reported a figure both are shown; “(used)” marks the one that drives attainment. "
                    "Changes compare with the previous quarter and the same quarter a year ago: in percentage points "
                    "(pts) for rates and in points for scores, in percent otherwise; green is better and red (bold) is "
                    "worse, whichever way the KPI should move."
                    + (" While the partnership is paused, the status is shown for reference only." if c.paused else ""),
                    "small"))
    return out


def _trends(c: Ctx, charts: dict[str, bytes]) -> list:
    from reportlab.platypus import KeepTogether

    from pipeline.chart.charts import HEIGHT_IN, WIDTH_IN

    out = [L.heading("Trend charts", outline=True),
           para(f"Each KPI over the last {len(c.view.quarters)} quarters. Solid line with dots: actual; dashed line "
                "with squares: target; dotted line with triangles: your figure where it is not the one used. A gap "
                "in a line is a quarter with no figure (never a zero). The shaded column is this quarter.",
                "small")]
    pngs = [charts[k] for k in c.kpi if k in charts]
    if not pngs:
        return out + [para("No KPI has figures to chart.", "note")]
    w, per_row = L.content_width(), CHARTS_PER_ROW
    cw = (w - 2 * L.MM * (per_row - 1)) / per_row
    ch = cw * HEIGHT_IN / WIDTH_IN
    imgs = [L.image(p, cw, ch) for p in pngs]
    grid = [imgs[i:i + per_row] + [""] * (per_row - len(imgs[i:i + per_row])) for i in range(0, len(imgs), per_row)]
    style = [("LINEBELOW", (0, 0), (-1, -1), 0, L.color("#ffffff")), ("LEFTPADDING", (0, 0), (-1, -1), 0),
             ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]
    widths = [cw + 2 * L.MM] * (per_row - 1) + [cw]
    # small multiples: up to six KPIs (two rows of three) kept on one page with their heading; more flow on
    first, rest = grid[:2], grid[2:]
    block = out + [L.table(first, widths, header_rows=0, zebra=False, extra=style)]
    return [KeepTogether(block)] + ([L.table(rest, widths, header_rows=0, zebra=False, extra=style)] if rest else [])


def _pulse(c: Ctx) -> list:
    """Their view beside ours: each question's score this quarter and in the quarters before, and their
    comments as typed. Before any rating: one sentence on the data request that asks."""
    v, w = c.view, L.content_width()
    out = [L.heading("How you rated the partnership", outline=True)]
    pulse = v.pulse
    if pulse is None or not len(pulse) or pulse["score"].notna().sum() == 0:
        return out + [para(f"We have no rating from {c.partner} yet. The data request attached to this review asks "
                           "five short questions on how the partnership is working for you, each scored 1 to 5; "
                           "your answers will stand here, beside our health score, next quarter.", "cell")]
    if v.pulse_sentence:
        out.append(para(v.pulse_sentence, "cell"))
    else:
        out.append(para(f"{c.partner} did not rate the partnership for {c.q}; earlier ratings are shown.", "cell"))
    quarters = sorted(set(zip(pulse["qindex"], pulse["quarter"])))[-PULSE_QUARTERS:]
    head = [L.cell("Question", "head")] + [L.cell(str(label), "headr") for _i, label in quarters] + \
        [L.cell(f"Comment, {quarters[-1][1]}", "head")]
    rows = [head]
    last = quarters[-1][0]
    for qid, group in pulse.groupby("question_id", sort=False):
        by_q = {int(i): s for i, s in zip(group["qindex"], group["score"])}
        question = next((str(t) for t in reversed(list(group["question"])) if str(t).strip()), str(qid))
        comment = next((str(t) for i, t in zip(group["qindex"], group["comment"]) if int(i) == last and str(t).strip()), "")
        rows.append([L.cell(question, "cell")] +
                    [L.cell("—" if is_missing(by_q.get(int(i))) else f"{by_q[int(i)]:.0f}", "cellr") for i, _l in quarters] +
                    [L.cell(comment or "—", "cell")])
    n = len(quarters)
    rest = w - n * 18 * L.MM
    out.append(L.table(rows, [rest * 0.5] + [18 * L.MM] * n + [rest * 0.5]))
    out.append(para("Scores from 1 (poor) to 5 (excellent), as you gave them in your data request; a dash is a "
                    "question not answered. Comments are shown as you typed them.", "small"))
    return out


def _agenda(c: Ctx) -> list:
    """One line per theme, most important first, with whose move it is (the analysis's `PartnerView.agenda`)."""
    out = [L.heading("Agenda for the review meeting", outline=True)]
    lines = c.view.agenda or [(QUIET_AGENDA, "joint")]
    rows = [[L.cell(h, "head") for h in ("#", "Discussion point", "Leads")]]
    rows += [[L.cell(str(i), "cell"), L.cell(item, "cell"), L.cell(c.party(who), "cell")]
             for i, (item, who) in enumerate(lines, start=1)]
    w = L.content_width()
    return out + [L.table(rows, [8 * L.MM, w - 50 * L.MM, 42 * L.MM])]
