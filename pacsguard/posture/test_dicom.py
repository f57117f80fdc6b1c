"""DICOM as a modality and as an intruder would try it: mutual TLS, the AE allow-list, rights, robustness."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
import struct
from pathlib import Path

import pytest
from pynetdicom.sop_class import CTImageStorage, Verification

from orthanc_config import pki
from pacsguard.posture.clients import (
    FIND,
    assert_old_tls_refused,
    associate,
    echo_status,
    find_statuses,
    modality_ctx,
    tls_context,
)
from pacsguard.posture.dicom_files import unique_ct
from pacsguard.posture.tls_probes import (
    ALLOWED_TLS12,
    BCP195_PROFILES,
    dcmtk_echo,
    idle_and_silent_peers,
    mozilla_intermediate_issues,
    tls12_handshake,
    tls12_suites,
)

control = pytest.mark.control


def _with_right(stack: dict, right: str, present: bool) -> dict:
    for m in stack["modalities"]:
        if (right in m.get("rights", [])) == present:
            return m
    pytest.skip(f"the target lists no modality {'with' if present else 'without'} the {right} right")
    raise AssertionError


@control("PACS-DICOM-TLS")
def test_allowed_modality_echoes_over_mutual_tls(stack: dict) -> None:
    m = _with_right(stack, "echo", True)
    assert echo_status(associate(stack, aet=m["aet"], ctx=modality_ctx(stack, m["aet"]))) == 0


@control("PACS-DICOM-TLS")
def test_plain_tcp_is_refused(stack: dict) -> None:
    m = stack["modalities"][0]
    assert not associate(stack, aet=m["aet"]).is_established, "DICOM answered without TLS"


@control("PACS-DICOM-TLS")
def test_tls_without_a_client_certificate_is_refused(stack: dict) -> None:
    m = stack["modalities"][0]
    assert echo_status(associate(stack, aet=m["aet"], ctx=tls_context(stack["ca_cert"]))) is None


@control("PACS-DICOM-TLS")
def test_certificate_from_an_untrusted_ca_is_refused(stack: dict, tmp_path: Path) -> None:
    m = stack["modalities"][0]
    rogue = pki.create_ca(tmp_path, "Rogue CA", 10)
    cert = pki.issue(rogue, tmp_path, "rogue", m["aet"], days=1, server=False)
    ctx = tls_context(stack["ca_cert"], str(cert.cert), str(cert.key))
    assert echo_status(associate(stack, aet=m["aet"], ctx=ctx)) is None


@control("PACS-DICOM-TLS")
def test_expired_certificate_is_refused(stack: dict, tmp_path: Path) -> None:
    if not stack.get("ca_key") or not Path(stack["ca_key"]).exists():
        pytest.skip("the target gives no CA key to issue an expired certificate with (ca_key)")
    m = stack["modalities"][0]
    ca = pki.Issued(Path(stack["ca_cert"]), Path(stack["ca_key"]))
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    cert = pki.issue(ca, tmp_path, "expired", m["aet"], days=1, server=False, not_before=old)
    ctx = tls_context(stack["ca_cert"], str(cert.cert), str(cert.key))
    assert echo_status(associate(stack, aet=m["aet"], ctx=ctx)) is None


@control("PACS-DICOM-TLS")
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_old_tls_versions_are_refused(stack: dict, version: str) -> None:
    assert_old_tls_refused(stack["dicom"]["host"], stack["dicom"]["port"], version, "the DICOM port")


@control("PACS-AE-ALLOWLIST")
def test_unknown_calling_ae_is_refused(stack: dict) -> None:
    m = stack["modalities"][0]
    assert not associate(stack, aet="INTRUDER", ctx=modality_ctx(stack, m["aet"])).is_established


@control("PACS-AE-ALLOWLIST")
def test_unknown_calling_ae_cannot_store(stack: dict, tmp_path: Path) -> None:
    m = stack["modalities"][0]
    assoc = associate(stack, aet="INTRUDER", ctx=modality_ctx(stack, m["aet"]), contexts=(CTImageStorage,))
    if not assoc.is_established:
        return
    _, ds = unique_ct(tmp_path)
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status is None or status.Status != 0, "an AE missing from the allow-list stored an image"


@control("PACS-AE-ALLOWLIST")
def test_wrong_called_ae_is_refused(stack: dict) -> None:
    m = stack["modalities"][0]
    assert not associate(stack, aet=m["aet"], called="NOT_THIS_PACS", ctx=modality_ctx(stack, m["aet"])).is_established


@control("PACS-AE-ALLOWLIST")
def test_operation_not_granted_is_refused_and_granted_one_works(stack: dict) -> None:
    lacking = _with_right(stack, "find", False)
    statuses = find_statuses(
        associate(stack, aet=lacking["aet"], ctx=modality_ctx(stack, lacking["aet"]), contexts=(Verification, FIND))
    )
    assert not statuses or all(s not in (0x0000, 0xFF00, 0xFF01) for s in statuses), f"{lacking['aet']} could query"
    granted = _with_right(stack, "find", True)
    assert (
        find_statuses(
            associate(stack, aet=granted["aet"], ctx=modality_ctx(stack, granted["aet"]), contexts=(Verification, FIND))
        )[-1]
        == 0
    )


@control("PACS-AE-ALLOWLIST")
def test_known_ae_from_an_unbound_address_is_refused(stack: dict) -> None:
    unbound = (stack.get("source_addresses") or {}).get("unbound")
    if not unbound:
        pytest.skip("the target offers no second source address to test AE-to-host binding from")
    m = stack["modalities"][0]
    assert not associate(stack, aet=m["aet"], ctx=modality_ctx(stack, m["aet"]), source=unbound).is_established


@control("PACS-DICOM-ROBUSTNESS")
def test_malformed_and_oversized_pdus_leave_dicom_answering(stack: dict) -> None:
    d = stack["dicom"]
    m = _with_right(stack, "echo", True)
    ctx = modality_ctx(stack, m["aet"])
    garbage = [
        b"\x01\x00" + b"\xff" * 64,  # an A-ASSOCIATE-RQ header with a nonsense body
        struct.pack(">BBI", 0x01, 0, 0xFFFFFFF0),  # a 4 GB PDU announced, never sent
        b"\x07\x00\x00\x00\x00\x04\x00\x00",  # an abort before any association
    ]
    for payload in garbage:
        with (
            socket.create_connection((d["host"], d["port"]), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname=d["host"]) as tls,
        ):
            tls.sendall(payload)
            tls.settimeout(2)
            with contextlib.suppress(TimeoutError, ssl.SSLError, OSError):
                tls.recv(64)
    assert echo_status(associate(stack, aet=m["aet"], ctx=ctx)) == 0, "DICOM stopped answering after malformed PDUs"


# --- The DICOM edge (nginx stream): TLS policy, certificate-to-AE binding, revocation, slow peers, audit. ---


def _audit_mark(stack: dict) -> int:
    from pacsguard.posture.clients import audit_lines

    return len(audit_lines(stack))


def _audit_record_for(stack: dict, fingerprint: str, after: int, timeout: float = 5.0) -> dict | None:
    """The audit record of the DICOM edge naming this certificate, written after line `after` (the plugin
    writes it within a poll or two)."""
    import time

    from pacsguard.posture.clients import audit_lines

    # The sink holds a connection's line a moment to join Orthanc's refusal to it: prefer the refusal, since an
    # earlier accepted connection with the same certificate may be the latest record until it arrives.
    deadline = time.monotonic() + timeout
    latest = None
    while time.monotonic() < deadline:
        for record in reversed(audit_lines(stack)[after:]):
            if record.get("layer") == "nginx-dicom" and record.get("certificate_fingerprint") == fingerprint:
                if record.get("outcome") != "0":
                    return record
                latest = latest or record
        time.sleep(0.1)
    return latest


@control("PACS-DICOM-TLS")
@pytest.mark.parametrize("profile", sorted(BCP195_PROFILES))
def test_dcmtk_bcp195_profiles_connect(stack: dict, profile: str) -> None:
    import shutil

    if shutil.which("echoscu") is None:
        pytest.skip("needs DCMTK's echoscu on the verifying machine (apt-get install dcmtk)")
    m = _with_right(stack, "echo", True)
    res = dcmtk_echo(stack, m["aet"], m["cert"], m["key"], profile)
    assert res.returncode == 0, f"{BCP195_PROFILES[profile]} ({profile}) failed: {res.stderr.strip()[-300:]}"


@control("PACS-DICOM-TLS")
def test_rsa_only_tls_1_2_modality_connects(stack: dict) -> None:
    m = _with_right(stack, "echo", True)
    d = stack["dicom"]
    assert tls12_handshake(d["host"], d["port"], "ECDHE-RSA-AES128-GCM-SHA256", m["cert"], m["key"]), (
        "a TLS 1.2 client offering only RSA-authenticated suites cannot connect (no RSA server certificate)"
    )


@control("PACS-DICOM-TLS")
def test_every_tls_1_2_suite_without_forward_secrecy_and_aead_is_refused(stack: dict) -> None:
    m = _with_right(stack, "echo", True)
    d = stack["dicom"]
    accepted = [
        s
        for s in tls12_suites()
        if s not in ALLOWED_TLS12 and tls12_handshake(d["host"], d["port"], s, m["cert"], m["key"])
    ]
    assert not accepted, f"the DICOM port accepts {accepted}"


@control("PACS-DICOM-TLS")
@pytest.mark.parametrize("port_key", ["dicom", "https"])
def test_port_meets_mozilla_intermediate(stack: dict, port_key: str) -> None:
    pytest.importorskip("sslyze", reason="needs sslyze (pip install sslyze)")
    m = _with_right(stack, "echo", True)
    host = stack["dicom"]["host"]
    if port_key == "dicom":
        issues = mozilla_intermediate_issues(host, stack["dicom"]["port"], stack["ca_cert"], m["cert"], m["key"])
    else:
        from urllib.parse import urlsplit

        url = urlsplit(stack["https_url"])
        issues = mozilla_intermediate_issues(url.hostname or host, url.port or 443, stack["ca_cert"])
    assert issues == {}, f"{port_key}: {issues}"


@control("PACS-DICOM-TLS")
def test_served_certificates_do_not_expire_within_14_days(stack: dict) -> None:
    from urllib.parse import urlsplit

    from cryptography import x509

    from orthanc_config.pki_lifecycle import FAIL_DAYS

    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=FAIL_DAYS)
    url = urlsplit(stack["https_url"])
    m = _with_right(stack, "echo", True)
    served = {
        "dicom": _peer_certificate(stack["dicom"]["host"], stack["dicom"]["port"], m["cert"], m["key"]),
        "https": _peer_certificate(url.hostname or "", url.port or 443),
    }
    expiries = {where: pki.not_after(x509.load_der_x509_certificate(der)) for where, der in served.items()}
    expiring = [f"{where} {when:%Y-%m-%d}" for where, when in expiries.items() if when < soon]
    inventory = stack.get("pki_inventory")
    if inventory and Path(inventory).exists():
        from orthanc_config.cert_inventory import Inventory

        expiring += [f"{r.name} {r.not_after[:10]}" for r in Inventory.load(Path(inventory).parent).active()
                     if r.expires < soon]  # fmt: skip
    assert not expiring, f"certificates expiring within {FAIL_DAYS} days: {expiring}"


def _peer_certificate(host: str, port: int, cert: str | None = None, key: str | None = None) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if cert and key:
        ctx.load_cert_chain(cert, key)
    with socket.create_connection((host, port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der, f"{host}:{port} sent no certificate"
    return der


@control("PACS-AE-ALLOWLIST")
def test_a_valid_certificate_under_another_ae_title_is_refused_and_audited(stack: dict) -> None:
    holder, other = stack["modalities"][0], stack["modalities"][1]
    mark = _audit_mark(stack)
    assoc = associate(stack, aet=other["aet"], ctx=modality_ctx(stack, holder["aet"]))
    established = assoc.is_established
    if established:
        assoc.release()
    assert not established, f"{holder['aet']}'s certificate was accepted as {other['aet']}"
    fingerprint = pki.fingerprint(pki.load_cert(Path(holder["cert"])))
    record = _audit_record_for(stack, fingerprint, mark)
    assert record and record["outcome"] == "4" and record.get("source_ip"), f"no refusal audited: {record}"


@control("PACS-AE-ALLOWLIST")
def test_a_ca_issued_certificate_of_no_modality_is_refused_and_audited(stack: dict, tmp_path: Path) -> None:
    if not stack.get("ca_key") or not Path(stack["ca_key"]).exists():
        pytest.skip("the target gives no CA key to issue a certificate of no modality with (ca_key)")
    ca = pki.Issued(Path(stack["ca_cert"]), Path(stack["ca_key"]))
    stranger = pki.issue(ca, tmp_path, "stranger", "SOME_OTHER_DEVICE", days=1, server=False)
    ctx = tls_context(stack["ca_cert"], str(stranger.cert), str(stranger.key))
    mark = _audit_mark(stack)
    for aet in (stack["modalities"][0]["aet"], "OTHER_DEVICE"):
        assert echo_status(associate(stack, aet=aet, ctx=ctx)) is None, f"a certificate of no modality worked as {aet}"
    record = _audit_record_for(stack, pki.fingerprint(pki.load_cert(stranger.cert)), mark)
    assert record and record["outcome"] == "4" and record.get("source_ip"), f"no refusal audited: {record}"


@control("PACS-DICOM-TLS")
def test_a_revoked_certificate_is_refused_on_the_crl(stack: dict) -> None:
    probe = stack.get("revoked_probe")
    if not probe or not Path(probe["key"]).exists():
        pytest.skip("the target names no revoked certificate to probe with (revoked_probe)")
    ctx = tls_context(stack["ca_cert"], probe["cert"], probe["key"])
    mark = _audit_mark(stack)
    assert echo_status(associate(stack, aet=probe["aet"], ctx=ctx)) is None, "a revoked certificate was accepted"
    record = _audit_record_for(stack, pki.fingerprint(pki.load_cert(Path(probe["cert"]))), mark)
    assert record and "revoked" in record.get("reason", ""), f"refused, but not on the CRL: {record}"


@control("PACS-DICOM-ROBUSTNESS")
def test_idle_sockets_and_silent_tls_sessions_do_not_hold_the_pacs(stack: dict) -> None:
    unbound = (stack.get("source_addresses") or {}).get("unbound")
    if not unbound:
        pytest.skip("the target offers no second source address for the idle peers (source_addresses.unbound)")
    m = _with_right(stack, "echo", True)
    with idle_and_silent_peers(stack, 5, m["cert"], m["key"], idle_from=unbound, silent_from=None):
        # The modality gives the PACS 2 s for the whole C-ECHO. Its own client timeouts do not bound a read
        # stuck behind a held Orthanc, so the echo runs in a thread that is given up on after 2 s.
        import threading

        outcome: list[int | None] = []
        echo = threading.Thread(
            target=lambda: outcome.append(
                echo_status(associate(stack, aet=m["aet"], ctx=modality_ctx(stack, m["aet"]), timeout=2))
            ),
            daemon=True,
        )
        echo.start()
        echo.join(2.0)
        assert outcome == [0], "a legitimate C-ECHO was held up beyond 2 s by 5 idle sockets and 5 silent sessions"
