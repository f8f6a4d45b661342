"""The PDFs, tested by what a reader gets: the text pypdf extracts, the fonts the file embeds, the size."""
from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

import render_fixtures as F
from pipeline.analyse.programme import programme
from pipeline.analyse.summary import NOTHING_FLAGGED, summary_sentences
from pipeline.chart.charts import partner_charts
from pipeline.render import partner_pdf, portfolio_pdf
from pipeline.render.layout import TRUNCATED
from pipeline.render.partner import SECTION_TITLES
from pipeline.render.portfolio import SECTION_TITLES as PORTFOLIO_TITLES

MB = 1024 * 1024
AS_OF = dt.date(2026, 10, 2)


def _flat(s: str) -> str:
    return " ".join(s.split())


def _text(pdf: bytes) -> tuple[list[str], str]:
    pages = [p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages]
    return pages, _flat(" ".join(pages))


@pytest.fixture(scope="module")
def view():
    return F.partner_view(watermark="SAMPLE DATA")


@pytest.fixture(scope="module")
def charts(view):
    return partner_charts(view)


@pytest.fixture(scope="module")
def pdf(view, charts):
    return partner_pdf(view, charts)


@pytest.fixture(scope="module")
def portfolio():
    return portfolio_pdf(F.analysis())


def test_partner_sections_and_first_page(pdf, view):
    pages, text = _text(pdf)
    for title in SECTION_TITLES:
        assert title in text, title
    first = _flat(pages[0])
    assert F.GREEK in first
    assert view.partner["partner_lead"] in first and "Northwind Partners Inc." in first
    assert f"{view.health['score']} / 100" in first
    assert _flat(view.story.verdict) in first  # page 1 tells the story; what changed follows it
    assert text.index(_flat(view.story.verdict)) < text.index("What changed since last quarter")
    for change in view.changes:
        assert _flat(change) in text


def test_partner_typed_text_literal_and_scripts(pdf):
    _, text = _text(pdf)
    assert "R&D <urgent>: agree the joint go-to-market plan" in text
    assert "R&amp;D" not in text and "&lt;" not in text
    assert "Σοφία Νικολάου" in text and "Иван Петров" in text


def test_cyrillic_partner_name_comes_out():
    v = F.partner_view(1)
    _, text = _text(partner_pdf(v, {}))
    assert F.CYRILLIC in text


def test_page_numbers_and_running_header(pdf, view):
    pages, _ = _text(pdf)
    n = len(pages)
    assert n >= 3
    for i, page in enumerate(pages, start=1):
        page = _flat(page)
        assert f"Page {i} of {n}" in page
        assert f"prepared for {view.partner['partner_lead']}" in page and "2026-Q2" in page


def test_flags_most_severe_first(pdf, view):
    """Theme by theme, the theme with the most severe gap first; most severe first within each theme."""
    _, text = _text(pdf)
    gaps = text[text.index("Flagged gaps"):text.index("KPI scorecard")]
    titles = list(view.themes["title"])
    starts = [gaps.index(f"{t} · ") for t in titles]
    assert starts == sorted(starts) and len(titles) > 1
    rank = {"High": 0, "Medium": 1, "Low": 2}
    worst = []
    for a, b in zip(starts, starts[1:] + [len(gaps)]):
        block = gaps[a:b]
        found = sorted((i, sev) for sev in rank for i in range(len(block)) if block.startswith(f" {sev} ", i))
        ranks = [rank[sev] for _, sev in found]
        assert ranks and ranks == sorted(ranks), block
        worst.append(ranks[0])
    assert worst == sorted(worst)


def test_scorecard_shows_both_sources_and_which_drives(pdf):
    _, text = _text(pdf)
    card = text[text.index("KPI scorecard"):text.index("Trend charts")]
    assert "ours" in card and "(used)" in card and "yours USD" in card  # our figure and yours, named so


def _fonts(pdf: bytes) -> list[dict]:
    fonts = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            desc = font.get("/FontDescriptor")
            if desc is None and "/DescendantFonts" in font:
                desc = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
            fonts.append({"name": str(font["/BaseFont"]), "embedded": desc is not None and "/FontFile2" in desc.get_object()})
    return fonts


@pytest.mark.parametrize("which", ["pdf", "portfolio"])
def test_every_font_embedded_none_helvetica(which, request):
    data = request.getfixturevalue(which)
    fonts = _fonts(data)
    assert fonts
    assert all(f["embedded"] for f in fonts), fonts
    assert not any("Helvetica" in f["name"] for f in fonts)
    assert all("DejaVuSans" in f["name"] for f in fonts)


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler not installed")
def test_pdffonts_agrees(pdf, tmp_path):
    path = tmp_path / "p.pdf"
    path.write_bytes(pdf)
    lines = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    assert lines and all(line.split()[-5] == "yes" for line in lines), lines


def test_partner_pdf_small(pdf):
    assert len(pdf) < MB


def test_watermark_only_when_configured(pdf):
    assert "SAMPLE DATA" in _text(pdf)[1]
    assert "SAMPLE DATA" not in _text(partner_pdf(F.partner_view(), {}))[1]


def test_no_internal_note_even_if_the_frame_had_one(view, charts):
    leaky = F.partner_view()
    leaky.commitments = leaky.commitments.assign(internal_note="INTERNAL-ONLY secret")
    assert "INTERNAL-ONLY" not in _text(partner_pdf(leaky, charts))[1]


def test_huge_description_and_200_commitments(pdf, charts):
    normal = len(PdfReader(io.BytesIO(pdf)).pages)
    big = partner_pdf(F.partner_view(n_commitments=200, description="Lorem ipsum dolor " * 1112), charts)
    pages, text = _text(big)
    assert len(pages) >= normal + 8            # 200 rows need many more pages...
    assert len(pages) <= normal + 40           # ...but not one per row
    assert _flat(TRUNCATED) in text
    assert "P-GR-C200" in text
    assert len(big) < MB
    # the table header repeats on every page the commitment list spans
    assert sum("Ref Commitment Owner Due State" in _flat(p) for p in pages) >= 6


def test_unbreakable_word_and_markup_in_names():
    v = F.partner_view(3, description="x" * 20_000)
    _, text = _text(partner_pdf(v, {}))
    assert "Acme Data & Cloud <Ltd>" in text


def test_portfolio_ranks_every_partner(portfolio):
    a = F.analysis()
    pages, text = _text(portfolio)
    for title in PORTFOLIO_TITLES:
        assert title in text
    names = dict(zip(a.reconciled.partners["partner_id"], a.reconciled.partners["partner_name"]))
    ranked = a.health.sort_values("score", ascending=False)["partner_id"].map(names).tolist()
    section = text[text.index("Partners ranked by health"):text.index("KPI attainment heat map")]
    positions = [section.index(n) for n in ranked]
    assert positions == sorted(positions)
    assert "Page 1 of" in _flat(pages[0])


def test_portfolio_heat_map_prints_numbers(portfolio):
    from pipeline.render import layout as L

    a = F.analysis()
    _, text = _text(portfolio)
    heat = text[text.index("KPI attainment heat map"):text.index("Flags by code and partner")]
    cur = a.kpi_quarterly[a.kpi_quarterly["quarter"] == a.quarter.label]
    for att in cur["attainment"].dropna().head(8):
        assert L.fmt_attainment(att, a.thresholds.edges) in heat


def test_portfolio_flag_counts(portfolio):
    a = F.analysis()
    _, text = _text(portfolio)
    matrix = text[text.index("Flags by code and partner"):text.index("Our accountability")]
    assert "All partners" in matrix
    assert str(len(a.flags)) in matrix.split("All partners")[1].split()[:20]


def test_portfolio_small_with_many_partners():
    a = F.analysis()
    many = [a.health.assign(partner_id=a.health["partner_id"] + f"-{i}") for i in range(30)]
    a.health = pd.concat(many, ignore_index=True)
    data = portfolio_pdf(a)
    assert len(PdfReader(io.BytesIO(data)).pages) >= 2 and len(data) < MB


def test_twelve_kpis_stay_under_a_megabyte():
    v = F.partner_view(2, n_kpis=12, n_commitments=40)
    charts = partner_charts(v)
    assert len(charts) == 12
    data = partner_pdf(v, charts)
    assert len(data) < MB
    _, text = _text(data)
    assert "Days to first value (region 8)" in text


def test_a_partner_with_nothing_yet_still_gets_a_review():
    from pipeline.core.frames import PartnerView, empty_analysis_frame, empty_frame

    v = PartnerView(quarter=F.QUARTER, quarters=F.WINDOW, partner={"partner_id": "P-NEW", "partner_name": "Newcomer"},
                    organisation="Northwind Partners Inc.", kpis=empty_frame("kpis"),
                    kpi_quarterly=empty_analysis_frame("kpi_quarterly").assign(beyond_tolerance=pd.Series(dtype=bool)),
                    commitments=empty_analysis_frame("commitment_status"), delivery=empty_analysis_frame("delivery"),
                    flags=empty_analysis_frame("flags"), health={}, health_breakdown=empty_analysis_frame("health_breakdown"),
                    checkins=empty_frame("checkins"), problems=[], sources=[])
    v.summary = summary_sentences(v)  # as `partner_view` writes it
    pages, text = _text(partner_pdf(v, {}))
    assert "Newcomer" in text and f"Page 1 of {len(pages)}" in text
    assert text.count(NOTHING_FLAGGED) == 1 and "No gaps" not in text  # said once, in the summary


def test_portfolio_without_flags_or_history():
    a = F.analysis()
    a.flags = a.flags.iloc[0:0]
    a.health = a.health.assign(previous_score=float("nan"))
    a.kpi_quarterly = a.kpi_quarterly[a.kpi_quarterly["quarter"] == a.quarter.label]
    a.programme = programme(a, None)  # the analysis decides again over the frames changed here
    _, text = _text(portfolio_pdf(a))
    assert "No flags this quarter." in text and "No partner's health score or band moved since last quarter" in text
    assert F.GREEK in text


# ------------------------------------------------------------------ cheap cells look like paragraphs
CELL_STYLES = ("cell", "cellr", "cellc", "cellb", "head", "headr", "label", "value")


def _table_pdf(make_cell, valign: str) -> bytes:
    from pipeline.render import layout as L

    words = [F.TYPED, "12.5%", "▲ 3.1%", F.GREEK, "—", "31 Mar 2026"]
    rows = [[make_cell(w, s) for s in CELL_STYLES[:4]] for w in words]
    rows.insert(0, [make_cell(h, s) for h, s in zip(("Ref", "Owner", "Due", "State"), CELL_STYLES[4:])])
    rows.append([make_cell("A long commitment text that cannot fit on one line of this narrow column, " * 3, "cell"),
                 make_cell("x", "cellr"), make_cell("", "cell"), make_cell("two\nlines", "cellb")])
    t = L.table(rows, [40 * L.MM, 30 * L.MM, 30 * L.MM, 30 * L.MM],
                extra=[("VALIGN", (0, 1), (-1, -1), valign), ("FONT", (0, -1), (-1, -1), L.FONT_BOLD, 9)])
    return L.build([t], L.Page("h", "r"), title="t", author="a", as_of=AS_OF)


def _png(pdf: bytes, tmp_path, name: str) -> bytes:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "110", "-f", "1", "-l", "1", "-png", str(path), str(tmp_path / name)], check=True)
    return next(tmp_path.glob(f"{name}-*.png")).read_bytes()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler not installed")
@pytest.mark.parametrize("valign", ["TOP", "MIDDLE", "BOTTOM"])
def test_plain_cells_render_exactly_like_paragraphs(valign, tmp_path):
    from pipeline.render.layout import cell, para

    as_para = _table_pdf(lambda v, s: para(v, s), valign)
    as_cell = _table_pdf(lambda v, s: cell(v, s), valign)
    assert _png(as_para, tmp_path, "para") == _png(as_cell, tmp_path, "cell")
    text = _text(as_cell)[1]
    assert F.TYPED in text and "&lt;" not in text and "narrow column," in text


def test_plain_cells_become_strings_only_when_they_fit():
    from reportlab.platypus import Paragraph

    from pipeline.render import layout as L

    short, long_, typed = L.cell("31 Mar 2026", "cellr"), L.cell("word " * 40, "cell"), L.cell(F.TYPED, "cellb")
    t = L.table([[short, long_, typed], [L.cell("a\nb"), L.cell(""), L.cell(float("nan"))]], [30 * L.MM] * 3)
    row, row2 = t._cellvalues
    assert row[0] == "31 Mar 2026" and row[2] == F.TYPED  # typed text drawn as typed, never escaped
    assert isinstance(row[1], Paragraph) and isinstance(row2[0], Paragraph) and isinstance(row2[1], Paragraph)
    assert row2[2] == "" or isinstance(row2[2], Paragraph)
    styles = t._cellStyles
    assert styles[0][0].alignment == "RIGHT" and styles[0][0].fontname == L.FONT
    assert styles[0][2].fontname == L.FONT_BOLD and styles[0][2].leading == L.styles()["cellb"].leading


def test_records_match_pandas_and_turn_na_into_none(view):
    from pipeline.render.layout import records

    for frame in (view.kpi_quarterly, view.commitments, view.flags, view.kpis):
        fast, slow = records(frame), frame.to_dict("records")
        assert len(fast) == len(slow) and [list(r) for r in fast] == [list(r) for r in slow]
        for a, b in zip(fast, slow):
            for k in a:
                assert (pd.isna(a[k]) and pd.isna(b[k])) or a[k] == b[k], (k, a[k], b[k])
    nullable = pd.DataFrame({"on_time": pd.array([True, None], dtype="boolean"), "n": [1, 2]})
    assert records(nullable) == [{"on_time": True, "n": 1}, {"on_time": None, "n": 2}]


def test_track_record_is_a_compact_table_not_a_chart_of_counts():
    """Issue 15: one row per party (us, you, both of us) with its counts and on-time rate; no bar chart."""
    from reportlab.graphics.shapes import Drawing

    from pipeline.render.context import Ctx
    from pipeline.render.explain import track_record

    v = F.partner_view()
    v.track_record = pd.DataFrame([dict(partner_id="P-GR", party=p, made=m, on_time=o, late=la, slipped=sl,
                                        slip_days=sd, dropped=0, open=0)
                                   for p, m, o, la, sl, sd in (("us", 3, 2, 1, 0, 0), ("partner", 2, 0, 0, 1, 30),
                                                               ("joint", 1, 1, 0, 0, 0))])
    flow = track_record(Ctx(v))
    assert not any(isinstance(f, Drawing) for f in flow)
    tables = [f for f in flow if hasattr(f, "_cellvalues")]
    assert len(tables) == 1
    rows = [[str(getattr(c, "text", c)) for c in row] for row in tables[0]._cellvalues]
    assert [r[0] for r in rows[1:]] == ["Us", "You", "Both of us"]
    assert rows[0][-1] == "On-time rate"
    assert rows[1][-1] == "67%" and rows[2][4] == "1 (30 days)" and rows[2][-1] == "—"


# ------------------------------------------------------------------ charts embedded without decoding
def _pil_png(mode: str, **save) -> bytes:
    import numpy as np
    from PIL import Image

    rgb = np.zeros((37, 53, 3), dtype=np.uint8)
    rgb[..., 0] = np.arange(53) * 4
    rgb[..., 1] = np.arange(37)[:, None] * 6
    rgb[10:20, 5:40] = (29, 78, 137)
    img = Image.fromarray(rgb)
    img = img.quantize(colors=64) if mode == "P" else img.convert(mode)  # 64 colours: 8 bits a pixel
    buf = io.BytesIO()
    img.save(buf, format="png", **save)
    return buf.getvalue()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler not installed")
@pytest.mark.parametrize("mode", ["P", "RGB", "L"])
def test_png_passthrough_draws_the_same_pixels(mode, tmp_path, charts):
    from reportlab.platypus import Image

    from pipeline.render import layout as L
    from pipeline.compat.reportlab_png import parse

    pngs = [_pil_png(mode), next(iter(charts.values()))]
    assert all(parse(p) is not None for p in pngs)
    ours = [L.image(p, 60 * L.MM, 40 * L.MM) for p in pngs]
    theirs = [Image(io.BytesIO(p), width=60 * L.MM, height=40 * L.MM) for p in pngs]
    assert not any(isinstance(f, Image) for f in ours)
    a = L.build(ours, L.Page("h", "r"), title="t", author="a", as_of=AS_OF)
    b = L.build(theirs, L.Page("h", "r"), title="t", author="a", as_of=AS_OF)
    assert _png(a, tmp_path, "ours") == _png(b, tmp_path, "theirs")
    assert len(a) < len(b)


def test_png_passthrough_leaves_what_it_cannot_take_to_reportlab():
    from reportlab.platypus import Image

    from pipeline.render import layout as L
    from pipeline.compat.reportlab_png import parse

    transparent = _pil_png("P", transparency=0)
    import struct
    import zlib

    rgb = _pil_png("RGB")  # PIL cannot write Adam7: set the IHDR's interlace byte and its checksum by hand
    ihdr = rgb[12:28] + b"\x01"
    interlaced = rgb[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + rgb[33:]
    alpha = _pil_png("RGBA")
    good = _pil_png("P")
    at = good.index(b"IDAT") + 20
    damaged = good[:at] + bytes(b ^ 0xFF for b in good[at:at + 8]) + good[at + 8:]
    for png in (transparent, interlaced, alpha, damaged, b"not a png", good[:40]):
        assert parse(png) is None
    for png in (transparent, interlaced, alpha):
        assert isinstance(L.image(png, 20, 20), Image)
    for png in (transparent, alpha):  # and reportlab draws them (the hand-made interlaced one is not a real one)
        pdf = L.build([L.image(png, 20, 20), L.para("after the image")], L.Page("h", "r"), title="t", author="a", as_of=AS_OF)
        assert "after the image" in _text(pdf)[1]


# ------------------------------------------------------------------ the faster paths draw what reportlab would
MARKUPS = [
    "Plain words", "  spaces   collapse\tand\nlines join  ", "non\xa0breaking space", "R&amp;D &lt;urgent&gt;",
    F.GREEK, "<b>Gap title</b> (high) — the message <font color=\"#5f6b7a\">Next move: Ελλάδα</font>",
    "<b>A</b><br/>B", "<b>Done</b>", "<b>Overdue</b><br/>12 days; 40% complete", "<i>x</i> y <i>z</i>",
    "<b>KPI</b><br/><font size=\"6.5\" color=\"#5f6b7a\">lower is better</font>", "text<br/>", "<br/>lead",
    "<b>  </b>x", "• A source file.xlsx", "x", "<b>x</b><br/>x y",
]


def _frag_dicts(p) -> list[dict]:
    return [dict(f.__dict__) for f in p.frags]


@pytest.mark.parametrize("style", ["body", "cell", "cellr", "h2"])
def test_paragraph_shapes_give_what_reportlabs_parser_gives(style):
    from reportlab.platypus import Paragraph

    from pipeline.render import layout as L
    from pipeline.compat.reportlab_flow import paragraph

    st = L.styles()[style]
    for _ in range(2):  # the second round reuses every shape parsed in the first
        for m in MARKUPS:
            ours, theirs = paragraph(m, st), Paragraph(m, st)
            assert _frag_dicts(ours) == _frag_dicts(theirs), m
            assert ours.text == theirs.text and ours.wrap(80, 500) == theirs.wrap(80, 500), m
    a, b = paragraph("<b>first</b><br/>one", st), paragraph("<b>second</b><br/>two", st)  # one shape, own texts
    assert [f.text for f in a.frags] == ["first", "", "one"] and [f.text for f in b.frags] == ["second", "", "two"]


def test_paragraph_rewraps_when_the_width_changes():
    from reportlab.platypus import Paragraph

    from pipeline.render import layout as L
    from pipeline.compat.reportlab_flow import paragraph

    text, st = "word " * 60, L.styles()["cell"]
    p = paragraph(text, st)
    for width in (90, 90, 200, 90, 3):
        assert p.wrap(width, 1000) == Paragraph(text, st).wrap(width, 1000)
    p.wrap(90, 1000)
    first, rest = p.split(90, 40)  # a split drops the paragraph's own layout
    assert first.wrap(90, 40)[1] <= 40 and rest.wrap(90, 1000)[1] > 0
    pdf = L.build([p, paragraph(text, st)], L.Page("h", "r"), title="t", author="a", as_of=AS_OF)
    assert _text(pdf)[1].count("word") == 120


def _long_table(n: int):
    from pipeline.render import layout as L

    rows = [[L.cell(h, "head") for h in ("Ref", "Commitment", "Due")]]
    rows += [[L.cell(f"C{i}", "cell"), L.para(f"<b>Item {i}</b><br/>" + "detail " * (i % 9), "cell", markup=True),
              L.cell("31 Mar 2026", "cellr")] for i in range(n)]
    return rows, [20 * L.MM, 90 * L.MM, 25 * L.MM]


def test_table_layout_is_measured_once_per_width_and_splits_as_reportlabs():
    from reportlab.platypus import Table

    from pipeline.render import layout as L

    rows, widths = _long_table(60)
    ours = L.table(rows, widths)
    ref_rows, _ = _long_table(60)
    ref = L.table(ref_rows, widths)
    theirs = Table(ref._cellvalues, colWidths=widths, repeatRows=1,  # reportlab's own Table, the same cells
                   cellStyles=[[s.copy() for s in row] for row in ref._cellStyles])
    size = ours.wrap(180 * L.MM, 0xFFFFFFF)          # as a heading kept with its table measures it
    assert size == theirs.wrap(180 * L.MM, 0xFFFFFFF)
    assert ours.wrap(180 * L.MM, 300) == size          # as the frame asks: no new measuring, same answer
    parts, ref_parts = ours.split(180 * L.MM, 300), theirs.split(180 * L.MM, 300)
    assert len(parts) == len(ref_parts) == 2
    for a, b in zip(parts, ref_parts):
        assert a.wrap(180 * L.MM, 0xFFFFFFF) == b.wrap(180 * L.MM, 0xFFFFFFF)
        assert [r[0] for r in a._cellvalues] == [r[0] for r in b._cellvalues]
    assert ours.wrap(100 * L.MM, 300)[0] == theirs.wrap(100 * L.MM, 300)[0]  # another width: measured again
    short_first = L.table(_long_table(60)[0], widths)
    short_first.wrap(180 * L.MM, 300)  # at a page's height first (reportlab may stop measuring early there)
    assert short_first.wrap(180 * L.MM, 0xFFFFFFF) == size


def test_table_cells_start_from_the_commands_they_replace():
    """Each cell's font, colour, alignment, valign and padding equal what the full list of commands (the
    house ones over the whole table, the header's, the caller's, then each string cell's own style)
    gives when reportlab applies them one by one."""
    from reportlab.platypus import Table, TableStyle

    from pipeline.render import layout as L

    st = L.styles()
    rows = [[L.cell("", "head"), L.cell("Ours", "headr"), L.cell("Theirs", "headc")],
            [L.cell("Made", "cell"), L.cell("3", "cellr"), L.para("<b>x</b>", "cell", markup=True)],
            [L.cell("Kept", "cellb"), L.cell("12", "cellr"), L.cell("word " * 30, "cellsmall")],
            [L.cell("Total", "value"), L.cell("15", "cellr"), "plain"]]
    extra = [("FONT", (0, -1), (-1, -1), L.FONT_BOLD, 9), ("VALIGN", (0, 1), (-1, -1), "MIDDLE"),
             ("LEFTPADDING", (0, 0), (0, -1), 0), ("TEXTCOLOR", (0, 0), (-1, 0), L.color(L.ACCENT))]
    widths = [30 * L.MM, 20 * L.MM, 25 * L.MM]
    ours = L.table(rows, widths, extra=extra, align_right=(2,))
    cmds = [("FONT", (0, 0), (-1, -1), L.FONT, 7.8), ("TEXTCOLOR", (0, 0), (-1, -1), L.color(L.INK)),
            ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 3.5),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3.5), ("TOPPADDING", (0, 0), (-1, -1), 2.6),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3), ("FONT", (0, 0), (-1, 0), L.FONT_BOLD, 7.5),
            ("VALIGN", (0, 0), (-1, 0), "BOTTOM"), ("ALIGN", (2, 0), (2, -1), "RIGHT"), *extra]
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if isinstance(v, L.Cell) and isinstance(ours._cellvalues[r][c], str):
                s = st[v.style]
                cmds += [("FONT", (c, r), (c, r), s.fontName, s.fontSize, s.leading),
                         ("TEXTCOLOR", (c, r), (c, r), s.textColor),
                         ("ALIGN", (c, r), (c, r), {0: "LEFT", 1: "CENTER", 2: "RIGHT"}[s.alignment])]
    theirs = Table(ours._cellvalues, colWidths=widths)
    theirs.setStyle(TableStyle(cmds))
    attrs = ("fontname", "fontsize", "leading", "alignment", "valign", "leftPadding", "rightPadding", "topPadding",
             "bottomPadding")
    for r in range(len(rows)):
        for c in range(3):
            a, b = ours._cellStyles[r][c], theirs._cellStyles[r][c]
            assert [getattr(a, k) for k in attrs] == [getattr(b, k) for k in attrs], (r, c)
            assert L.color(a.color).rgba() == L.color(b.color).rgba() if isinstance(a.color, str) else \
                a.color.rgba() == b.color.rgba(), (r, c)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["Open", "Done", "Overdue", "Slipped", "Dropped", "us", "partner"]), max_size=30))
def test_count_orders_as_value_counts(values):
    from pipeline.render.context import count

    assert count(values) == [(k, int(n)) for k, n in pd.Series(values, dtype=object).value_counts().items()]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.5, 0.7, 0.7, 0.9, 1.2, float("nan")]), min_size=1, max_size=40))
def test_furthest_from_target_breaks_ties_as_pandas(atts):
    from pipeline.analyse.summary import summary_sentences
    from pipeline.core.schema import BELOW_TARGET

    view = F.partner_view()
    cur = view.kpi_quarterly["quarter"] == view.quarter.label
    ids = view.kpi_quarterly.loc[cur, "kpi_id"].tolist()
    atts = (atts * len(ids))[:len(ids)]
    t = view.thresholds
    view.kpi_quarterly.loc[cur, "attainment"] = atts
    view.kpi_quarterly.loc[cur, "status"] = ["missing" if a != a else "on_track" if a >= t.on_track else
                                             "at_risk" if a >= t.at_risk else "off_track" for a in atts]
    frame = view.kpi_quarterly[cur]
    worst = frame.dropna(subset=["attainment"]).sort_values("attainment").head(1)
    from pipeline.render.context import Ctx

    c = Ctx(view)
    sentence = summary_sentences(view)[0]
    if worst.empty or worst.iloc[0]["status"] not in BELOW_TARGET:
        assert "Furthest from target" not in sentence
    else:
        assert f"Furthest from target: {c.subject(worst.iloc[0]['kpi_id'])} at" in sentence


def test_portfolio_ranking_and_heat_map_cells():
    from pipeline.render import layout as L
    from pipeline.render.portfolio import _band, _heatmap
    from pipeline.render.portfolio_trend import ranked as _ranked
    from pipeline.render.portfolio_trend import ranking as _ranking

    a = F.analysis()
    names = dict(zip(a.reconciled.partners["partner_id"], a.reconciled.partners["partner_name"]))
    ranked = _ranked(a, names)
    table = _ranking(a, ranked)[-1]
    cur = a.kpi_quarterly[a.kpi_quarterly["quarter"] == a.quarter.label]
    for row, pid in zip(table._cellvalues[1:], ranked["partner_id"]):
        sev = a.findings[a.findings["partner_id"] == pid]["severity"].value_counts()  # gaps, as the reviews count them
        k = cur[cur["partner_id"] == pid]
        texts = [v if isinstance(v, str) else v.text for v in row]
        assert texts[-4:] == [str(sev.get("high", 0)), str(sev.get("medium", 0)), str(sev.get("low", 0)),
                             f"{int((k['status'] == 'on_track').sum())} / {len(k)}"]
    heat = [f for f in _heatmap(a, ranked) if hasattr(f, "_cellvalues")][0]
    medium, high = a.thresholds.on_track, a.thresholds.at_risk
    kpi_names = dict(zip(a.reconciled.kpis["kpi_id"], a.reconciled.kpis["kpi_name"]))
    heads = [v if isinstance(v, str) else v.text for v in heat._cellvalues[0][1:]]
    ids = [next(k for k, n in kpi_names.items() if n == h) for h in heads]
    tints = {}
    for cmd in heat._bkgrndcmds:
        if cmd[0] == "BACKGROUND":
            for col in range(cmd[1][0], cmd[2][0] + 1):
                for row in range(cmd[1][1], cmd[2][1] + 1):
                    tints[(col, row)] = cmd[3].hexval()
    for i, pid in enumerate(ranked["partner_id"], start=1):
        for j, kid in enumerate(ids, start=1):
            row = cur[(cur["partner_id"] == pid) & (cur["kpi_id"] == kid)]
            att = row["attainment"].iloc[-1] if len(row) else None
            assert heat._cellvalues[i][j] == L.fmt_attainment(att, a.thresholds.edges)
            band = "none" if L.is_missing(att) else _band(row["status"].iloc[-1])  # the analysis's band
            assert band == ("none" if L.is_missing(att) else "green" if att >= medium else "amber" if att >= high
                            else "red")
            assert tints[(j, i)] == L.color(L.STATUS_TINTS[band]).hexval()


def test_commitment_rows_carry_only_what_the_review_shows():
    from pipeline.render.context import COMMITMENT_FIELDS, Ctx
    from pipeline.render.layout import records

    v = F.partner_view()
    v.commitments = v.commitments.assign(internal_note="INTERNAL-ONLY")
    rows = Ctx(v).commitments
    assert rows and all("internal_note" not in r for r in rows)
    assert list(rows[0]) == [c for c in COMMITMENT_FIELDS if c in v.commitments.columns]
    for ours, full in zip(rows, records(v.commitments)):
        assert all((pd.isna(ours[k]) and pd.isna(full[k])) or ours[k] == full[k] for k in ours)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler not installed")
def test_bold_cells_render_exactly_like_bold_markup(tmp_path):
    from pipeline.render import layout as L

    def pdf(make) -> bytes:
        rows = [[make("Joint customer NPS", "cell"), make("EUR 1.25M", "cellr"), make("Overdue", "cell")],
                [make("Renewal rate " * 6, "cell"), make("88.0%", "cellr"), make(F.GREEK, "cell")]]
        return L.build([L.table(rows, [45 * L.MM, 30 * L.MM, 30 * L.MM], header_rows=0)], L.Page("h", "r"),
                       title="t", author="a", as_of=AS_OF)

    markup = pdf(lambda v, s: L.para(f"<b>{L.text(v)}</b>", s, markup=True))
    cells = pdf(lambda v, s: L.cell(v, {"cell": "cellb", "cellr": "cellrb"}[s]))
    assert _png(markup, tmp_path, "markup") == _png(cells, tmp_path, "cells")
    assert _text(markup)[1] == _text(cells)[1]
