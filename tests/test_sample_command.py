"""`partner-review sample --output DIR`: the bundled sample drops written as DIR/<quarter>/..., the same
bytes the package holds; nothing already there overwritten; and a wheel built from the checkout carries
them as package data."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "pipeline" / "samples" / "drops"


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def sample(out: Path):
    return CliRunner().invoke(cli, ["sample", "--output", str(out)], catch_exceptions=False)


def test_the_drops_are_written_as_quarter_folders_byte_for_byte(tmp_path):
    out = tmp_path / "new" / "folder"
    res = sample(out)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["2026-Q2", "2026-Q3"]
    assert digest(out) == digest(PACKAGED)
    assert "partner-review.toml" in digest(out / "2026-Q3")
    assert "SAMPLE" in res.output
    assert f"partner-review report --input {out / '2026-Q2'} --output {out / 'reviews'}" in res.output


def test_nothing_is_overwritten_and_nothing_written_when_a_file_is_in_the_way(tmp_path):
    out = tmp_path / "s"
    mine = out / "2026-Q3" / "Partner Registry.xlsx"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own registry")
    res = sample(out)
    assert res.exit_code == 2
    assert "Partner Registry.xlsx" in res.output and "nothing was written" in res.output
    assert mine.read_bytes() == b"my own registry"
    assert digest(out) == {"2026-Q3/Partner Registry.xlsx": hashlib.sha256(b"my own registry").hexdigest()}


def test_a_second_sample_into_the_same_folder_is_refused_and_changes_nothing(tmp_path):
    assert sample(tmp_path).exit_code == 0
    before = digest(tmp_path)
    res = sample(tmp_path)
    assert res.exit_code == 2, res.output
    assert "already exist" in res.output
    assert digest(tmp_path) == before


def test_an_output_that_is_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "file").write_text("x")
    res = CliRunner().invoke(cli, ["sample", "--output", str(tmp_path / "file")])
    assert res.exit_code == 2
    assert not (tmp_path / "file").is_dir()


def test_the_written_drops_run_the_routine(tmp_path):
    assert sample(tmp_path / "s").exit_code == 0
    res = CliRunner().invoke(cli, ["report", "--input", str(tmp_path / "s" / "2026-Q2"), "--output",
                                   str(tmp_path / "reviews"), "--jobs", "1", "--as-of", "2026-07-03"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "reviews" / "2026-Q2" / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["partners"]) == 9


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from the checkout, as `pip wheel .` builds it (the locked setuptools, no network)."""
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out)], check=True, cwd=build, capture_output=True, timeout=300)
    (whl,) = out.glob("partner_review-*.whl")
    return whl


def test_the_wheel_carries_every_sample_file(wheel):
    with zipfile.ZipFile(wheel) as z:
        packed = {n.removeprefix("pipeline/samples/drops/"): hashlib.sha256(z.read(n)).hexdigest()
                  for n in z.namelist() if n.startswith("pipeline/samples/drops/")}
        names = z.namelist()
    assert packed == digest(PACKAGED)
    assert "pipeline/write/samples.py" in names and "pipeline/py.typed" in names
    assert not [n for n in names if n.startswith(("samples/", "tests/", "benchmarks/"))]
