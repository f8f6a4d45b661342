"""The bundled sample drops: equal to what samples/make_samples.py writes, and (through the real reader)
the portfolio and the story samples/README.md tells, with the planted data problems and no others."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import openpyxl
import pytest

ROOT = Path(__file__).resolve().parents[1]
DROPS = ROOT / "pipeline" / "samples" / "drops"


def _maker():
    spec = importlib.util.spec_from_file_location("make_samples", ROOT / "samples" / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _cells(path: Path) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: [tuple(c.value for c in row) for row in ws.iter_rows()] for ws in wb.worksheets}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("drops")
    _maker().write_drops(out)
    return out


def test_committed_drops_equal_what_make_samples_writes(regenerated):
    assert _files(DROPS) == _files(regenerated), "run: .venv/bin/python samples/make_samples.py"
    for name in _files(DROPS):
        a, b = DROPS / name, regenerated / name
        if name.endswith(".xlsx"):
            assert _cells(a) == _cells(b), name
        else:
            assert a.read_bytes() == b.read_bytes(), name


def test_generation_is_deterministic(regenerated, tmp_path):
    _maker().write_drop("2026-Q2", tmp_path / "again")
    for name in _files(tmp_path / "again"):
        assert (tmp_path / "again" / name).read_bytes() == (regenerated / "2026-Q2" / name).read_bytes(), name


def test_q3_drop_moves_the_q2_drop_on():
    assert sorted(p.name for p in DROPS.iterdir()) == ["2026-Q2", "2026-Q3"]
    q2, q3 = set(_files(DROPS / "2026-Q2")), set(_files(DROPS / "2026-Q3"))
    assert {"partner-review.toml", "Partner Registry.xlsx", "Joint Business Plan 2026.xlsx"} <= q2 & q3
    assert "partner_returns/Brightwave Analytics 2026-Q3 figures.xlsx" in q3 - q2
    for drop in ("2026-Q2", "2026-Q3"):
        toml = (DROPS / drop / "partner-review.toml").read_text(encoding="utf-8")
        assert 'name = "Northwind Alliances"' in toml and 'watermark = "SAMPLE DATA"' in toml


def test_no_formulas_and_only_example_addresses():
    for path in DROPS.rglob("*.xlsx"):
        for ws in openpyxl.load_workbook(path).worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    text = cell.value if isinstance(cell.value, str) else ""
                    assert not text.startswith("="), (path.name, cell.coordinate)
                    for domain in re.findall(r"@([\w.-]+)", text):
                        assert domain.split(".")[-2:] in (["example", "com"], ["example", "org"], ["example", "net"]), text


# --------------------------------------------------------------------------------------------------
# through the real reader
@pytest.fixture(scope="module")
def loaded():
    from pipeline.reconcile.load import load

    return {drop: load(DROPS / drop) for drop in ("2026-Q2", "2026-Q3")}


@pytest.mark.parametrize("drop", ["2026-Q2", "2026-Q3"])
def test_each_drop_loads_the_portfolio(loaded, drop):
    rec = loaded[drop]
    status = dict(zip(rec.partners["partner_id"], rec.partners["status"]))
    assert sorted(s for s in status.values()) == ["active"] * 8 + ["ended", "paused"]
    assert len(rec.kpis) == 6
    assert rec.quarters_with_actuals()[-1].label == drop
    values = rec.kpi_values
    quarters = values[values["partner_id"] == "P01"]["quarter"].unique()
    assert len(quarters) >= 8, "trend charts need eight quarters of history"
    assert set(values["partner_id"]) == set(status), "every partner has figures"
    assert (rec.targets["from_default"] == True).any()  # noqa: E712 - the * rows
    assert rec.config.organisation == "Northwind Alliances"


def test_q2_drop_is_clean_and_q3_holds_the_planted_problems_only(loaded):
    assert [p.code for p in loaded["2026-Q2"].problems.actionable] == []
    found = sorted((p.code, p.file, p.value) for p in loaded["2026-Q3"].problems.actionable)
    assert [(code, file) for code, file, _ in found] == [
        ("REF_UNKNOWN_PARTNER", "Joint Business Plan 2026.xlsx"),
        ("ROW_MISSING_REQUIRED", "exports/crm_actuals_export_2026-10-02.xlsx"),
        ("VALUE_NOT_NUMBER", "partner_returns/Severny Veter monthly figures.xlsx"),
    ]
    assert found[0][2] == "Brightwave Analytic" and found[2][2].endswith("k")


def _value(rec, pid, kpi, quarter, source="internal"):
    v = rec.kpi_values
    sel = v[(v["partner_id"] == pid) & (v["kpi_id"] == kpi) & (v["quarter"] == quarter) & (v["source"] == source)]
    return sel["value"].sum()


def test_the_story_holds(loaded):
    q2, q3 = loaded["2026-Q2"], loaded["2026-Q3"]
    # Nordlicht disputes its pipeline (> 5 %), agrees on revenue
    ours, theirs = _value(q3, "P03", "pipeline", "2026-Q3"), _value(q3, "P03", "pipeline", "2026-Q3", "partner")
    assert theirs / ours - 1 > 0.05
    assert abs(_value(q3, "P03", "revenue", "2026-Q3", "partner") / _value(q3, "P03", "revenue", "2026-Q3") - 1) < 0.05
    # Северный Ветер reports months, Château Vert's Q2 revenue was restated in the Q3 drop
    assert set(q3.kpi_values[q3.kpi_values["partner_id"] == "P05"]["period_kind"]) == {"month"}
    assert _value(q3, "P08", "revenue", "2026-Q2") > _value(q2, "P08", "revenue", "2026-Q2") * 1.05
    # commitments: one dropped, one slipped a second time, internal notes obviously internal
    ids2, ids3 = set(q2.commitments["commitment_id"]), set(q3.commitments["commitment_id"])
    assert ids2 - ids3 == {"CV-03"}
    kv2 = {d: c[c["commitment_id"] == "KV-02"].iloc[0] for d, c in (("q2", q2.commitments), ("q3", q3.commitments))}
    assert kv2["q2"]["baseline_due_date"] < kv2["q2"]["due_date"] < kv2["q3"]["due_date"]
    notes = [n for n in q3.commitments["internal_note"] if n]
    assert notes and all(n.startswith("INTERNAL:") for n in notes)
    assert "R&D <urgent> & review" in set(q3.commitments["description"])
    open_p04 = q3.commitments[(q3.commitments["partner_id"] == "P04") & ~q3.commitments["status"].isin(["done", "cancelled"])]
    assert (open_p04["party"] == "us").mean() >= 0.75 and len(open_p04) >= 4
    # Kestrel & Vane had no check-in in Q3; every other partner under review did
    met = set(q3.checkins[q3.checkins["quarter"] == "2026-Q3"]["partner_id"])
    assert met == {f"P0{i}" for i in range(1, 10)} - {"P02"}


def test_readme_tells_every_partners_story():
    text = (ROOT / "samples" / "README.md").read_text(encoding="utf-8")
    for pid, name, *_ in _maker().PARTNERS:
        assert f"| {pid} | {name}" in text, name
