"""The access-control holes an outside attack run found, each probed the way the attacker did it."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import tempfile
import time
from pathlib import Path

import pytest

from pacsguard.posture.clients import credential_lines, https, tls_context
from pacsguard.posture.conftest import in_netns, need, user_with_role
from pacsguard.posture.dicom_files import unique_ct

control = pytest.mark.control

# Hole 1: PUT a destination over REST, then push a study there in clear text.
DESTINATION_WRITES = [
    ("PUT", "/modalities/PACSGUARD-PROBE", {"AET": "EVIL", "Host": "192.0.2.1", "Port": 104}),
    ("PUT", "/peers/pacsguard-probe", {"Url": "http://192.0.2.1:8042/"}),
    ("PUT", "/dicom-web/servers/pacsguard-probe", {"Url": "http://192.0.2.1/dicom-web/"}),
    ("POST", "/modalities/PACSGUARD-PROBE/store", ["nonexistent"]),
    ("POST", "/peers/pacsguard-probe/store", ["nonexistent"]),
    ("POST", "/dicom-web/servers/pacsguard-probe/stow", {"Resources": ["nonexistent"]}),
    ("DELETE", "/modalities/PACSGUARD-PROBE", None),
]


@control("PACS-DANGEROUS-FEATURES")
@pytest.mark.parametrize(
    ("method", "path", "body"), DESTINATION_WRITES, ids=[f"{m} {p}" for m, p, _ in DESTINATION_WRITES]
)
def test_export_destinations_cannot_be_written_over_rest(stack: dict, method: str, path: str, body: object) -> None:
    admin = user_with_role(stack["_users"], "admin")
    data = json.dumps(body).encode() if body is not None else None
    assert https(stack, method, path, admin, body=data)[0] == 403, f"admin {method} {path} was not refused"


@control("PACS-DANGEROUS-FEATURES")
def test_configured_modalities_cannot_be_sent_to_over_rest(stack: dict) -> None:
    admin = user_with_role(stack["_users"], "admin")
    aet = stack["modalities"][-1]["aet"]
    assert https(stack, "POST", f"/modalities/{aet}/store", admin, body=b'["nonexistent"]')[0] == 403


def _connect_as(target: dict, host, user: str, address: str, port: int) -> str:
    """Connect from inside the PACS host as `user`; 'ok' or the error's name."""
    script = (
        "import socket,sys\n"
        "try:\n"
        f"    socket.create_connection(({address!r}, {port}), 3).close(); print('ok')\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n"
    )
    cmd = in_netns(target, f'setpriv --reuid={user} --regid={user} --clear-groups /usr/bin/python3 -c "{script}"')
    return host.run(cmd).stdout.strip()


@control("HOST-FIREWALL")
@pytest.mark.parametrize("user", ["orthanc", "www-data"])
def test_pacs_users_reach_no_unconfigured_destination(target: dict, host, user: str) -> None:
    """A listener outside the PACS (this machine, on the PACS's link) that root on the PACS host reaches:
    Orthanc and nginx's workers must not."""
    address = need(target, "source_addresses")["unbound"]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        try:
            listener.bind((address, 0))
        except OSError:
            pytest.skip(f"this machine does not hold the target's link address {address}")
        listener.listen(8)
        port = listener.getsockname()[1]
        assert _connect_as(target, host, "root", address, port) == "ok", "the probe listener is not reachable at all"
        assert _connect_as(target, host, user, address, port) != "ok", f"{user} reached an unconfigured destination"


def _upload(stack: dict) -> str:
    technologist = user_with_role(stack["_users"], "technologist")
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = unique_ct(Path(tmp))
        code, body, _ = https(stack, "POST", "/instances", technologist, body=path.read_bytes())
    assert code == 200, f"upload failed ({code})"
    return json.loads(body)["ID"]


ATTACHMENT_SPELLINGS = [
    "attachments/1/data",
    "attachments/1/compressed-data",
    "attachments/dicom/data",
    "attachments/%31/data",
    "./attachments/1/data",
]


@control("PACS-RBAC")
@pytest.mark.parametrize("spelling", ATTACHMENT_SPELLINGS)
def test_no_spelling_of_the_dicom_file_reaches_a_technologist(stack: dict, spelling: str) -> None:
    instance = _upload(stack)
    technologist = user_with_role(stack["_users"], "technologist")
    radiologist = user_with_role(stack["_users"], "radiologist")
    path = f"/instances/{instance}/{spelling}"
    assert https(stack, "GET", path, radiologist)[0] == 200, f"{path} is not a route Orthanc serves"
    assert https(stack, "GET", path, technologist)[0] == 403, f"a technologist downloaded the file via {path}"


@control("PACS-ATNA-AUDIT")
def test_an_archive_jobs_output_is_refused(stack: dict) -> None:
    """An asynchronous POST .../archive leaves the ZIP as a job's output, whose route names no study: no export
    record could name what it releases, so nobody may fetch it (the synchronous POST serves the same ZIP)."""
    admin = user_with_role(stack["_users"], "admin")
    instance = _upload(stack)
    code, body, _ = https(stack, "GET", f"/instances/{instance}/study", admin)
    assert code == 200
    study = json.loads(body)["ID"]
    code, body, _ = https(stack, "POST", f"/studies/{study}/archive", admin, body=b'{"Asynchronous": true}')
    assert code == 200, f"the probe could not start an archive job ({code})"
    job = json.loads(body)["ID"]
    deadline = time.monotonic() + 20
    while True:  # the job writes the ZIP; once it is done, its output is what a GET would hand out
        code, body, _ = https(stack, "GET", f"/jobs/{job}", admin)
        if code != 200 or json.loads(body)["State"] in ("Success", "Failure") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert https(stack, "GET", f"/jobs/{job}/archive", admin)[0] == 403, "admin fetched a job's ZIP unrecorded"


CROSS_SITE = {
    "text/plain from another site": {"Origin": "https://evil.example", "Content-Type": "text/plain"},
    "form from another site": {"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
    "json from another site": {"Origin": "https://evil.example", "Content-Type": "application/json"},
    "fetch metadata cross-site": {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
    "text/plain without origin": {"Content-Type": "text/plain"},
}


@control("PACS-HTTP-HARDENING")
@pytest.mark.parametrize("case", CROSS_SITE)
def test_cross_site_state_changes_are_refused(stack: dict, case: str) -> None:
    admin = user_with_role(stack["_users"], "admin")
    body = b'{"Resources": []}'
    assert https(stack, "POST", "/tools/bulk-delete", admin, body=body, headers=CROSS_SITE[case])[0] == 403


@control("PACS-HTTP-HARDENING")
def test_same_site_state_change_is_served(stack: dict) -> None:
    """The positive control of the cross-site probes: the same request from the PACS's own origin works."""
    admin = user_with_role(stack["_users"], "admin")
    origin = stack["https_url"].rstrip("/")
    headers = {"Origin": origin, "Content-Type": "application/json"}
    assert https(stack, "POST", "/tools/bulk-delete", admin, body=b'{"Resources": []}', headers=headers)[0] == 200


@control("PACS-DANGEROUS-FEATURES")
@pytest.mark.parametrize(("method", "path"), [("PUT", "/tools/log-level"), ("PUT", "/tools/log-level-dicom")])
def test_log_level_cannot_be_raised(stack: dict, method: str, path: str) -> None:
    admin = user_with_role(stack["_users"], "admin")
    assert https(stack, method, path, admin, body=b"trace", headers={"Content-Type": "text/x-log-level"})[0] == 403


def _slow_upload(stack: dict, source: str, credentials: str) -> ssl.SSLSocket:
    host = stack["https_url"].split("//")[1].split("/")[0]
    raw = socket.create_connection((host, 443), timeout=10, source_address=(source, 0))
    tls = tls_context(stack["ca_cert"]).wrap_socket(raw, server_hostname=host)
    tls.sendall(
        f"POST /instances HTTP/1.1\r\nHost: {host}\r\n{credentials}"
        "Content-Type: application/dicom\r\nContent-Length: 1000000\r\n\r\n".encode()
        + b"\0" * 64
    )
    return tls


@control("PACS-HTTP-HARDENING")
def test_slow_uploads_do_not_starve_other_users(stack: dict) -> None:
    """60 uploads that stall after their first bytes (more than Orthanc's 50 HTTP threads), from the two
    addresses the target lends its verifier; another user must still be served."""
    sources = need(stack, "source_addresses")
    technologist = user_with_role(stack["_users"], "technologist")
    admin = user_with_role(stack["_users"], "admin")
    credentials = credential_lines(stack, technologist)
    held: list[ssl.SSLSocket] = []
    try:
        for source in (sources["bound"], sources["unbound"]):
            for _ in range(30):
                held.append(_slow_upload(stack, source, credentials))
        time.sleep(1)  # let nginx hand whatever it streams to Orthanc
        assert https(stack, "GET", "/system", admin)[0] == 200, "slow uploads starved the other users"
    finally:
        for sock in held:
            sock.close()


def _raw_token(stack: dict, exp: str, payload: str) -> str:
    """An ES256 token over exact JSON texts (NaN and Infinity included), signed with the key the target trusts:
    its local signer's, or the load balancer's (whose header also names the key and the ALB)."""
    from pacsguard.posture.alb import sign_text

    header = f'{{"alg":"ES256","typ":"JWT","exp":{exp}'
    if stack.get("alb"):
        header += f',"kid":{json.dumps(stack["alb"]["kid"])},"signer":{json.dumps(stack["alb"]["signer"])}'
    return sign_text(Path(need(stack, "jwt_signing_key")).read_bytes(), header + "}", payload)


# (exp, iat) as JSON number text, from the current time.
TOKEN_TIMES = {
    "valid": lambda now: (str(now + 60), str(now)),
    "exp NaN": lambda now: ("NaN", str(now)),
    "exp Infinity": lambda now: ("Infinity", str(now)),
    "exp year 2200": lambda now: ("7258118400", str(now)),
    "no iat": lambda now: (str(now + 60), None),
    "lifetime of a day": lambda now: (str(now + 86400), str(now)),
}


@control("PACS-HTTP-AUTH")
@pytest.mark.parametrize("case", TOKEN_TIMES)
def test_token_times_are_bounded(stack: dict, case: str) -> None:
    if case == "no iat" and stack.get("alb"):
        pytest.skip("the ALB's header carries no iat (AWS signs exp only): the expiry bound cases cover it")
    exp, iat = TOKEN_TIMES[case](int(time.time()))
    claims = f'"email":"probe@pacsguard.test","custom:pacs_role":"radiologist","exp":{exp}'
    if iat:
        claims += f',"iat":{iat}'
    token = _raw_token(stack, exp, "{" + claims + "}")
    code = https(stack, "GET", "/studies", headers={"x-amzn-oidc-data": token})[0]
    if case == "valid":
        assert code == 200, f"a valid token was refused ({code}): the probe cannot tell"
    else:
        assert code in (401, 403), f"token with {case} accepted"


@control("HOST-FIREWALL")
@pytest.mark.parametrize("user", ["root", "orthanc"])
def test_no_local_process_but_nginx_reaches_orthanc_http(target: dict, host, user: str) -> None:
    """Whoever reaches Orthanc's loopback HTTP port chooses the X-Real-IP the audit records."""
    port = target.get("orthanc_http_port", 8042)
    if target.get("host_backend", "local://") == "local://":
        need(target, "netns")  # this machine is not the PACS host: its namespace is
    assert _connect_as(target, host, user, "127.0.0.1", port) != "ok", f"{user} reached Orthanc's HTTP port"


@control("PACS-ATNA-AUDIT")
def test_a_client_cannot_choose_its_recorded_address(stack: dict) -> None:
    radiologist = user_with_role(stack["_users"], "radiologist")
    auditor = user_with_role(stack["_users"], "auditor")
    forged = "203.0.113.66"
    https(stack, "GET", "/studies", radiologist, headers={"X-Real-IP": forged, "X-Forwarded-For": forged})
    code, body, _ = https(stack, "GET", "/pacsguard/audit", auditor)
    assert code == 200
    assert forged not in body.decode(), "the audit trail records an address the client chose"


def _alb_forgery(alb_cfg: dict, case: str, claims: dict) -> str:
    """A header that claims to be the ALB's and is not: what an attacker who reaches the host can send."""
    import uuid

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from pacsguard.posture import alb

    if case == "signed by another key":
        forger = ec.generate_private_key(ec.SECP256R1())
        with tempfile.NamedTemporaryFile("wb", suffix=".pem") as fh:
            fh.write(forger.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
            fh.flush()
            return alb.sign({**alb_cfg, "signing_key": fh.name}, claims)
    if case == "another load balancer of the region":
        return alb.sign(alb_cfg, claims, signer=alb_cfg["signer"] + "-another")
    if case == "unknown key id":
        return alb.sign(alb_cfg, claims, kid=str(uuid.uuid4()))
    header = json.dumps({**alb.header_fields(alb_cfg, time.time() + 60), "alg": "none"}).encode()
    payload = json.dumps({**claims, "exp": int(time.time() + 60)}).encode()
    return f"{base64.urlsafe_b64encode(header).decode()}.{base64.urlsafe_b64encode(payload).decode()}."


ALB_FORGERIES = ("signed by another key", "another load balancer of the region", "unknown key id", "unsigned")


@control("PACS-HTTP-AUTH")
@pytest.mark.parametrize("case", ALB_FORGERIES)
def test_a_load_balancer_header_it_cannot_trust_is_refused(stack: dict, case: str) -> None:
    """Behind an ALB the host trusts its own load balancer's signature only: the key its region publishes under
    the header's key id, and the signer pinned to the stack's ALB."""
    from pacsguard.posture import alb

    alb_cfg = need(stack, "alb")
    claims = {"sub": alb.subject("forger"), "email": "forger@example.org", "custom:pacs_role": "admin"}
    assert https(stack, "GET", "/studies", headers={alb.JWT_HEADER: alb.sign(alb_cfg, claims)})[0] == 200, (
        "the load balancer's own header was refused: the probe cannot tell"
    )
    code = https(stack, "GET", "/studies", headers={alb.JWT_HEADER: _alb_forgery(alb_cfg, case, claims)})[0]
    assert code in (401, 403), f"a header {case} was accepted ({code})"
