"""Automatic logoff and emergency access on the wire: what a user, and a user who found the break-glass credential,
would see. Break-glass works only inside an open window, read-only, and every request is marked and alarmed."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest

from pacsguard.posture.clients import audit_lines, https
from pacsguard.posture.conftest import need

control = pytest.mark.control


def _readable(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        pytest.skip(f"{what} {p} is not readable here (run as root on the host)")
    return p


@control("IAM-AUTO-LOGOFF")
@pytest.mark.parametrize(("minutes_ago", "expected"), [(1, 200), ("timeout+1", 403)])
def test_a_sign_in_older_than_the_timeout_is_refused(stack: dict, minutes_ago: Any, expected: int) -> None:
    """A token (however freshly refreshed) whose sign-in is older than the logoff timeout opens nothing."""
    from cryptography.hazmat.primitives import serialization

    from orthanc_config.plugin.pacsguard_identity import JWT_HEADER, sign_jwt

    if stack.get("alb"):
        pytest.skip("behind the ALB the sign-in age is the ALB's session timeout: its header names no auth_time")
    key = serialization.load_pem_private_key(
        _readable(need(stack, "jwt_signing_key"), "signing key").read_bytes(), None
    )
    timeout = need(stack, "session_timeout_minutes")
    ago = timeout + 1 if minutes_ago == "timeout+1" else minutes_ago
    now = time.time()
    claims = {"email": "dr.logoff@example.org", "custom:pacs_role": "radiologist", "exp": now + 60}
    token = sign_jwt({**claims, "auth_time": now - ago * 60}, key)
    assert https(stack, "GET", "/studies", headers={JWT_HEADER: token})[0] == expected


@pytest.fixture()
def glass(stack: dict) -> Any:
    """The target's break-glass paths; the window is removed afterwards (`pacsguard local break-glass close` also
    reseals the credential and reloads Orthanc: an operator's step, not a probe's)."""
    info = need(stack, "break_glass")
    password = json.loads(_readable(info["sealed_credential"], "sealed credential").read_text())["password"]
    layout = _Layout(stack, info)
    yield info["user"], password, layout
    Path(info["window_file"]).unlink(missing_ok=True)


class _Layout:
    """The few paths orthanc_config.break_glass needs, from the target description."""

    def __init__(self, stack: dict, info: dict) -> None:
        from orthanc_config.profile import HostProfile

        self.break_glass_window = Path(info["window_file"])
        self.break_glass_credential = Path(info["sealed_credential"])
        self.alarm_log = Path(info["alarm_log"])
        self.audit_log = Path(stack["audit_log"])
        self.audit_socket = Path(need(stack, "audit_socket"))  # break-glass records go through the audit sink
        self.profile = HostProfile(name="probe", mode="local")
        self.secrets_dir = self.break_glass_credential.parent


def _emergency_records(stack: dict, since: int) -> list[dict]:
    return [r for r in audit_lines(stack)[since:] if r.get("emergency")]


@control("IAM-EMERGENCY-ACCESS")
def test_break_glass_is_refused_without_an_open_window(stack: dict, glass: Any) -> None:
    user, password, _ = glass
    before = len(audit_lines(stack))
    assert https(stack, "GET", "/studies", user, password)[0] == 403
    (record,) = _emergency_records(stack, before)
    assert record["event_id"] == "110113" and "no emergency access window" in record["reason"]


@control("IAM-EMERGENCY-ACCESS")
def test_open_window_grants_read_only_access_recorded_and_alarmed(stack: dict, glass: Any) -> None:
    from orthanc_config.break_glass import open_window

    user, password, layout = glass
    before, alarms_before = len(audit_lines(stack)), len(layout.alarm_log.read_text().splitlines())
    opened = open_window(layout, "verify probe: patient in ED, RIS down", 15, "pacsguard-verify")
    assert opened["password"] == password
    assert https(stack, "GET", "/studies", user, password)[0] == 200
    assert https(stack, "POST", "/instances", user, password, body=b"x")[0] == 403  # read-only
    records = _emergency_records(stack, before)
    assert [r["outcome"] for r in records if r.get("method")] == ["0", "4"]
    assert all(r["role"] == "emergency" for r in records)
    assert "RIS down" in records[-1]["reason"]
    alarms = [json.loads(x) for x in layout.alarm_log.read_text().splitlines()[alarms_before:]]
    assert len(alarms) == 3 and all(a["alarm"] == "EmergencyAccessUsed" for a in alarms)  # opened + 2 requests


@control("IAM-EMERGENCY-ACCESS")
def test_an_expired_window_opens_nothing(stack: dict, glass: Any) -> None:
    from orthanc_config.break_glass import open_window

    user, password, layout = glass
    five_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)
    open_window(layout, "verify probe: expired window", 15, "pacsguard-verify", now=five_hours_ago)
    before = len(audit_lines(stack))
    assert https(stack, "GET", "/studies", user, password)[0] == 403
    (record,) = _emergency_records(stack, before)
    assert "window closed at" in record["reason"]


@control("IAM-EMERGENCY-ACCESS")
def test_a_window_longer_than_four_hours_is_cut_at_four(stack: dict, glass: Any) -> None:
    user, password, layout = glass
    opened = dt.datetime.now(dt.UTC) - dt.timedelta(hours=4, minutes=1)
    doc = {"opened_at": opened.isoformat(), "expires_at": (opened + dt.timedelta(days=1)).isoformat(),
           "reason": "hand-edited window", "opened_by": "someone"}  # fmt: skip
    layout.break_glass_window.write_text(json.dumps(doc))
    assert https(stack, "GET", "/studies", user, password)[0] == 403
