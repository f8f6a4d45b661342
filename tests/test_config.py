from __future__ import annotations

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
