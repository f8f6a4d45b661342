"""Issue 15, the partner PDF: a review a partner lead is glad to receive. Tested on the text pypdf extracts
from the bundled sample drops (2026-Q2, then 2026-Q3 with its history): page 1 tells the story, one number
and date style, points for rates, words for the reader, no path of ours, bookmarks and metadata, and the
manifest's agenda and proposed meeting for the e-mail."""
from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from pipeline.run.report import run_report

DROPS = Path(__file__).resolve().parents[1] / "pipeline" / "samples" / "drops"
AS_OF = dt.date(2026, 10, 9)
ISO = re.compile(r"\b20\d\d-\d\d-\d\d\b")


def _flat(s: str) -> str:
    return " ".join(s.split())


@pytest.fixture(scope="module")
def quarter_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("story")
    for q in ("2026-Q2", "2026-Q3"):
        run_report(DROPS / q, out, jobs=1, cache=False, as_of=AS_OF)
    return out / "2026-Q3"


@pytest.fixture(scope="module")
def manifest(quarter_dir) -> dict:
    return json.loads((quarter_dir / "manifest.json").read_text(encoding="utf-8"))


def _entry(manifest: dict, pid: str) -> dict:
    return next(p for p in manifest["partners"] if p["partner_id"] == pid)


def _reader(quarter_dir: Path, manifest: dict, pid: str) -> PdfReader:
    return PdfReader(io.BytesIO((quarter_dir / _entry(manifest, pid)["pdf"]).read_bytes()))


def _pages(quarter_dir: Path, manifest: dict, pid: str) -> list[str]:
    return [_flat(p.extract_text() or "") for p in _reader(quarter_dir, manifest, pid).pages]


PIDS = ("P01", "P02", "P09")


@pytest.mark.parametrize("pid", PIDS)
def test_one_date_style_no_iso_dates(quarter_dir, manifest, pid):
    text = " ".join(_pages(quarter_dir, manifest, pid))
    assert not ISO.findall(text), ISO.findall(text)[:5]


@pytest.mark.parametrize("pid", PIDS)
def test_one_number_style_currency_with_its_code(quarter_dir, manifest, pid):
    text = " ".join(_pages(quarter_dir, manifest, pid))
    # a figure of five or more digits is abbreviated the one way (k, M, B), in text and tables alike
    assert not re.findall(r"\b\d{1,3},\d{3},\d{3}\b", text), re.findall(r"\b\d{1,3},\d{3},\d{3}\b", text)[:5]
    assert not re.findall(r"\d{3}\.\d+k\b", text), "three significant digits: 547k, never 547.0k"
    # every abbreviated currency figure carries its code
    bare = [m for m in re.findall(r"(\S+ )?(\d[\d.]*[kMB])\b", text) if not m[0].endswith("USD ")]
    assert not bare, bare[:5]


def test_rates_change_in_points_and_arrows_say_good_or_bad(quarter_dir, manifest):
    text = " ".join(_pages(quarter_dir, manifest, "P02"))
    assert re.search(r"[▲▼] ?\d+\.\d pts", text), "a rate's change is in percentage points"
    assert "lower is better" in text


@pytest.mark.parametrize("pid", PIDS)
def test_words_for_the_reader(quarter_dir, manifest, pid):
    text = " ".join(_pages(quarter_dir, manifest, pid))
    for bad in ("internal figure", "Analytics's", "= 0 on last quarter", "whose move", "Whose move",
                "partner-reported", "Consulting's", "AS's"):
        assert bad not in text, bad
    assert not re.findall(r"\b1 (commitments|gaps|KPIs|days|themes)\b", text)


@pytest.mark.parametrize("pid", PIDS)
def test_no_file_path_of_ours(quarter_dir, manifest, pid):
    text = " ".join(_pages(quarter_dir, manifest, pid))
    for ours in ("crm_actuals_export", "exports/", "Partner Registry.xlsx", "KPI plan", "Joint Business Plan 2026.xlsx",
                 "partner_returns/"):   # their own files by name, never the folder we filed them in
        assert ours not in text, ours
    assert "our records" in text


@pytest.mark.parametrize("pid", PIDS)
def test_bookmarks_language_title_subject_and_identity(quarter_dir, manifest, pid):
    r = _reader(quarter_dir, manifest, pid)
    titles = [o.title for o in r.outline if not isinstance(o, list)]
    wanted = ("KPI scorecard", "Trend charts", "Commitments", "Next quarter", "Data notes") + ("Flagged gaps",) * (pid == "P02")
    for section in wanted:
        assert any(section in t for t in titles), (section, titles)
    assert r.trailer["/Root"].get("/Lang") == "en"
    meta = r.metadata
    assert _entry(manifest, pid)["partner_name"] in meta.title and "2026-Q3" in meta.title
    assert meta.subject and "2026-Q3" in meta.subject
    assert f'"partner_id": "{pid}"' in meta["/Keywords"]


def test_page_one_tells_the_story(quarter_dir, manifest):
    first = _pages(quarter_dir, manifest, "P01")[0]
    for piece in ("What went well", "What we ask of each other in 2026-Q4", "Health", "Also at or over target"):
        assert piece in first, piece
    troubled = _pages(quarter_dir, manifest, "P02")[0]
    assert "Needs attention" in troubled or "What needs attention" in troubled
    assert "1 commitment " not in troubled or "1 commitments" not in troubled


def test_next_quarter_section_and_proposed_meeting(quarter_dir, manifest):
    text = " ".join(_pages(quarter_dir, manifest, "P02"))
    assert "Next quarter" in text and "2026-Q4" in text
    e = _entry(manifest, "P02")
    assert e["next_meeting"] is None or dt.date.fromisoformat(e["next_meeting"]) > AS_OF
    if e["next_meeting"]:
        d = dt.date.fromisoformat(e["next_meeting"])
        assert f"{d.day} {d:%b} {d.year}" in text


@pytest.mark.parametrize("pid", PIDS)
def test_manifest_agenda_is_sentences_without_codes_or_iso_dates(manifest, pid):
    e = _entry(manifest, pid)
    assert isinstance(e["agenda"], list) and (bool(e["agenda"]) == bool(e["flag_count"]) or e["health_status"] == "paused")
    for line in e["agenda"]:
        assert isinstance(line, str) and line.endswith(".")
        assert not ISO.search(line), line
        assert not re.search(r"\b[A-Z]{2}-\d\d\b", line), line  # commitments named by what they are
    assert "next_meeting" in e


def test_partner_pdf_holds_that_partner_alone(quarter_dir, manifest):
    names = [p["partner_name"] for p in manifest["partners"]]
    for e in manifest["partners"]:
        text = " ".join(_pages(quarter_dir, manifest, e["partner_id"]))
        others = [n for n in names if n != e["partner_name"] and n in text]
        assert not others, (e["partner_id"], others)
        assert "internal figure" not in text and "partner-reported" not in text, e["partner_id"]  # ours and yours
        assert (quarter_dir / e["pdf"]).stat().st_size < 1024 * 1024


def test_health_trend_from_the_history(quarter_dir, manifest):
    first = _pages(quarter_dir, manifest, "P02")[0]
    box = first.split("HEALTH", 1)[1].split("A difficult quarter")[0]
    assert "74 2026-Q2 46 2026-Q3" in box  # the trend drawn with its scores and quarters
    text = " ".join(_pages(quarter_dir, manifest, "P02"))
    assert text.count("from 74 in 2026-Q2") == 1  # and the move said once, under "What changed"


# ------------------------------------------------------------------------------------ the rules, unit by unit
def test_one_abbreviation_rule():
    from pipeline.analyse.wording import fmt_number

    cases = {(8450, "currency"): "USD 8,450", (54_700, "currency"): "USD 54.7k", (719_611, "currency"): "USD 720k",
             (1_026_000, "currency"): "USD 1.03M", (999_999, "currency"): "USD 1M", (2_500_000_000, "count"): "2.5B",
             (11, "count"): "11", (0.181, "percent"): "18.1%", (7.2, "days"): "7.2 days", (5, "days"): "5 days",
             (1, "days"): "1 day", (None, "currency"): "—"}
    for (value, unit), want in cases.items():
        assert fmt_number(value, unit, "USD") == want, (value, unit)


def test_one_date_style():
    from pipeline.analyse.wording import fmt_date

    assert fmt_date(dt.date(2026, 6, 30)) == "30 Jun 2026"
    assert fmt_date("2026-06-03") == "3 Jun 2026"
    assert fmt_date(None) == "—"


def test_changes_in_points_for_rates_and_scores_and_toned_by_direction():
    import pandas as pd

    from pipeline.analyse.story import change_columns

    defs = pd.DataFrame({"kpi_id": ["rate", "days", "nps"], "unit": ["percent", "days", "score"],
                         "direction": ["higher", "lower", "higher"]})
    kq = pd.DataFrame({"kpi_id": ["rate", "rate", "days", "days", "nps", "nps"], "qindex": [1, 2, 1, 2, 1, 2],
                       "actual": [0.20, 0.181, 5.0, 6.0, 56.0, 55.0], "partial": [False] * 6,
                       "change_qoq": [float("nan"), -0.095, float("nan"), 0.2, float("nan"), -1 / 56],
                       "change_yoy": [float("nan")] * 6})
    out = change_columns(kq, defs).set_index(["kpi_id", "qindex"])
    assert out.loc[("rate", 2), "qoq_shown"] == pytest.approx(-1.9) and out.loc[("rate", 2), "change_in_points"]
    assert out.loc[("nps", 2), "qoq_shown"] == pytest.approx(-1.0) and out.loc[("nps", 2), "qoq_tone"] == "worse"
    assert out.loc[("days", 2), "qoq_shown"] == pytest.approx(0.2) and out.loc[("days", 2), "qoq_tone"] == "worse"
    assert not out.loc[("days", 2), "change_in_points"] and out.loc[("rate", 1), "qoq_tone"] == ""


def test_next_meeting_follows_the_check_in_cadence_on_a_weekday():
    import pandas as pd

    from pipeline.analyse.story import next_meeting

    monthly = pd.DataFrame({"date": pd.to_datetime(["2026-06-10", "2026-07-10", "2026-08-10", "2026-09-10"])})
    day, cadence = next_meeting(monthly, dt.date(2026, 10, 2))
    assert cadence == 31 and day == dt.date(2026, 10, 12)  # 11 Oct is a Sunday: the Monday
    assert next_meeting(monthly.iloc[:0], dt.date(2026, 10, 2)) == (None, None)
    once = next_meeting(monthly.iloc[:1], dt.date(2026, 10, 2))
    assert once[1] == 91 and once[0] > dt.date(2026, 10, 2) and once[0].weekday() < 5


def test_their_low_pulse_answers_lead_what_needs_attention(quarter_dir, manifest):
    """Château Vert rated trust in the figures and the value 2 of 5: its page 1 says so first; a partner that
    did not answer the pulse gets no such line, and nobody's review names them in the third person."""
    chateau = " ".join(" ".join(_pages(quarter_dir, manifest, "P08")).split())
    assert ("How you rated us: 2.8 of 5 overall, lowest on “How far do you trust the figures we share and review "
            "together?” (2 of 5)") in chateau
    assert "Château Vert Conseil rated the partnership" not in chateau and "You rated the partnership 2.8 of 5" in chateau
    assert "How you rated us" not in " ".join(_pages(quarter_dir, manifest, "P01"))


def test_changes_worked_out_for_many_partners_at_once_stay_within_each_partner():
    """The view's change columns are worked out once for every partner (`analysis._PartnerSlices`): a partner's
    change compares with its own last quarter, never with another partner's row of the same KPI."""
    import pandas as pd

    from pipeline.analyse.story import change_columns

    defs = pd.DataFrame({"kpi_id": ["rate"], "unit": ["percent"], "direction": ["higher"]})
    both = pd.DataFrame({"partner_id": ["A", "A", "B", "B"], "kpi_id": ["rate"] * 4, "qindex": [1, 2, 1, 2],
                         "actual": [0.10, 0.12, 0.50, 0.40], "partial": [False] * 4,
                         "change_qoq": [float("nan"), 0.2, float("nan"), -0.2], "change_yoy": [float("nan")] * 4})
    together = change_columns(both, defs)
    alone = pd.concat([change_columns(both[both["partner_id"] == p].drop(columns="partner_id"), defs) for p in "AB"],
                      ignore_index=True)
    assert together["qoq_shown"].tolist()[1::2] == pytest.approx([2.0, -10.0])
    assert together["qoq_shown"].fillna(-99).tolist() == pytest.approx(alone["qoq_shown"].fillna(-99).tolist())
    assert together["qoq_tone"].tolist() == alone["qoq_tone"].tolist() == ["", "better", "", "worse"]


def _tiles(n: int, name: str = "Sourced pipeline", value: str = "USD 720k"):
    from pipeline.render.front import Tile, sparkline

    spark = sparkline([1.0, 2.0, None, 3.0], [2.0, 2.0, 2.5, 2.5], 150, 25, False)
    return [Tile(name=f"{name} {i}", value=value, detail="target USD 1.03M · 70%", change=("▼ 6.9%", "#c62828", True),
                 status=("Off track", "#c62828"), spark=spark) for i in range(n)]


def test_tile_grid_splits_between_rows_and_keeps_every_tile():
    """Drawn on the canvas as one flowable, the KPI tiles still behave as a table of them: a grid taller than
    the page goes on over the next page between two rows, every tile's text once."""
    from pipeline.render import layout as L

    pdf = L.build([L.tile_grid(_tiles(40), 3)], L.Page(header_left="tiles", header_right=""), title="t", author="a",
                  as_of=dt.date(2026, 10, 9), subject="s", keywords="k")
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) >= 2
    text = _flat(" ".join(pages))
    for i in range(40):
        assert len(re.findall(rf"Sourced pipeline {i}\b", text)) == 1, i
    assert text.count("Off track") == 40 and text.count("USD 720k") == 40


def test_tile_text_wraps_within_the_tile():
    """A long KPI name wraps within its tile (a word too long for it is broken) and ends in an ellipsis past
    three lines; a figure too wide for the tile is drawn smaller, never over the next tile."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from pipeline.render import layout as L

    L.register_fonts()
    font, size, _ = L.TILE_FONTS["name"]
    long = "Certified consultants on the managed-service stack " * 6 + "Supercalifragilisticexpialidocious" * 3
    lines = L.wrap_text(long, font, size, 120, 3)
    assert len(lines) == 3 and lines[-1].endswith("…")
    assert all(stringWidth(s, font, size) <= 120 for s in lines)
    assert L.wrap_text("Supercalifragilisticexpialidocious" * 3, font, size, 120, 9)[0].startswith("Supercal")
    grid = L.tile_grid(_tiles(3, name=long, value="USD 123,456,789,012.34"), 3)
    grid.wrap(L.content_width(), 10_000)
    inner = L.content_width() / 3 - 2 * L.TILE_PAD
    laid = grid._rows(L.content_width())[0][1]
    vfont = L.TILE_FONTS["value"][0]
    assert all(stringWidth(t["value"], vfont, t["value_size"]) <= inner for t in laid)
    assert all(len(t["name"]) == 3 for t in laid)
