"""`pacsguard plan`: the inventory in DESIGN.md's JSON shape, exit 2 with one line on bad input."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from infra import synth_cache
from infra.synth import Synthesis
from pacsguard.cli import app
from stacks.loader import read_stack_config

runner = CliRunner()


def test_plan_prod_json_has_the_contract_shape() -> None:
    res = runner.invoke(app, ["plan", "--stack", "prod", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["stack"] == "prod"
    assert set(doc) == {"stack", "resources", "findings", "summary"}
    r = doc["resources"][0]
    assert set(r) == {"type", "name", "urn", "parent", "inputs", "protect", "depends_on"}
    types = {r["type"] for r in doc["resources"]}
    assert {"aws:rds/instance:Instance", "aws:efs/fileSystem:FileSystem", "aws:kms/key:Key"} <= types
    assert doc["summary"]["protected"] > 0


def test_plan_writes_to_output_file(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    res = runner.invoke(app, ["plan", "--stack", "dev", "--format", "json", "--output", str(out)])
    assert res.exit_code == 0
    assert json.loads(out.read_text())["stack"] == "dev"


def test_plan_table_lists_resource_types() -> None:
    res = runner.invoke(app, ["plan", "--stack", "dev"])
    assert res.exit_code == 0
    assert "aws:rds/instance:Instance" in res.stdout


def test_unknown_stack_exits_2_with_one_line() -> None:
    res = runner.invoke(app, ["plan", "--stack", "nope"])
    assert res.exit_code == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown stack 'nope'" in lines[0]


def test_invalid_settings_exit_2_naming_the_key(tmp_path: Path) -> None:
    cfg = read_stack_config("prod")
    cfg["pacsguard:deletion_protection"] = False
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": cfg}))
    res = runner.invoke(app, ["plan", "--stack", "prod", "--stacks-dir", str(tmp_path)])
    assert res.exit_code == 2
    assert "deletion_protection" in res.stderr and res.stdout == ""


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {}, True),
        (["--no-cache"], {}, False),
        ([], {"PACSGUARD_PLAN_CACHE": "0"}, False),
        ([], {"PACSGUARD_PLAN_CACHE": "false"}, False),
        (["--cache"], {"PACSGUARD_PLAN_CACHE": "0"}, True),
    ],
)
def test_the_plan_cache_can_be_switched_off_by_flag_or_environment(
    dev: Synthesis, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], expected: bool
) -> None:
    asked: list[bool] = []

    def plan_synthesis(stack: str, stacks_dir: Path, *, use_cache: bool) -> tuple[Synthesis, dict]:
        asked.append(use_cache)
        return dev, {}

    monkeypatch.setattr(synth_cache, "plan_synthesis", plan_synthesis)
    res = runner.invoke(app, ["plan", "--stack", "dev", "--format", "json", *args], env=env)
    assert res.exit_code in (0, 1), res.output
    assert asked == [expected]


ONE_COMMAND = r"""
import gc, sys
from pacsguard.cli import main
try:
    main()
except SystemExit as exc:
    print("\nRICH", any(m == "rich" or m.startswith("rich.") for m in sys.modules))
    print("GC", gc.get_freeze_count(), gc.isenabled(), exc.code)
"""


@cache
def _console_script_json_plan() -> str:
    """stdout of `pacsguard plan --stack dev --format json` run as the console script, stderr to a pipe."""
    run = subprocess.run(
        [sys.executable, "-c", ONE_COMMAND, "plan", "--stack", "dev", "--format", "json"],
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert "GC" in run.stdout, run.stderr[-2000:]
    return run.stdout


def test_the_console_script_leaves_a_plans_heap_to_the_exit_not_to_the_collector() -> None:
    """An exiting interpreter collects the whole heap more than once (~1 s after a synthesis): the console script
    freezes what the plan made instead; only `main` knows the process ends with the command."""
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "pacsguard"]
    assert script.value == "pacsguard.cli:main"
    frozen, enabled, code = _console_script_json_plan().rsplit("GC", 1)[-1].split()
    assert code in ("0", "1")
    assert int(frozen) > 0 and enabled == "True"


def test_a_json_plan_to_a_pipe_loads_no_terminal_library() -> None:
    """rich draws nothing when stderr is not a terminal: a JSON plan in a pipeline or CI does not import it."""
    rich_loaded = _console_script_json_plan().rsplit("RICH", 1)[-1].split()[0]
    assert rich_loaded == "False"


def test_a_plan_run_inside_another_process_gives_the_collector_back() -> None:
    frozen = gc.get_freeze_count()
    res = runner.invoke(app, ["plan", "--stack", "dev", "--format", "json"])
    assert res.exit_code in (0, 1), res.output
    assert gc.isenabled() and gc.get_freeze_count() == frozen, "a test process would keep every plan's garbage"
