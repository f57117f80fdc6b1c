"""The identity commands of `pacsguard local`: bad input is one line and exit code 2, nothing half-done."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pacsguard.cli import app

runner = CliRunner()


def test_machine_token_without_a_stack_says_how_to_get_one(tmp_path: Path) -> None:
    res = runner.invoke(app, ["local", "machine-token", "--state-dir", str(tmp_path / "none")])
    assert res.exit_code == 2
    assert "run `pacsguard local up`" in res.output


def test_break_glass_needs_a_reason(tmp_path: Path) -> None:
    res = runner.invoke(app, ["local", "break-glass", "open", "--reason", " ", "--state-dir", str(tmp_path)])
    assert res.exit_code == 2 and "--reason is required" in res.output
    assert not (tmp_path / "break-glass-window.json").exists()
