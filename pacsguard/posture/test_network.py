"""Only the intended ports answer from outside the host."""

from __future__ import annotations

import pytest

from pacsguard.posture.clients import reachable

control = pytest.mark.control
PROBED = (22, 80, 104, 4242, 5432, 8042, 11112)


def _host(stack: dict) -> str:
    return stack["dicom"]["host"]


@control("HOST-FIREWALL")
def test_https_and_dicom_tls_are_reachable(stack: dict) -> None:
    assert reachable(_host(stack), 443) and reachable(_host(stack), stack["dicom"]["port"])


@control("HOST-FIREWALL")
def test_orthanc_http_and_the_database_are_unreachable(stack: dict) -> None:
    host = _host(stack)
    assert not reachable(host, stack.get("orthanc_http_port", 8042), timeout=0.5), "Orthanc's plain-HTTP port answers"
    assert not reachable(host, stack.get("database_port", 5432), timeout=0.5), "PostgreSQL answers"


@control("HOST-FIREWALL")
def test_no_other_port_answers(stack: dict) -> None:
    open_ports = [
        p for p in PROBED if p not in (443, stack["dicom"]["port"]) and reachable(_host(stack), p, timeout=0.3)
    ]
    assert not open_ports, f"unexpected open ports: {open_ports}"
