"""DICOM over mutual TLS: allowed modalities succeed; every other way in is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pynetdicom.sop_class import Verification

from orthanc_config import pki
from pacsguard.posture.clients import (
    FIND,
    associate,
    audit_lines,
    echo_status,
    find_statuses,
    modality,
    modality_ctx,
    tls_context,
)
from pacsguard.posture.dicom_files import md5, unique_ct

pytestmark = pytest.mark.host


def dcmtk(stack: dict, tool: str, aet: str, *files: Path, called: str | None = None) -> subprocess.CompletedProcess:
    m, d = modality(stack, aet), stack["dicom"]
    cmd = [tool, "-aet", aet, "-aec", called or d["called_aet"], "+tls", m["key"], m["cert"], "+cf", stack["ca_cert"],
           d["host"], str(d["port"]), *map(str, files)]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_dcmtk_echo_and_store_over_mutual_tls(stack: dict, tmp_path: Path) -> None:
    assert dcmtk(stack, "echoscu", "MODALITY_CT").returncode == 0
    path, ds = unique_ct(tmp_path)
    res = dcmtk(stack, "storescu", "MODALITY_CT", path)
    assert res.returncode == 0, res.stderr
    recs = [r for r in audit_lines(stack) if r.get("instance_uid") == ds.SOPInstanceUID]
    assert (
        recs and recs[0]["ae_title"] == "MODALITY_CT" and recs[0]["event_id"] == "110104" and recs[0]["outcome"] == "0"
    )
    # The record names the study and series too, as Orthanc itself read them from the received header.
    assert (recs[0].get("study_uid"), recs[0].get("series_uid")) == (ds.StudyInstanceUID, ds.SeriesInstanceUID)


def test_pynetdicom_echo_and_store_over_mutual_tls(stack: dict, tmp_path: Path) -> None:
    assert echo_status(associate(stack, aet="MODALITY_CT", ctx=modality_ctx(stack, "MODALITY_CT"))) == 0
    _, ds = unique_ct(tmp_path)
    assoc = associate(stack, aet="MODALITY_CT", ctx=modality_ctx(stack, "MODALITY_CT"))
    assert assoc.is_established
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status.Status == 0


def test_stored_instance_is_retrievable_with_matching_md5(stack: dict, tmp_path: Path) -> None:
    from pacsguard.posture.clients import https

    path, ds = unique_ct(tmp_path)
    assert dcmtk(stack, "storescu", "MODALITY_CT", path).returncode == 0
    code, body, _ = https(stack, "POST", "/tools/lookup", "admin", body=ds.SOPInstanceUID.encode())
    assert code == 200
    orthanc_id = next(r["ID"] for r in __import__("json").loads(body) if r["Type"] == "Instance")
    code, data, _ = https(stack, "GET", f"/instances/{orthanc_id}/file", "radiologist1")
    assert code == 200
    import io

    import pydicom

    got = pydicom.dcmread(io.BytesIO(data))
    assert md5(got.PixelData) == md5(ds.PixelData) and got.SOPInstanceUID == ds.SOPInstanceUID


def test_plain_tcp_is_refused(stack: dict) -> None:
    assert not associate(stack, aet="MODALITY_CT").is_established


def test_tls_without_a_client_certificate_is_refused(stack: dict) -> None:
    assert echo_status(associate(stack, aet="MODALITY_CT", ctx=tls_context(stack["ca_cert"]))) is None


def test_certificate_from_another_ca_is_refused(stack: dict, tmp_path: Path) -> None:
    rogue = pki.create_ca(tmp_path, "Rogue CA", 10)
    cert = pki.issue(rogue, tmp_path, "MODALITY_CT", "MODALITY_CT", days=1, server=False)
    ctx = tls_context(stack["ca_cert"], str(cert.cert), str(cert.key))
    assert echo_status(associate(stack, aet="MODALITY_CT", ctx=ctx)) is None


def test_unknown_calling_ae_is_refused(stack: dict) -> None:
    assert not associate(stack, aet="INTRUDER", ctx=modality_ctx(stack, "MODALITY_CT")).is_established


def test_wrong_called_ae_is_refused(stack: dict) -> None:
    assert not associate(
        stack, aet="MODALITY_CT", called="ORTHANC", ctx=modality_ctx(stack, "MODALITY_CT")
    ).is_established


def test_operation_the_modality_lacks_is_refused(stack: dict) -> None:
    # MODALITY_CT may echo and store, not query.
    ct = associate(stack, aet="MODALITY_CT", ctx=modality_ctx(stack, "MODALITY_CT"), contexts=(Verification, FIND))
    statuses = find_statuses(ct)
    assert not statuses or all(s not in (0x0000, 0xFF00, 0xFF01) for s in statuses), statuses
    # ... while the workstation, which has find, gets answers.
    ws = associate(stack, aet="WORKSTATION_1", ctx=modality_ctx(stack, "WORKSTATION_1"), contexts=(Verification, FIND))
    assert find_statuses(ws)[-1] == 0x0000


def test_known_ae_from_an_address_it_is_not_bound_to_is_refused(stack: dict) -> None:
    unbound = stack["source_addresses"]["unbound"]
    assoc = associate(stack, aet="MODALITY_CT", ctx=modality_ctx(stack, "MODALITY_CT"), source=unbound)
    assert not assoc.is_established


def test_dicom_refusals_leave_audit_lines(stack: dict) -> None:
    import time

    associate(stack, aet="INTRUDER", ctx=modality_ctx(stack, "MODALITY_CT"))
    ct = associate(stack, aet="MODALITY_CT", ctx=modality_ctx(stack, "MODALITY_CT"), contexts=(Verification, FIND))
    find_statuses(ct)
    deadline = time.monotonic() + 5
    wanted = {("INTRUDER", "110113"), ("MODALITY_CT", "110112")}
    while time.monotonic() < deadline:
        got = {
            (r.get("ae_title"), r["event_id"])
            for r in audit_lines(stack)
            if r["layer"] == "orthanc-dicom" and r["outcome"] == "4"
        }
        if wanted <= got:
            break
        time.sleep(0.1)
    assert wanted <= got


def test_orthanc_answers_dicom_without_nagles_delay(stack: dict) -> None:
    """DCMTK keeps Nagle's algorithm on unless TCP_NODELAY=1 is in its environment: every C-STORE response then
    waited for the peer's delayed ACK, capping one association near 20 instances/s (issue 18)."""
    pid = int((Path(stack["state_dir"]) / "orthanc.pid").read_text().split()[0])
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "Orthanc"
    environ = dict(
        item.split(b"=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if b"=" in item
    )
    assert environ.get(b"TCP_NODELAY") == b"1"
