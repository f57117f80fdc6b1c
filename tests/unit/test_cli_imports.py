"""`pacsguard --help` and every command's help load typer and rich only: each command imports what it uses when run.

Timings are in benchmarks/plan_timing.py; this holds the import structure that makes them, in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Libraries and project modules that cost tens to hundreds of milliseconds to import and that no help text needs.
HEAVY = (
    "pydantic", "yaml", "cryptography", "boto3", "botocore", "pulumi", "pulumi_aws", "grpc", "jwt",
    "policies", "stacks.settings", "stacks.loader", "infra", "orthanc_config.local_stack", "orthanc_config.pki",
    "orthanc_config.bootstrap", "pacsguard.verify", "pacsguard.posture",
)  # fmt: skip
HELPS = (
    [], ["plan"], ["verify"], ["controls"], ["audit"], ["audit-log"], ["local"], ["local", "up"],
    ["local", "break-glass"], ["local", "machine-token"], ["pki"], ["pki", "issue"], ["pki", "list"], ["aws"],
    ["aws", "modality-cert"], ["emulator"],
)  # fmt: skip
EACH_HELP = r"""
import json, sys
from typer.testing import CliRunner
loaded = set(sys.modules)
from pacsguard.cli import app
report = {}
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, (args, result.output)
    heavy = sorted(m for m in set(sys.modules) - loaded if m.startswith(tuple(json.loads(sys.argv[2]))))
    report[" ".join(args) or "(top level)"] = heavy
print(json.dumps(report))
"""


# typer 0.29 itself imports pydantic to coerce option values (typer/_coercion.py: build_runtime_param) as soon as
# a command or group below the top level parses its arguments, --help included: ours cannot avoid that one.
TYPERS_OWN = ("pydantic",)


def _heavy(name: str, command: str) -> bool:
    allowed = TYPERS_OWN if command != "(top level)" else ()
    return any((name == h or name.startswith(f"{h}.")) and h not in allowed for h in HEAVY)


def test_no_help_imports_a_heavy_library() -> None:
    run = subprocess.run(
        [sys.executable, "-c", EACH_HELP, json.dumps(HELPS), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.splitlines()[-1])
    loaded = {command: [m for m in modules if _heavy(m, command)] for command, modules in report.items()}
    assert len(loaded) == len(HELPS)
    assert not any(loaded.values()), f"imported for --help: { {c: m for c, m in loaded.items() if m} }"


def test_the_top_level_help_lists_every_command() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pacsguard.cli", "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    for command in ("plan", "verify", "controls", "audit", "audit-log", "local", "pki", "aws", "emulator"):
        assert f" {command} " in run.stdout, command
