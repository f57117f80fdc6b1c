"""Failed sign-ins: past the limit that user from that address is refused, right password or not, until the
failures age out; a colleague at the same address signs in on; spraying many users locks the address."""

from __future__ import annotations

import base64
import socket
import threading
from pathlib import Path

import pacsguard_guard as guard_mod
import pacsguard_lockout as lockout
import pacsguard_syslog as syslog
import pytest

ROLES = {"alice": "radiologist", "bob": "radiologist", "pacsguard-gateway": "gateway"}
GUESSER, ELSEWHERE = "198.18.0.66", "198.18.0.7"


def basic(user: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:x".encode()).decode()}


def via_nginx(address: str, headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "x-real-ip": address}


SINK_RECORDS: dict[str, list[dict]] = {}


def _sink(rx: socket.socket, seen: list[dict]) -> None:
    """The audit sink's part: store each record and acknowledge it (no log file is followed any more)."""
    while True:
        data, addr = rx.recvfrom(65536)
        seen.append(syslog.parse_record(data)[1])
        if addr:
            rx.sendto(b"stored", addr)


@pytest.fixture
def guard(tmp_path: Path) -> guard_mod.Guard:
    path = str(tmp_path / "sink.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    SINK_RECORDS[path] = []
    threading.Thread(target=_sink, args=(rx, SINK_RECORDS[path]), daemon=True).start()
    settings = guard_mod.GuardSettings(
        ROLES, str(tmp_path / "audit.jsonl"), "basic", audit_socket=path,
        max_auth_failures=3, max_auth_failures_per_address=5,
    )  # fmt: skip
    return guard_mod.Guard(settings)


def report_failure(g: guard_mod.Guard, address: str, user: str = "alice") -> None:
    """What nginx does on a 401: the gateway asks for /pacsguard/auth-failure, naming the user tried."""
    headers = via_nginx(address, {**basic("pacsguard-gateway"), "x-pacsguard-failed-user": user})
    if g.http("GET", "/pacsguard/auth-failure", "127.0.0.1", headers):
        g.sign_in_failed(headers)


def reads(g: guard_mod.Guard, address: str, user: str = "alice") -> bool:
    return g.http("GET", "/studies", "127.0.0.1", via_nginx(address, basic(user)))


def test_limit_counts_failures_in_a_window() -> None:
    limit = lockout.FailureLimit(max_failures=3, window_seconds=60)
    for t in (0, 1, 2):
        assert not limit.locked("a", now=t)
        limit.record("a", now=t)
    assert limit.locked("a", now=3) and not limit.locked("b", now=3)
    assert not limit.locked("a", now=61)  # the first failure aged out


def test_a_locked_out_user_is_refused_from_there_even_with_the_right_password(guard: guard_mod.Guard) -> None:
    for _ in range(3):
        report_failure(guard, GUESSER)
    assert not reads(guard, GUESSER)
    assert reads(guard, ELSEWHERE)  # the same user from elsewhere
    assert reads(guard, GUESSER, "bob")  # a colleague behind the same address
    # nginx's next failure report for that user is refused too: a hit and a miss both look like 403
    headers = via_nginx(GUESSER, {**basic("pacsguard-gateway"), "x-pacsguard-failed-user": "alice"})
    assert not guard.http("GET", "/pacsguard/auth-failure", "127.0.0.1", headers)
    # The refusals reached the audit sink like every other record.
    records = SINK_RECORDS[guard.settings.audit_socket]
    refused = [r for r in records if r.get("reason") == "locked out after failed sign-ins"]
    assert refused and all(r["source_ip"] == GUESSER for r in refused)


def test_spraying_many_users_locks_the_address(guard: guard_mod.Guard) -> None:
    for n in range(5):
        report_failure(guard, GUESSER, user=f"user{n}")
    assert not reads(guard, GUESSER, "bob") and reads(guard, ELSEWHERE, "bob")


def test_a_request_without_credentials_is_not_a_guess(guard: guard_mod.Guard) -> None:
    for _ in range(6):
        report_failure(guard, GUESSER, user="")
    assert reads(guard, GUESSER)


def test_only_the_gateway_can_report_failures(guard: guard_mod.Guard) -> None:
    headers = via_nginx(ELSEWHERE, {**basic("alice"), "x-pacsguard-failed-user": "alice"})
    assert not guard.http("GET", "/pacsguard/auth-failure", "127.0.0.1", headers)
