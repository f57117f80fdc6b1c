"""nginx's DICOM connection lines become audit records, refusals with their reason, joined to Orthanc's refusals."""

from __future__ import annotations

import datetime as dt

import pacsguard_dicomedge as edge
import pytest

NOW = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)
OK = {
    "time": NOW.isoformat(), "listener": "198.18.0.2:2762", "client": "198.18.0.1", "status": "200",
    "verify": "SUCCESS", "fingerprint": "ab" * 20, "serial": "0A1B", "subject": "CN=CT1,O=PACSGuard",
    "certificate_aet": "CT1", "bound": "127.0.64.1", "protocol": "TLSv1.2", "cipher": "ECDHE-RSA-AES128-GCM-SHA256",
    "upstream": "127.0.0.1:4242", "bytes_in": "90", "bytes_out": "290", "duration": "0.100",
}  # fmt: skip


def records(*lines: dict, refusals: tuple[tuple[dict, float], ...] = ()) -> list[dict]:
    out: list[dict] = []
    audit = edge.EdgeAudit(out.append, relay_port="4243")
    for fields, when in refusals:
        audit.orthanc_refusal(fields, when)
    for line in lines:
        audit.connection(line)
    return out


def test_accepted_connection_names_its_address_certificate_and_ae() -> None:
    (rec,) = records(OK)
    assert (rec["event_id"], rec["outcome"], rec["ae_title"], rec["source_ip"]) == ("110114", "0", "CT1", "198.18.0.1")
    assert rec["certificate_fingerprint"] == "ab" * 20 and rec["tls"] == "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"verify": "FAILED:certificate revoked", "upstream": "", "bound": ""}, "certificate revoked"),
        ({"certificate_aet": "", "bound": "", "upstream": "", "status": "500"}, "no listed modality"),
        ({"client": "198.18.0.9", "bound": "", "upstream": "", "status": "500"}, "not its modality's address"),
        ({"verify": "NONE", "fingerprint": "", "cipher": "(NONE)", "status": "500"}, "handshake not completed"),
        ({"status": "503", "verify": "NONE", "fingerprint": ""}, "too many connections"),
        ({"upstream": "", "bytes_in": "0"}, "first-PDU timeout"),
    ],
)
def test_every_refusal_is_a_security_alert_with_its_reason(change: dict, reason: str) -> None:
    (rec,) = records({**OK, **change})
    assert (rec["event_id"], rec["outcome"]) == ("110113", "4")
    assert reason in rec["reason"] and rec["source_ip"] == change.get("client", "198.18.0.1")


def test_orthanc_refusal_on_the_certificates_address_is_joined_to_the_calling_ae() -> None:
    refusal = {"ae_title": "WS1", "source_ip": "127.0.64.1", "reason": "calling AE title not bound to this address"}
    (rec,) = records(OK, refusals=((refusal, NOW.timestamp() - 0.05),))
    assert (rec["outcome"], rec["ae_title"], rec["certificate_fingerprint"]) == ("4", "WS1", "ab" * 20)
    assert "certificate of CT1" in rec["reason"] and rec["source_ip"] == "198.18.0.1"


def test_an_old_refusal_is_not_joined_to_a_later_connection() -> None:
    refusal = {"ae_title": "WS1", "source_ip": "127.0.64.1", "reason": "x"}
    (rec,) = records(OK, refusals=((refusal, NOW.timestamp() - 60),))
    assert rec["outcome"] == "0" and rec["ae_title"] == "CT1"


def test_relay_connections_are_exports() -> None:
    (rec,) = records({**OK, "listener": "127.0.64.2:4243", "upstream": "198.18.0.5:11112", "verify": "NONE"})
    assert (rec["event_id"], rec["outcome"], rec["destination"]) == ("110106", "0", "198.18.0.5:11112")
