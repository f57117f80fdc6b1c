"""Failed sign-ins: past the limit an address is refused, right password or not, until its failures age out."""

from __future__ import annotations

import base64
from pathlib import Path

import pacsguard_guard as guard_mod
import pacsguard_lockout as lockout
import pytest

ROLES = {"alice": "radiologist", "pacsguard-gateway": "gateway"}
GUESSER, COLLEAGUE = "198.18.0.66", "198.18.0.7"


def basic(user: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:x".encode()).decode()}


def via_nginx(address: str, headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "x-real-ip": address}


@pytest.fixture
def guard(tmp_path: Path) -> guard_mod.Guard:
    settings = guard_mod.GuardSettings(ROLES, str(tmp_path / "audit.jsonl"), "basic", max_auth_failures=3)
    return guard_mod.Guard(settings)


def report_failure(g: guard_mod.Guard, address: str, user: str = "alice") -> None:
    """What nginx does on a 401: the gateway asks for /pacsguard/auth-failure, naming the user tried."""
    headers = via_nginx(address, {**basic("pacsguard-gateway"), "x-pacsguard-failed-user": user})
    if g.http("GET", "/pacsguard/auth-failure", "127.0.0.1", headers):
        g.sign_in_failed(headers)


def test_limit_counts_failures_in_a_window() -> None:
    limit = lockout.FailureLimit(max_failures=3, window_seconds=60)
    for t in (0, 1, 2):
        assert not limit.locked("a", now=t)
        limit.record("a", now=t)
    assert limit.locked("a", now=3) and not limit.locked("b", now=3)
    assert not limit.locked("a", now=61)  # the first failure aged out


def test_a_locked_out_address_is_refused_even_with_the_right_password(guard: guard_mod.Guard) -> None:
    for _ in range(3):
        report_failure(guard, GUESSER)
    assert not guard.http("GET", "/studies", "127.0.0.1", via_nginx(GUESSER, basic("alice")))
    assert guard.http("GET", "/studies", "127.0.0.1", via_nginx(COLLEAGUE, basic("alice")))  # others unaffected
    # nginx's next failure report from that address is refused too: a hit and a miss both look like 403
    assert not guard.http("GET", "/pacsguard/auth-failure", "127.0.0.1", via_nginx(GUESSER, basic("pacsguard-gateway")))


def test_a_request_without_credentials_is_not_a_guess(guard: guard_mod.Guard) -> None:
    for _ in range(5):
        report_failure(guard, GUESSER, user="")
    assert guard.http("GET", "/studies", "127.0.0.1", via_nginx(GUESSER, basic("alice")))


def test_only_the_gateway_can_report_failures(guard: guard_mod.Guard) -> None:
    headers = via_nginx(COLLEAGUE, {**basic("alice"), "x-pacsguard-failed-user": "alice"})
    assert not guard.http("GET", "/pacsguard/auth-failure", "127.0.0.1", headers)
