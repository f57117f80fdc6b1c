"""The shipped auditor policy allows every call the cloud layer's code can make, including calls the fixture
account never reaches: on real AWS a missing action turns a verdict into an access-denied error."""

from __future__ import annotations

import json
from pathlib import Path

from policies.cloud.iam_actions import iam_action, source_calls

POLICY = Path(__file__).resolve().parents[2] / "policies" / "cloud" / "auditor-policy.json"


def test_every_call_written_in_the_collectors_is_allowed() -> None:
    allowed = set(json.loads(POLICY.read_text())["Statement"][0]["Action"])
    missing = sorted(iam_action(s, o) for s, o in source_calls() if iam_action(s, o) not in allowed)
    assert not missing, f"auditor-policy.json lacks {missing}: run `.venv/bin/python -m tests.audit.refresh_policy`"


def test_the_scan_finds_calls_written_over_several_lines(tmp_path: Path) -> None:
    (tmp_path / "collector.py").write_text('x = api.call(\n    "backup",\n    "GetBackupSelection", Id=1)\n')
    (tmp_path / "other.py").write_text('y = api.pages("iam", "ListUsers", "Users")\n')
    assert source_calls(tmp_path) == {("backup", "GetBackupSelection"), ("iam", "ListUsers")}
