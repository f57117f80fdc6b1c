"""The guard's newer identity paths: machine bearer tokens (through nginx's gateway user) and automatic logoff."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pacsguard_guard as guard_mod
import pacsguard_identity as ident
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from orthanc_config.machine_issuer import LocalIssuer
from tests.unit.test_plugin_guard import RECEIVED
from tests.unit.test_plugin_guard import settings as sink_settings

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
ROLES = {"alice": "radiologist", "pacsguard-gateway": "gateway"}
ISSUER = "https://pacs.test/pacsguard-issuer"
GATEWAY = {"authorization": "Basic " + base64.b64encode(b"pacsguard-gateway:x").decode()}


@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    iss = LocalIssuer(ISSUER, tmp_path / "issuer.key", tmp_path / "jwks.json")
    iss.ensure()
    return iss


@pytest.fixture
def guard(tmp_path: Path, issuer: LocalIssuer) -> guard_mod.Guard:
    machine = {"Issuer": ISSUER, "Jwks": str(issuer.jwks_file), "ResourceServer": "pacs", "Clients": ["ai-pipeline"]}
    return guard_mod.Guard(sink_settings(ROLES, tmp_path, "basic+jwt", PEM, machine=machine))


def records(g: guard_mod.Guard) -> list[dict]:
    """The records the guard handed to its (fake) audit sink."""
    return RECEIVED[g.settings.audit_socket]


def test_machine_token_is_a_role_and_an_audited_client(guard: guard_mod.Guard, issuer: LocalIssuer) -> None:
    headers = {**GATEWAY, "x-pacsguard-bearer": issuer.mint("ai-pipeline")}
    assert guard.http("GET", "/dicom-web/studies", "127.0.0.1", headers)
    assert not guard.http("POST", "/dicom-web/studies", "127.0.0.1", headers)  # read scope cannot store
    allowed, refused = records(guard)
    assert (allowed["user"], allowed["role"], allowed["outcome"]) == ("machine:ai-pipeline", "radiologist", "0")
    assert refused["outcome"] == "4"


def test_bearer_without_the_gateway_is_refused(guard: guard_mod.Guard, issuer: LocalIssuer) -> None:
    """Only nginx sets the bearer header, and only with the gateway's credentials: a user cannot add one."""
    alice = {"authorization": "Basic " + base64.b64encode(b"alice:x").decode()}
    assert not guard.http(
        "GET", "/dicom-web/studies", "127.0.0.1", {**alice, "x-pacsguard-bearer": issuer.mint("ai-pipeline")}
    )
    assert "not set by the gateway" in records(guard)[0]["reason"]


def test_host_without_machine_clients_refuses_bearers(tmp_path: Path, issuer: LocalIssuer) -> None:
    g = guard_mod.Guard(sink_settings(ROLES, tmp_path, "basic+jwt", PEM))
    assert not g.http(
        "GET", "/dicom-web/studies", "127.0.0.1", {**GATEWAY, "x-pacsguard-bearer": issuer.mint("ai-pipeline")}
    )


def _signed_in(minutes_ago: float) -> dict[str, str]:
    now = time.time()
    token = ident.sign_jwt(
        {"email": "dr@x", "custom:pacs_role": "radiologist", "exp": now + 60, "auth_time": now - minutes_ago * 60}, KEY
    )
    return {**GATEWAY, ident.JWT_HEADER: token}


def test_sign_in_older_than_the_logoff_timeout_is_refused(guard: guard_mod.Guard) -> None:
    assert guard.http("GET", "/studies", "127.0.0.1", _signed_in(1))
    assert not guard.http("GET", "/studies", "127.0.0.1", _signed_in(16))  # timeout 15 minutes
    assert "automatic logoff" in records(guard)[-1]["reason"]


def _emergency_guard(tmp_path: Path) -> guard_mod.Guard:
    roles = {**ROLES, "break-glass": "emergency"}
    settings = sink_settings(roles, tmp_path, "basic+jwt", PEM)
    settings.emergency_window = str(tmp_path / "window.json")
    return guard_mod.Guard(settings)


def _window(tmp_path: Path, opened_minutes_ago: float, minutes: float) -> None:
    import datetime as dt

    opened = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=opened_minutes_ago)
    doc = {"opened_at": opened.isoformat(), "expires_at": (opened + dt.timedelta(minutes=minutes)).isoformat(),
           "reason": "ED patient, RIS down", "opened_by": "second-admin"}  # fmt: skip
    (tmp_path / "window.json").write_text(json.dumps(doc))


BREAK_GLASS = {"authorization": "Basic " + base64.b64encode(b"break-glass:x").decode()}


def test_break_glass_outside_a_window_is_refused_recorded_and_alarmed(tmp_path: Path) -> None:
    g = _emergency_guard(tmp_path)
    assert not g.http("GET", "/studies", "127.0.0.1", BREAK_GLASS)
    (rec,) = records(g)
    # Marked emergency for the sink, which writes the alarm line (tests/unit/test_audit_sink.py).
    assert rec["emergency"] is True and rec["event_id"] == "110113" and rec["outcome"] == "8"


def test_break_glass_inside_a_window_reads_only(tmp_path: Path) -> None:
    g = _emergency_guard(tmp_path)
    _window(tmp_path, 1, 60)
    assert g.http("GET", "/studies", "127.0.0.1", BREAK_GLASS)
    assert not g.http("POST", "/instances", "127.0.0.1", BREAK_GLASS)
    assert not g.http("DELETE", "/studies/x", "127.0.0.1", BREAK_GLASS)
    recs = records(g)
    assert [r["outcome"] for r in recs] == ["0", "4", "4"] and all(r["role"] == "emergency" for r in recs)
    assert "RIS down" in recs[0]["reason"] and "second-admin" in recs[0]["reason"]
    assert all(r["emergency"] is True for r in recs)


@pytest.mark.parametrize(("opened_ago", "minutes"), [(61, 60), (241, 24 * 60)])
def test_expired_or_overlong_windows_are_closed(tmp_path: Path, opened_ago: float, minutes: float) -> None:
    g = _emergency_guard(tmp_path)
    _window(tmp_path, opened_ago, minutes)  # the second claims a day: four hours is the most the host grants
    assert not g.http("GET", "/studies", "127.0.0.1", BREAK_GLASS)
    assert "window closed at" in records(g)[0]["reason"]
