"""HTTPS: authentication first, then exactly the routes of each role; dangerous routes refused to all."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from orthanc_config.plugin.pacsguard_identity import sign_jwt
from pacsguard.posture.clients import audit_lines, https
from pacsguard.posture.dicom_files import md5, unique_ct
from pacsguard.posture.test_https import ROLE_ROUTES, ROUTES

pytestmark = pytest.mark.host

# The role -> route table is the posture suite's; the sample users are named after their roles.
EXPECTED = {("admin" if role == "admin" else f"{role}1"): routes for role, routes in ROLE_ROUTES.items()}


@pytest.mark.parametrize("user", list(EXPECTED))
def test_each_role_gets_exactly_its_routes(stack: dict, user: str) -> None:
    for name, (method, path) in ROUTES.items():
        body = b'{"Level": "Study", "Query": {}}' if method == "POST" else None
        code, _, _ = https(stack, method, path, user, body=body)
        assert code == (200 if name in EXPECTED[user] else 403), f"{user} {method} {path} -> {code}"


@pytest.mark.parametrize(("user", "password"), [(None, None), ("admin", "wrong-password"), ("orthanc", "orthanc")])
def test_bad_or_default_credentials_get_401(stack: dict, user: str | None, password: str | None) -> None:
    code, body, _ = https(stack, "GET", "/studies", user, password)
    assert code == 401
    assert b"Orthanc" not in body and b"nginx/" not in body


def test_admin_cannot_execute_scripts_or_export_to_the_file_system(stack: dict) -> None:
    assert https(stack, "POST", "/tools/execute-script", "admin", body=b'print("x")')[0] == 403
    assert https(stack, "POST", "/instances/0/export", "admin", body=b"/tmp/x.dcm")[0] == 403
    assert not Path("/tmp/x.dcm").exists()


def test_upload_by_technologist_keeps_the_exact_bytes(stack: dict, tmp_path: Path) -> None:
    import json

    path, _ = unique_ct(tmp_path)
    data = path.read_bytes()
    code, body, _ = https(stack, "POST", "/instances", "technologist1", body=data)
    assert code == 200
    instance = json.loads(body)["ID"]
    code, got, _ = https(stack, "GET", f"/instances/{instance}/file", "radiologist1")
    assert code == 200 and md5(got) == md5(data)
    assert https(stack, "GET", f"/instances/{instance}/file", "technologist1")[0] == 403  # read, not download


def test_security_headers_and_hsts(stack: dict) -> None:
    code, _, headers = https(stack, "GET", "/healthz")
    assert code == 200
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_gzip_body_is_refused_and_server_stays_up(stack: dict) -> None:
    code, _, _ = https(
        stack, "POST", "/instances", "admin", body=b"\x1f\x8b" + b"\0" * 64, headers={"Content-Encoding": "gzip"}
    )
    assert code == 415
    assert https(stack, "GET", "/system", "admin")[0] == 200


def test_signed_identity_token_gives_its_role(stack: dict) -> None:
    key = serialization.load_pem_private_key(Path(stack["jwt_signing_key"]).read_bytes(), password=None)
    token = sign_jwt({"email": "dr.who@example.org", "custom:pacs_role": "radiologist", "exp": time.time() + 60}, key)
    assert https(stack, "GET", "/studies", headers={"x-amzn-oidc-data": token})[0] == 200
    assert https(stack, "GET", "/system", headers={"x-amzn-oidc-data": token})[0] == 403
    rec = [r for r in audit_lines(stack) if r.get("user") == "dr.who@example.org"]
    assert {r["outcome"] for r in rec} == {"0", "4"}


def test_every_decision_leaves_an_audit_line(stack: dict) -> None:
    https(stack, "GET", "/pacsguard/audit", "radiologist1")  # refused
    https(stack, "GET", "/studies", "radiologist1")  # allowed
    https(stack, "POST", "/tools/execute-script", "admin", body=b"x")  # security alert
    lines = audit_lines(stack)
    lines = [r for r in lines if r["layer"] == "orthanc-http"]
    assert any(r["user"] == "radiologist1" and r["path"] == "/pacsguard/audit" and r["outcome"] == "4" for r in lines)
    assert any(r["user"] == "radiologist1" and r["path"] == "/studies" and r["outcome"] == "0" for r in lines)
    assert any(r["user"] == "admin" and r["event_id"] == "110113" and r["outcome"] == "8" for r in lines)
    https(stack, "GET", "/studies", "admin", "wrong-password")
    failures = Path(stack["auth_failure_log"]).read_text().splitlines()
    assert any('"user":"admin"' in f and '"event_id":"110114"' in f for f in failures)


def test_requests_are_refused_while_the_audit_sink_cannot_be_reached(stack: dict, tmp_path: Path) -> None:
    """Fail closed: close the sink's socket to the orthanc user, then restore it."""
    import os

    from pacsguard.posture.clients import associate, modality_ctx

    sink = Path(stack["audit_socket"])
    mode = sink.stat().st_mode & 0o777
    os.chmod(sink, 0o600)
    try:
        assert https(stack, "GET", "/studies", "admin")[0] == 403
        _, ds = unique_ct(tmp_path)
        assoc = associate(stack, aet="MODALITY_CT", ctx=modality_ctx(stack, "MODALITY_CT"))
        status = assoc.send_c_store(ds)
        assoc.release()
        assert status.Status != 0  # not acknowledged: the modality keeps the image and retries
    finally:
        os.chmod(sink, mode)
    assert https(stack, "GET", "/studies", "admin")[0] == 200


def test_large_instances_download_whole(stack: dict, tmp_path: Path) -> None:
    """nginx buffers large responses on disk: a truncated image would be silent data corruption."""
    import json

    from benchmarks.instances import instance

    ds = instance("CR")  # 8 MB of pixel data
    path = tmp_path / "cr.dcm"
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    code, body, _ = https(stack, "POST", "/instances", "technologist1", body=data)
    assert code == 200
    code, got, _ = https(stack, "GET", f"/instances/{json.loads(body)['ID']}/file", "radiologist1")
    assert code == 200 and md5(got) == md5(data)
