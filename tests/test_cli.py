"""The command line: help works without heavy imports; user errors are one line, exit 1, no traceback."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from alignment.cli import cli


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "demo-data", "fit", "score", "workshop", "agreement", "report"):
        assert command in result.output


def test_missing_config_is_one_line_and_exit_1(tmp_path):
    missing = tmp_path / "nowhere.toml"
    process = subprocess.run(
        [sys.executable, "-m", "alignment.cli", "fit", "--config", str(missing)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert process.returncode == 1
    assert "Traceback" not in process.stderr
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "nowhere.toml" in lines[0] and "not found" in lines[0]
    assert list(tmp_path.iterdir()) == []
