"""Docs kept honest: the README's CLI reference equals --help, every command and option has help, and
docs/configuration.md equals the settings in pipeline/core/settings.py. Run with UPDATE_DOCS=1 to rewrite them."""
from __future__ import annotations

import os
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.core.settings import settings_reference

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
UPDATE = os.environ.get("UPDATE_DOCS") == "1"


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args + ["--help"], prog_name="partner-review")
    assert result.exit_code == 0, result.output
    return result.output.rstrip() + "\n"


COMMANDS = sorted(cli.commands)


def test_every_command_and_option_has_help():
    assert {"templates", "validate", "report", "email"} <= set(COMMANDS)
    for name, command in cli.commands.items():
        assert command.help and command.help.strip(), name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help"


def test_dash_h_works_like_help():
    runner = CliRunner()
    for name in COMMANDS:
        assert runner.invoke(cli, [name, "-h"]).output == runner.invoke(cli, [name, "--help"]).output


@pytest.mark.parametrize("name", [None] + COMMANDS)
def test_readme_cli_reference_equals_help(name):
    args = [name] if name else []
    tag = name or "main"
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- cli:{tag} -->\n```text\n)(.*?)(```\n<!-- /cli:{tag} -->)", re.S)
    match = pattern.search(text)
    assert match, f"README has no CLI reference block for {tag}"
    expected = _help(args)
    if UPDATE and match.group(2) != expected:
        README.write_text(pattern.sub(lambda m: m.group(1) + expected + m.group(3), text), encoding="utf-8")
        return
    assert match.group(2) == expected, f"README's reference for {tag} differs from --help (run UPDATE_DOCS=1 make test)"


def test_configuration_doc_equals_defaults():
    path = ROOT / "docs" / "configuration.md"
    expected = settings_reference()
    if UPDATE:
        path.write_text(expected, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == expected


def test_readme_opens_with_the_two_commands():
    head = README.read_text(encoding="utf-8")[:1500]
    assert "make report" in head and "make test" in head
