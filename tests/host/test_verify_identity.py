"""`pacsguard verify` sees each issue-16 weakening of a real local stack as exactly its control (undone after)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.host.test_verify import edited_json, failing

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def target_file(stack: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify-identity") / "target.json"
    path.write_text(json.dumps({k: v for k, v in stack.items() if not k.startswith("_")}))
    return path


def _plugin_config(stack: dict) -> Path:
    return Path(stack["config_dir"]) / "pacsguard.json"


def test_admitting_an_unregistered_machine_client_is_reported(stack: dict, target_file: Path) -> None:
    def admit(doc: dict) -> None:
        doc["PACSGuard"]["Machine"]["Clients"].append("not-registered")

    with edited_json(_plugin_config(stack), admit, stack["_options"]):
        assert failing(target_file) == {"IAM-MACHINE-TOKENS"}


def test_a_day_long_logoff_timeout_is_reported(stack: dict, target_file: Path) -> None:
    with edited_json(
        _plugin_config(stack), lambda d: d["PACSGuard"].update(SessionTimeoutMinutes=1440), stack["_options"]
    ):
        assert failing(target_file) == {"IAM-AUTO-LOGOFF"}


def test_break_glass_mapped_to_an_everyday_role_is_reported(stack: dict, target_file: Path) -> None:
    """The sealed user given a normal role works without a window: no longer emergency access."""
    with edited_json(
        _plugin_config(stack),
        lambda d: d["PACSGuard"]["Roles"].update({"break-glass": "radiologist"}),
        stack["_options"],
    ):
        assert failing(target_file) == {"IAM-EMERGENCY-ACCESS"}
