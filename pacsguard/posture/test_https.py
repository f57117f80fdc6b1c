"""HTTPS as a user and an intruder would try it: authentication, roles, dangerous routes, hostile requests."""

from __future__ import annotations

import gzip
import re
import socket

import pytest

from pacsguard.posture.clients import assert_old_tls_refused, credential_lines, https, tls_context
from pacsguard.posture.conftest import need, user_with_role

control = pytest.mark.control

ROUTES = {
    "studies": ("GET", "/studies"),
    "system": ("GET", "/system"),
    "audit": ("GET", "/pacsguard/audit"),
    "find": ("POST", "/tools/find"),
}
ROLE_ROUTES = {
    "admin": {"studies", "system", "audit", "find"},
    "radiologist": {"studies", "find"},
    "technologist": {"studies"},
    "auditor": {"audit"},
    "service": {"system"},
}
LEAKS = re.compile(r"OrthancException|civetweb|\.cpp|Traceback|nginx/\d|Orthanc \d|HttpDescribeErrors", re.I)


@control("PACS-HTTP-AUTH")
@pytest.mark.parametrize("case", ["no credentials", "wrong password"])
def test_unauthenticated_requests_get_401(stack: dict, case: str) -> None:
    admin = user_with_role(stack["_users"], "admin")
    args = (None, None) if case == "no credentials" else (admin, "definitely-not-the-password")
    assert https(stack, "GET", "/studies", *args)[0] == 401


@control("PACS-NO-DEFAULT-CREDENTIALS")
@pytest.mark.parametrize(("user", "password"), [("orthanc", "orthanc"), ("admin", "admin"), ("admin", "password")])
def test_default_credentials_get_401(stack: dict, user: str, password: str) -> None:
    assert https(stack, "GET", "/system", user, password)[0] == 401


@control("PACS-RBAC")
@pytest.mark.parametrize("role", sorted(ROLE_ROUTES))
def test_each_role_gets_exactly_its_routes(stack: dict, role: str) -> None:
    user = user_with_role(stack["_users"], role)
    wrong = []
    for name, (method, path) in ROUTES.items():
        body = b'{"Level": "Study", "Query": {}}' if method == "POST" else None
        code = https(stack, method, path, user, body=body)[0]
        if code != (200 if name in ROLE_ROUTES[role] else 403):
            wrong.append(f"{method} {path} -> {code}")
    assert not wrong, f"{role} ({user}): {wrong}"


@control("PACS-DANGEROUS-FEATURES")
@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/tools/execute-script", b'print("pacsguard")'),
    ("POST", "/instances/0/export", b"/tmp/pacsguard-verify.dcm"),
    ("PROPFIND", "/webdav/", None),
])  # fmt: skip
def test_dangerous_routes_are_refused_even_for_admin(stack: dict, method: str, path: str, body: bytes | None) -> None:
    admin = user_with_role(stack["_users"], "admin")
    code = https(stack, method, path, admin, body=body)[0]
    assert code in (403, 404, 405), f"{method} {path} answered {code}"


@control("PACS-HTTP-HARDENING")
def test_hsts_and_security_headers(stack: dict) -> None:
    code, _, headers = https(stack, "GET", "/healthz")
    assert code == 200
    assert int(re.search(r"max-age=(\d+)", headers.get("Strict-Transport-Security", "")).group(1)) >= 31536000
    assert headers.get("X-Content-Type-Options") == "nosniff"


@control("PACS-HTTP-HARDENING")
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_old_tls_is_refused(stack: dict, version: str) -> None:
    host = stack["https_url"].split("//")[1].split("/")[0].split(":")[0]
    assert_old_tls_refused(host, 443, version, "HTTPS")


@control("PACS-HTTP-HARDENING")
def test_error_bodies_leak_no_internals(stack: dict) -> None:
    admin = user_with_role(stack["_users"], "admin")
    for method, path, user in (
        ("GET", "/instances/nonexistent", admin),
        ("GET", "/studies", None),
        ("DELETE", "/nonexistent", admin),
    ):
        _, body, headers = https(stack, method, path, user)
        assert not LEAKS.search(body.decode(errors="replace")), f"{method} {path} leaks: {body[:200]!r}"
        assert "nginx/" not in headers.get("Server", "")


def _raw_https(stack: dict, request: bytes) -> bytes:
    host = stack["https_url"].split("//")[1].split("/")[0]
    with (
        socket.create_connection((host, 443), timeout=10) as raw,
        tls_context(stack["ca_cert"]).wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(request)
        return tls.recv(4096)


@control("PACS-HTTP-HARDENING")
def test_huge_content_length_is_refused_and_the_server_stays_up(stack: dict) -> None:
    admin = user_with_role(stack["_users"], "admin")
    credentials = credential_lines(stack, admin)
    head = f"POST /instances HTTP/1.1\r\nHost: pacs\r\n{credentials}Content-Length: 4294967295\r\n\r\n"
    answer = _raw_https(stack, head.encode())
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert https(stack, "GET", "/system", admin)[0] == 200


@control("PACS-HTTP-HARDENING")
def test_gzip_bomb_is_refused_and_the_server_stays_up(stack: dict) -> None:
    admin = user_with_role(stack["_users"], "admin")
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MB of zeros in ~64 KB
    code = https(stack, "POST", "/instances", admin, body=bomb, headers={"Content-Encoding": "gzip"})[0]
    assert code in (400, 413, 415), f"a gzip body was accepted ({code})"
    assert https(stack, "GET", "/system", admin)[0] == 200


# Who may open the web viewer: the roles that can list studies, read metadata and retrieve pixels.
VIEWER_ROLES = {"admin", "radiologist"}
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def _viewer_path(stack: dict) -> str:
    url = need(stack, "viewer_url")
    if not url:
        pytest.skip("the target serves no viewer (viewer_url is null)")
    return "/" + url.split("//", 1)[1].split("/", 1)[1]


@control("PACS-RBAC")
@pytest.mark.parametrize("role", sorted(ROLE_ROUTES))
def test_the_viewer_opens_for_exactly_the_roles_that_read(stack: dict, role: str) -> None:
    path = _viewer_path(stack)
    user = user_with_role(stack["_users"], role)
    assert https(stack, "GET", path, user)[0] == (200 if role in VIEWER_ROLES else 403), f"{role} ({user})"


@control("PACS-HTTP-AUTH")
def test_the_viewer_asks_for_the_same_sign_in(stack: dict) -> None:
    path = _viewer_path(stack)
    code, body, headers = https(stack, "GET", path)
    assert code == 401 and "Basic" in headers.get("WWW-Authenticate", "")
    assert b"<script" not in body  # nothing of the application before sign-in


@control("PACS-HTTP-HARDENING")
def test_the_viewer_has_its_own_csp_and_the_api_keeps_none(stack: dict) -> None:
    path = _viewer_path(stack)
    admin = user_with_role(stack["_users"], "admin")
    _, page, viewer_headers = https(stack, "GET", path, admin)
    csp = viewer_headers.get("Content-Security-Policy", "")
    directives = dict([*d.strip().split(" ", 1), ""][:2] for d in csp.split(";") if d.strip())
    assert directives.get("default-src") == "'none'", csp
    assert "'unsafe-eval'" not in csp and "'unsafe-inline'" not in directives.get("script-src", ""), csp
    assert not re.search(r"https?:|\*|data:", directives.get("script-src", "") + directives.get("connect-src", ""))
    assert directives.get("frame-ancestors") == "'none'"
    assert b"<script>" not in page  # no inline script, so script-src needs no 'unsafe-inline' or hash
    _, _, api_headers = https(stack, "GET", "/system", admin)
    assert api_headers.get("Content-Security-Policy") == API_CSP
