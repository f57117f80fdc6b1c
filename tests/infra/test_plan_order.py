"""Two plans of the same program are the same document: a CI that diffs plan JSON or SARIF sees only real changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infra.synth_model import Synthesis

ROOT = Path(__file__).resolve().parents[2]


def test_the_graph_lists_resources_in_urn_order(dev: Synthesis) -> None:
    urns = [r.urn for r in dev.resources]
    assert urns == sorted(urns), "resources come in the mocks' concurrent capture order, which differs per run"


def test_two_uncached_plans_print_the_same_json() -> None:
    def plan() -> str:
        cmd = [
            sys.executable,
            "-c",
            "from pacsguard.cli import main; main()",
            "plan",
            "--stack",
            "dev",
            "--no-cache",
            "-f",
            "json",
        ]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False).stdout

    first, second = plan(), plan()
    assert first and first == second
