from __future__ import annotations

import pytest

from pipeline.core.settings import DEFAULTS, Config, load_config


def test_defaults_without_file(tmp_path):
    config, problems = load_config(tmp_path)
    assert problems == []
    assert config["kpi.attainment_medium"] == DEFAULTS["kpi"]["attainment_medium"][0]
    assert config.fy_start == 1


def test_settings_are_read_and_bad_ones_reported(tmp_path):
    (tmp_path / "partner-review.toml").write_text(
        '[organisation]\nname = "Acme"\nfiscal_year_start_month = 13\n'
        '[kpi]\nattainment_medium = 0.8\nbogus = 1\n[nonsense]\nx = 1\n', encoding="utf-8")
    config, problems = load_config(tmp_path)
    assert config.organisation == "Acme"
    assert config["kpi.attainment_medium"] == 0.8
    assert config.fy_start == 1  # 13 is refused, default kept
    assert [p.code for p in problems] == ["CONFIG_INVALID"] * 3
    assert all(p.file == "partner-review.toml" for p in problems)


def test_broken_toml_is_a_problem_not_a_crash(tmp_path):
    (tmp_path / "partner-review.toml").write_text("[organisation\nname=", encoding="utf-8")
    config, problems = load_config(tmp_path)
    assert isinstance(config, Config) and problems[0].code == "CONFIG_INVALID"


def test_every_section_is_a_typed_object_with_the_documented_defaults(tmp_path):
    """config.kpi.attainment_medium and friends: one frozen dataclass per section, built from the same
    table the docs and the file checks use, carrying the values read from partner-review.toml."""
    import dataclasses

    from pipeline.core.settings import DEFAULTS, SECTIONS, Config, load_config

    config = Config()
    attribute = {"organisation": "org"}
    for section, keys in DEFAULTS.items():
        typed = getattr(config, attribute.get(section, section))
        assert isinstance(typed, SECTIONS[section]) and dataclasses.is_dataclass(typed)
        assert {k: getattr(typed, k) for k in keys} == {k: v[0] for k, v in keys.items()}
        for f in dataclasses.fields(typed):
            kind = eval(f.type)
            assert isinstance(f.default, getattr(kind, "__origin__", kind)), (section, f.name)
    (tmp_path / "partner-review.toml").write_text("[kpi]\nattainment_medium = 0.8\n[limits]\nmax_cells = 5\n")
    loaded, problems = load_config(tmp_path)
    assert problems == [] and loaded.kpi.attainment_medium == 0.8 and loaded.limits.max_cells == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.kpi.attainment_medium = 0.5


def test_the_code_reads_settings_as_typed_attributes_not_strings():
    """`config.kpi.attainment_medium`, never `config["kpi.attainment_medium"]`: a typo is an AttributeError
    (and a mypy error) where it is written, not a KeyError in a quarter's run."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "pipeline"
    found = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if p.name != "settings.py"
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r'config\[["\']\w+\.\w+["\']\]', line)]
    assert found == []
