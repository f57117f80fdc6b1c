"""Machine clients on the wire: a bearer token of the stack's issuer opens DICOMweb for its scope, and nothing else
does: expired, another issuer, another audience or scope, and the algorithm-confusion forgeries are all refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest

from pacsguard.posture.clients import audit_lines, https
from pacsguard.posture.conftest import need

control = pytest.mark.control
QIDO = "/dicom-web/studies"


@pytest.fixture(scope="module")
def issuer(target: dict[str, Any]) -> Any:
    from orthanc_config.machine_issuer import LocalIssuer

    info = need(target, "machine_issuer")
    key = Path(info["signing_key"])
    if not key.exists():
        pytest.skip(f"the machine issuer's signing key {key} is not readable here (run as root on the host)")
    return Issuer(LocalIssuer(info["issuer"], key, key.with_suffix(".unused")), info.get("client_ids", {}))


class Issuer:
    """The probes name machine clients as the local stack does (ai-pipeline, router); a stack whose issuer is
    Cognito gives each its own client id (target: machine_issuer.client_ids), which the tokens then carry."""

    def __init__(self, local: Any, client_ids: dict[str, str]) -> None:
        self.local, self.client_ids = local, client_ids
        self.key_file = local.key_file

    def client_id(self, name: str) -> str:
        return self.client_ids.get(name, name)

    def kid(self) -> str:
        return self.local.kid()

    def mint(self, name: str, lifetime: int = 900, *, now: float | None = None, overrides: dict | None = None) -> str:
        from orthanc_config.machine_issuer import LOCAL_CLIENTS, RESOURCE_SERVER

        mapped: dict[str, object] = {}
        if name in self.client_ids:
            cid = self.client_ids[name]
            mapped = {"client_id": cid, "sub": cid, "scope": f"{RESOURCE_SERVER}/{LOCAL_CLIENTS[name]}"}
        return self.local.mint(name, lifetime, now=now, overrides={**mapped, **(overrides or {})})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


@control("IAM-MACHINE-TOKENS")
def test_read_scope_queries_and_cannot_store(stack: dict, issuer: Any) -> None:
    token = issuer.mint("ai-pipeline")
    assert https(stack, "GET", QIDO, headers=bearer(token))[0] == 200
    assert https(stack, "POST", QIDO, body=b"", headers=bearer(token))[0] == 403
    mine = [r for r in audit_lines(stack) if r.get("user") == f"machine:{issuer.client_id('ai-pipeline')}"]
    assert mine and mine[-1]["outcome"] != "0" and any(r["outcome"] == "0" for r in mine)


@control("IAM-MACHINE-TOKENS")
def test_store_scope_stores_over_stow_and_cannot_query(stack: dict, issuer: Any, tmp_path: Path) -> None:
    from pacsguard.posture.dicom_files import unique_ct

    path, _ = unique_ct(tmp_path)
    boundary = "pacsguard-machine"
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        **bearer(issuer.mint("router")),
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
    }
    assert https(stack, "POST", QIDO, body=body, headers=headers)[0] == 200
    assert https(stack, "GET", QIDO, headers=bearer(issuer.mint("router")))[0] == 403


@control("IAM-MACHINE-TOKENS")
def test_machine_token_opens_dicomweb_only(stack: dict, issuer: Any) -> None:
    assert https(stack, "GET", "/studies", headers=bearer(issuer.mint("ai-pipeline")))[0] == 403


@control("IAM-MACHINE-TOKENS")
@pytest.mark.parametrize(
    "case",
    ["expired", "another issuer", "another audience", "another scope", "another client", "id token", "day-long"],
)
def test_bad_tokens_are_refused(stack: dict, issuer: Any, case: str) -> None:
    now = int(time.time())
    token = {
        "expired": lambda: issuer.mint("ai-pipeline", 300, now=now - 3600),
        "another issuer": lambda: issuer.mint("ai-pipeline", overrides={"iss": "https://issuer.invalid/"}),
        "another audience": lambda: issuer.mint("ai-pipeline", overrides={"aud": "another-api"}),
        "another scope": lambda: issuer.mint("ai-pipeline", overrides={"scope": "pacs/admin"}),
        "another client": lambda: issuer.mint("x", overrides={"client_id": "not-registered"}),
        "id token": lambda: issuer.mint("ai-pipeline", overrides={"token_use": "id"}),
        "day-long": lambda: issuer.mint("ai-pipeline", overrides={"exp": now + 86400}),
    }[case]()
    assert https(stack, "GET", QIDO, headers=bearer(token))[0] == 403


@control("IAM-MACHINE-TOKENS")
@pytest.mark.parametrize("forgery", ["alg none", "HS256 keyed with the public key"])
def test_algorithm_confusion_is_refused(stack: dict, issuer: Any, forgery: str) -> None:
    from cryptography.hazmat.primitives import serialization

    claims = json.loads(base64.urlsafe_b64decode(issuer.mint("ai-pipeline").split(".")[1] + "=="))
    if forgery == "alg none":
        token = f"{_b64({'alg': 'none', 'kid': issuer.kid()})}.{_b64(claims)}."
    else:
        public = serialization.load_pem_private_key(issuer.key_file.read_bytes(), None).public_key()
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        signing_input = f"{_b64({'alg': 'HS256', 'kid': issuer.kid()})}.{_b64(claims)}"
        sig = base64.urlsafe_b64encode(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()).decode()
        token = f"{signing_input}.{sig.rstrip('=')}"
    assert https(stack, "GET", QIDO, headers=bearer(token))[0] == 403


@control("IAM-MACHINE-TOKENS")
def test_a_clients_own_bearer_header_never_reaches_the_plugin(stack: dict, issuer: Any) -> None:
    """Only nginx may set X-PACSGuard-Bearer: a user who sends one is judged as themselves."""
    from pacsguard.posture.conftest import user_with_role

    auditor = user_with_role(stack["_users"], "auditor")
    forged = {"X-PACSGuard-Bearer": issuer.mint("ai-pipeline")}
    assert https(stack, "GET", QIDO, auditor, headers=forged)[0] == 403
    # The plugin's own record (nginx's access record of the same request follows it in the trail).
    last = [r for r in audit_lines(stack) if r.get("user") == auditor and r.get("layer") == "orthanc-http"][-1]
    assert last["reason"] == "role auditor lacks query"
