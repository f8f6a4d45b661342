"""The review cache: a re-run renders only the partners whose data changed, and never serves a bad entry."""
from __future__ import annotations

import hashlib
import pickle
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from pipeline import cache
from pipeline.report import run_report
from pipeline.synthetic import write_portfolio

QUARTER = "2026-Q3"


def _pdfs(out: Path) -> dict[str, str]:
    """partner PDF name -> sha256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / QUARTER).glob("*_partnership-review.pdf"))}


def _names(result) -> dict[str, str]:
    return dict(result.written)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """A small portfolio and a first cached run over it."""
    base = tmp_path_factory.mktemp("cache")
    inp = base / "input"
    write_portfolio(inp, partners=5, kpis=3, quarters=6, commitments=3, seed=11)
    out = base / "out"
    result = run_report(inp, out, jobs=1)
    assert result.ok and not result.reused
    return inp, out, result, _pdfs(out)


def _copy(first, tmp_path) -> tuple[Path, Path]:
    inp, out, _result, _digests = first
    shutil.copytree(inp, tmp_path / "input")
    shutil.copytree(out, tmp_path / "out")
    return tmp_path / "input", tmp_path / "out"


def test_unchanged_rerun_reuses_every_review_byte_for_byte(first, tmp_path):
    inp, out = _copy(first, tmp_path)
    result = run_report(inp, out, jobs=1)
    assert sorted(result.reused) == sorted(result.expected)
    assert _pdfs(out) == first[3]
    assert result.timings.get("charts", 0) == 0  # nothing drawn


def test_one_partner_changed_rerenders_exactly_that_partner(first, tmp_path):
    inp, out = _copy(first, tmp_path)
    # P0001 returns its own figures (every fourth partner does): change one of them
    own = inp / "actuals" / "from_partners" / "P0001_own_figures.xlsx"
    wb = load_workbook(own)
    ws = wb["Actuals"]
    ws.cell(row=ws.max_row, column=4).value = float(ws.cell(row=ws.max_row, column=4).value) * 3
    wb.save(own)
    portfolio_before = (out / QUARTER / f"portfolio_{QUARTER}_INTERNAL.pdf").read_bytes()

    result = run_report(inp, out, jobs=2)
    assert result.ok
    assert sorted(set(result.expected) - set(result.reused)) == ["P0001"]
    after, before = _pdfs(out), first[3]
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {result.written["P0001"]}
    assert (out / QUARTER / f"portfolio_{QUARTER}_INTERNAL.pdf").read_bytes() != portfolio_before
    # the cache holds exactly one entry per partner: the old P0001 entry was pruned
    assert len(list(cache.cache_dir(out, QUARTER).glob("*.pdf"))) == len(result.expected)


def test_config_change_invalidates_everything(first, tmp_path):
    inp, out = _copy(first, tmp_path)
    (inp / "partner-review.toml").write_text('[organisation]\nname = "Other Org Ltd"\n', encoding="utf-8")
    result = run_report(inp, out, jobs=1)
    assert result.ok and result.reused == []
    text = PdfReader(out / QUARTER / result.written["P0002"]).pages[0].extract_text()
    assert "Other Org Ltd" in text


def test_corrupted_entry_is_ignored_never_served(first, tmp_path):
    inp, out = _copy(first, tmp_path)
    folder = cache.cache_dir(out, QUARTER)
    entries = sorted(folder.glob("*.pdf"))
    assert len(entries) == 5
    bad = entries[0]
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF                      # one flipped byte in the middle of the PDF
    bad.write_bytes(bytes(data))
    truncated = entries[1]
    truncated.write_bytes(truncated.read_bytes()[:200])

    result = run_report(inp, out, jobs=1)
    assert result.ok
    assert len(result.expected) - len(result.reused) == 2
    for pid in set(result.expected) - set(result.reused):
        reader = PdfReader(out / QUARTER / result.written[pid])
        assert "Partnership review" in reader.pages[0].extract_text() or len(reader.pages) > 1
    # the re-rendered entries were stored again, whole
    assert all(cache.get(folder, p.stem) is not None for p in folder.glob("*.pdf"))


def test_get_rejects_foreign_and_mismatched_entries(tmp_path):
    cache.put(tmp_path, "k1", b"%PDF-1.4 body %%EOF")
    assert cache.get(tmp_path, "k1") == b"%PDF-1.4 body %%EOF"
    (tmp_path / "k2.pdf").write_bytes(b"%PDF-1.4 a plain PDF with no checksum line")
    assert cache.get(tmp_path, "k2") is None and not (tmp_path / "k2.pdf").exists()
    cache.put(tmp_path, "k3", b"not a pdf at all")
    assert cache.get(tmp_path, "k3") is None
    assert cache.get(tmp_path, "missing") is None


def test_no_cache_renders_everything_and_writes_no_cache(first, tmp_path):
    inp, _out = _copy(first, tmp_path)
    out = tmp_path / "fresh"
    result = run_report(inp, out, jobs=1, cache=False)
    assert result.ok and result.reused == []
    assert not (out / cache.CACHE_DIR).exists()


def test_key_is_stable_across_copies_and_sensitive_to_content(first):
    from pipeline.analyse import analyse, default_quarter, partner_view
    from pipeline.load import load

    rec = load(first[0])
    analysis = analyse(rec, default_quarter(rec), None)
    view = partner_view(analysis, "P0002")
    key = cache.review_key(view)
    assert cache.review_key(pickle.loads(pickle.dumps(view))) == key
    assert cache.review_key(partner_view(analysis, "P0003")) != key
    kq = view.kpi_quarterly.copy()
    kq.loc[kq.index[0], "actual"] = kq["actual"].iloc[0] + 0.01
    view.kpi_quarterly = kq
    assert cache.review_key(view) != key


def test_every_render_module_is_part_of_the_key():
    """A change to any module that draws a review must invalidate the cached reviews."""
    from pathlib import Path

    import pipeline
    from pipeline.cache import fingerprint_files

    root = Path(pipeline.__file__).parent
    files = set(fingerprint_files())
    assert {p.relative_to(root).as_posix() for p in (root / "render").glob("*.py")} <= files
    assert {"charts.py", "render/partner.py", "render/layout.py"} <= files
    assert all((root / f).is_file() for f in files)
