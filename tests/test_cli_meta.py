"""What a bug report and a shell need from the command: `--version` names the installed version, and
Click's completion script comes out of the installed console script."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from click.testing import CliRunner

import pipeline
from pipeline.cli import cli

SCRIPT = Path(sys.executable).parent / "partner-review"


def test_version_is_the_installed_distributions():
    res = CliRunner().invoke(cli, ["--version"], prog_name="partner-review")
    assert res.exit_code == 0
    assert res.output == f"partner-review, version {metadata.version('partner-review')}\n"
    assert pipeline.__version__ == metadata.version("partner-review")


def test_bash_completion_script_and_completions():
    env = {**os.environ, "_PARTNER_REVIEW_COMPLETE": "bash_source"}
    script = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert script.returncode == 0
    assert "_partner_review_completion()" in script.stdout and "complete -o nosort -F" in script.stdout
    env = {**os.environ, "_PARTNER_REVIEW_COMPLETE": "bash_complete", "COMP_WORDS": "partner-review sa", "COMP_CWORD": "1"}
    words = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert words.stdout.split() == ["plain,sample"]
