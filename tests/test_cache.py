"""The review cache: a re-run renders only the partners whose data changed, and never serves a bad entry."""
from __future__ import annotations

import hashlib
import pickle
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from pipeline.write import cache
from pipeline.run.report import run_report
from pipeline.write.synthetic import write_portfolio

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
    entry = {"partner_id": "P1", "health_score": 71, "summary": "Ünïcode ✓"}
    cache.put(tmp_path, "k1", b"%PDF-1.4 body %%EOF", entry)
    assert cache.get(tmp_path, "k1") == (b"%PDF-1.4 body %%EOF", entry)
    (tmp_path / "k2.pdf").write_bytes(b"%PDF-1.4 a plain PDF with no checksum line")
    assert cache.get(tmp_path, "k2") is None and not (tmp_path / "k2.pdf").exists()
    cache.put(tmp_path, "k3", b"not a pdf at all", entry)
    assert cache.get(tmp_path, "k3") is None
    assert cache.get(tmp_path, "missing") is None
    # an entry of the previous format (no manifest record) is a miss, and removed
    old = b"%PDF-1.4 old"
    (tmp_path / "k4.pdf").write_bytes(b"partner-review-cache 1 " + hashlib.sha256(old).hexdigest().encode() + b"\n" + old)
    assert cache.get(tmp_path, "k4") is None and not (tmp_path / "k4.pdf").exists()


def test_no_cache_renders_everything_and_writes_no_cache(first, tmp_path):
    inp, _out = _copy(first, tmp_path)
    out = tmp_path / "fresh"
    result = run_report(inp, out, jobs=1, cache=False)
    assert result.ok and result.reused == []
    assert not (out / cache.CACHE_DIR).exists()


def _analysis(first):
    from pipeline.analyse.analysis import analyse, default_quarter
    from pipeline.reconcile.load import load

    rec = load(first[0])
    return analyse(rec, default_quarter(rec), None)


def _different(value, dtype):
    """A value that fits `dtype` (so the column's dtype stays as it is) and is not equal to `value`."""
    import pandas as pd

    kind = getattr(dtype, "kind", "O")
    if kind == "b" or str(dtype) == "boolean":
        return True if pd.isna(value) else not value
    if kind in "iuf":
        return 1 if pd.isna(value) else value + 1
    if kind == "M":
        return pd.Timestamp("2020-01-01") if pd.isna(value) else value + pd.Timedelta(days=1)
    return "x" if pd.isna(value) else str(value) + "x"


def test_keys_are_stable_across_copies_and_differ_between_partners(first):
    import datetime as dt

    analysis = _analysis(first)
    day = dt.date(2026, 10, 5)
    keys = cache.review_keys(analysis, day)
    assert sorted(keys) == ["P0001", "P0002", "P0003", "P0004", "P0005"]
    assert len(set(keys.values())) == len(keys)
    assert cache.review_keys(pickle.loads(pickle.dumps(analysis)), day) == keys
    assert cache.review_keys(_analysis(first), day) == keys            # read again from the files
    assert set(cache.review_keys(analysis, dt.date(2026, 10, 6)).values()).isdisjoint(keys.values())


def test_a_change_to_any_of_a_partners_rows_changes_its_key_alone(first):
    """Every frame a view is sliced from, cell by cell in its first row: the partner's key changes, no other."""
    import datetime as dt

    from pipeline.analyse.analysis import _slices

    analysis = _analysis(first)
    day = dt.date(2026, 10, 5)
    base = cache.review_keys(analysis, day)
    sl = _slices(analysis)
    checked = 0
    for name, (frame, spans) in list(sl.frames.items()):
        a, b = spans.get("P0002", (0, 0))
        if b == a:
            continue
        for j, column in enumerate(frame.columns):
            if column == "partner_id":
                continue
            changed = frame.copy()
            changed.iat[a, j] = _different(frame.iat[a, j], frame.dtypes.iloc[j])
            assert list(changed.dtypes) == list(frame.dtypes)
            sl.frames[name] = (changed, spans)
            keys = cache.review_keys(analysis, day)
            sl.frames[name] = (frame, spans)
            assert keys["P0002"] != base["P0002"], (name, column)
            assert {p: k for p, k in keys.items() if p != "P0002"} == {p: k for p, k in base.items() if p != "P0002"}
            checked += 1
    assert checked > 60
    for attr, value in (("problems", {"P0002": ["a note"]}), ("sources", {"P0002": ["other.xlsx"]}),
                        ("changes", {"P0002": ["Score up 5 points."]})):
        old = getattr(sl, attr)
        setattr(sl, attr, {**old, **value})
        keys = cache.review_keys(analysis, day)
        setattr(sl, attr, old)
        assert keys["P0002"] != base["P0002"] and keys["P0003"] == base["P0003"], attr


def test_the_key_covers_every_input_of_a_partner_view(first):
    """partner_digests hashes what partner_view reads; a new field or extra must be added to both."""
    import dataclasses

    from pipeline.analyse.analysis import partner_view
    from pipeline.core.frames import PartnerView

    view = partner_view(_analysis(first), "P0002")
    hashed = {  # field -> where partner_digests takes it from
        "quarter": "shared", "quarters": "shared", "organisation": "shared", "config": "shared",
        "kpis": "shared definitions + kpi_quarterly", "partner": "partners", "kpi_quarterly": "kpi_quarterly",
        "commitments": "commitments", "delivery": "delivery", "flags": "flags", "health": "health",
        "health_breakdown": "health_breakdown", "checkins": "checkins", "problems": "problems",
        "sources": "sources", "changes": "changes", "why": "health", "track_record": "track_record",
        "disagreements": "disagreements",
        "as_of": "the report date: in the key itself (cache.review_identities), not in the content fingerprint",
        "summary": "derived from kpi_quarterly, commitments, flags, kpis, partner and organisation",
        "thresholds": "shared: the config", "findings": "findings", "themes": "themes",
        "top_gaps": "derived from findings", "agenda": "derived from themes and health", "pulse": "pulse",
        "pulse_sentence": "derived from pulse and partner",
        "story": "derived from kpi_quarterly, commitments, findings, themes, health and the report date",
        "next_quarter": "targets (next quarter's), commitments, checkins, themes and the report date"}
    assert {f.name for f in dataclasses.fields(PartnerView)} == set(hashed)


def test_row_hashes_tell_apart_values_that_print_alike():
    import pandas as pd

    from pipeline.analyse.analysis import _row_hashes

    mixed = pd.DataFrame({"v": pd.Series([1, 1.0, "1", None, "None", float("nan")], dtype=object)})
    assert len(set(_row_hashes(mixed).tolist())) == 6
    assert len(set(_row_hashes(pd.DataFrame({"v": [0.0, -0.0, float("nan")]})).tolist())) == 3
    shuffled = pd.DataFrame({"a": [1.5, 2.5], "b": ["x", "y"]}, index=[7, 3])   # any index: rows by position
    assert _row_hashes(shuffled).tolist() == _row_hashes(shuffled.reset_index(drop=True)).tolist()
    text = pd.DataFrame({"v": pd.Series(["nan", None, "", "a"], dtype="str")})
    assert len(set(_row_hashes(text).tolist())) == 4
    assert _row_hashes(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})).tolist() != \
        _row_hashes(pd.DataFrame({"a": [2, 1], "b": ["x", "y"]})).tolist()[::-1]


def test_every_module_of_the_package_is_part_of_the_key():
    """A change to any of our code (render, analysis, report) must invalidate the cached reviews."""
    from pathlib import Path

    import pipeline
    from pipeline.core.files import fingerprint_files

    root = Path(pipeline.__file__).parent
    files = set(fingerprint_files())
    assert {p.relative_to(root).as_posix() for p in root.rglob("*.py")} == files
    assert {"chart/charts.py", "render/partner.py", "render/layout.py", "analyse/analysis.py", "run/report.py"} <= files


def test_the_content_fingerprint_knows_what_a_review_says_not_how_it_was_made(first):
    """The send log's fingerprint: the same on another day, with other file limits and after last-bit float
    drift (a library upgrade); different when a figure the review shows changes."""
    import datetime as dt

    import numpy as np

    def fingerprints(analysis):
        # a fresh copy each time: the per-partner slices are memoised on the analysis
        return {pid: fp for pid, (_k, fp) in cache.review_identities(analysis, dt.date(2026, 10, 5)).items()}

    analysis = _analysis(first)
    base = fingerprints(pickle.loads(pickle.dumps(analysis)))
    other_day = {pid: fp for pid, (_k, fp) in cache.review_identities(pickle.loads(pickle.dumps(analysis)),
                                                                       dt.date(2027, 1, 9)).items()}
    assert other_day == base and len(set(base.values())) == len(base)

    limits = pickle.loads(pickle.dumps(analysis))
    limits.reconciled.config.values["limits"]["file_seconds"] = 7
    limits.reconciled.config.values["report"]["history_file"] = "elsewhere.sqlite"
    assert fingerprints(limits) == base

    drift = pickle.loads(pickle.dumps(analysis))
    kq = drift.kpi_quarterly
    actual = kq["actual"].to_numpy(dtype="float64")
    kq["actual"] = np.nextafter(actual, np.inf)  # one ulp up, everywhere
    assert fingerprints(drift) == base

    changed = pickle.loads(pickle.dumps(analysis))
    kq = changed.kpi_quarterly
    row = kq.index[(kq["partner_id"] == "P0002") & kq["actual"].notna()][0]
    kq.loc[row, "actual"] = kq.loc[row, "actual"] * 1.01 + 1
    now = fingerprints(changed)
    assert now["P0002"] != base["P0002"] and {p: f for p, f in now.items() if p != "P0002"} == \
        {p: f for p, f in base.items() if p != "P0002"}
