"""Runs last (file order): every probe above left an audit line with the right user, role and outcome."""

from __future__ import annotations

import json
import time

import pytest

from tests.posture.clients import https
from tests.posture.conftest import user_with_role

control = pytest.mark.control


def _trail(stack: dict) -> list[dict]:
    auditor = user_with_role(stack["_users"], "auditor")
    code, body, _ = https(stack, "GET", "/pacsguard/audit", auditor)
    assert code == 200, f"the auditor cannot read the trail ({code})"
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


@control("PACS-ATNA-AUDIT")
def test_http_decisions_are_in_the_trail(stack: dict) -> None:
    admin = user_with_role(stack["_users"], "admin")
    radiologist = user_with_role(stack["_users"], "radiologist")
    https(stack, "POST", "/tools/execute-script", admin, body=b"x")
    https(stack, "GET", "/studies", radiologist)
    https(stack, "GET", "/pacsguard/audit", radiologist)
    lines = [r for r in _trail(stack) if r.get("layer") == "orthanc-http"]
    assert any(r["user"] == admin and r["event_id"] == "110113" and r["outcome"] == "8" for r in lines), (
        "no security alert for admin"
    )
    assert any(
        r["user"] == radiologist and r["role"] == "radiologist" and r["path"] == "/studies" and r["outcome"] == "0"
        for r in lines
    )
    assert any(r["user"] == radiologist and r["path"] == "/pacsguard/audit" and r["outcome"] == "4" for r in lines)


def _whole_trail(stack: dict, host) -> list[dict]:
    """The whole audit file when the target names it (a TLS scan of the DICOM edge alone leaves more records
    than the audit endpoint's last 1000 lines), else what the auditor reads through the API."""
    path = stack.get("audit_log")
    if path and host.file(path).exists:
        return [json.loads(x) for x in host.file(path).content_string.splitlines() if x.strip()]
    return _trail(stack)


@control("PACS-ATNA-AUDIT")
def test_dicom_refusals_are_in_the_trail(stack: dict, host) -> None:
    deadline = time.monotonic() + 5
    while True:
        refusals = [r for r in _whole_trail(stack, host) if r.get("layer") == "orthanc-dicom" and r["outcome"] != "0"]
        if any(r.get("ae_title") == "INTRUDER" for r in refusals) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert any(r.get("ae_title") == "INTRUDER" and r["event_id"] == "110113" for r in refusals), (
        "unknown AE refusal not audited"
    )


@control("PACS-ATNA-AUDIT")
def test_failed_logins_are_in_the_trail(stack: dict, host) -> None:
    admin = user_with_role(stack["_users"], "admin")
    https(stack, "GET", "/system", admin, "wrong-password")
    if "auth_failure_log" not in stack:
        pytest.skip("the target names no auth_failure_log")
    lines = [json.loads(x) for x in host.file(stack["auth_failure_log"]).content_string.splitlines() if x.strip()]
    assert any(r["user"] == admin and r["event_id"] == "110114" and r["outcome"] == "4" for r in lines)
