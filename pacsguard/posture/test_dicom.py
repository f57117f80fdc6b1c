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
