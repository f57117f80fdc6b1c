"""Machine bearer tokens: only RS256 tokens of our issuer, for our clients, with one PACS scope, unexpired, pass."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path

import jwt
import pacsguard_machine as machine
import pytest

from orthanc_config.machine_issuer import IssuerError, LocalIssuer

ISSUER = "https://pacs.test/pacsguard-issuer"
PATH = "/dicom-web/studies"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> LocalIssuer:
    d = tmp_path_factory.mktemp("issuer")
    iss = LocalIssuer(ISSUER, d / "issuer.key", d / "jwks.json")
    iss.ensure()
    return iss


@pytest.fixture()
def verifier(issuer: LocalIssuer) -> machine.MachineVerifier:
    return machine.MachineVerifier(ISSUER, "pacs", ("ai-pipeline", "router"), machine.JwksSource(str(issuer.jwks_file)))


def _refused(verifier: machine.MachineVerifier, token: str, path: str = PATH) -> str:
    with pytest.raises(machine.MachineTokenError) as exc:
        verifier.verify(token, path)
    return str(exc.value)


@pytest.mark.parametrize(("client", "role"), [("ai-pipeline", "radiologist"), ("router", "service")])
def test_scope_maps_to_its_role(issuer: LocalIssuer, verifier: machine.MachineVerifier, client: str, role: str) -> None:
    who = verifier.verify(issuer.mint(client), PATH)
    assert (who.client_id, who.role) == (client, role)


def test_expired_token_is_refused(issuer: LocalIssuer, verifier: machine.MachineVerifier) -> None:
    token = issuer.mint("ai-pipeline", now=time.time() - 3600, lifetime=600)
    assert "expired" in _refused(verifier, token)


def test_token_of_another_issuer_is_refused(issuer: LocalIssuer, verifier: machine.MachineVerifier) -> None:
    assert "issuer" in _refused(verifier, issuer.mint("ai-pipeline", overrides={"iss": "https://evil.test/"}))


def test_token_of_another_client_is_refused(issuer: LocalIssuer, verifier: machine.MachineVerifier) -> None:
    assert "not a machine client" in _refused(verifier, issuer.mint("x", overrides={"client_id": "someone-else"}))


@pytest.mark.parametrize("scope", ["pacs/admin", "other/read", "pacs/read pacs/store", "openid"])
def test_wrong_or_several_scopes_are_refused(
    issuer: LocalIssuer, verifier: machine.MachineVerifier, scope: str
) -> None:
    assert "exactly one" in _refused(verifier, issuer.mint("ai-pipeline", overrides={"scope": scope}))


def test_wrong_audience_is_refused(issuer: LocalIssuer, verifier: machine.MachineVerifier) -> None:
    assert "audience" in _refused(verifier, issuer.mint("ai-pipeline", overrides={"aud": "another-api"}))


def test_id_token_is_not_an_access_token(issuer: LocalIssuer, verifier: machine.MachineVerifier) -> None:
    assert "access token" in _refused(verifier, issuer.mint("ai-pipeline", overrides={"token_use": "id"}))


def test_long_lived_token_is_refused(issuer: LocalIssuer, verifier: machine.MachineVerifier) -> None:
    now = int(time.time())
    assert "lifetime exceeds 3600" in _refused(verifier, issuer.mint("ai-pipeline", overrides={"exp": now + 86400}))


@pytest.mark.parametrize(
    "claims",
    [{"exp": float("inf")}, {"exp": float("nan")}, {"iat": float("-inf")}, {"iat": None}, {"exp": True}],
)
def test_machine_token_without_a_finite_lifetime_is_refused(
    issuer: LocalIssuer, verifier: machine.MachineVerifier, claims: dict
) -> None:
    """Issue-14's lifetime rules hold for machine tokens too: a crafted exp/iat is a refusal, never a crash."""
    _refused(verifier, issuer.mint("ai-pipeline", overrides=claims))


def test_machine_clients_are_limited_to_dicomweb(issuer: LocalIssuer, verifier: machine.MachineVerifier) -> None:
    assert "/dicom-web/" in _refused(verifier, issuer.mint("ai-pipeline"), "/tools/find")


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def test_alg_none_is_refused(issuer: LocalIssuer, verifier: machine.MachineVerifier) -> None:
    good = jwt.decode(issuer.mint("ai-pipeline"), options={"verify_signature": False})
    token = f"{_b64({'alg': 'none', 'kid': issuer.kid()})}.{_b64(good)}."
    assert "'none' refused" in _refused(verifier, token)


def test_hs256_signed_with_the_public_key_is_refused(issuer: LocalIssuer, verifier: machine.MachineVerifier) -> None:
    """The classic confusion: an HMAC keyed with the RSA public key (PEM and JWKS forms) a naive verifier accepts."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    good = jwt.decode(issuer.mint("ai-pipeline"), options={"verify_signature": False})
    public = serialization.load_pem_private_key(issuer.key_file.read_bytes(), None).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for secret in (pem, issuer.jwks_file.read_bytes()):
        signing_input = f"{_b64({'alg': 'HS256', 'kid': issuer.kid()})}.{_b64(good)}"
        sig = base64.urlsafe_b64encode(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
        assert "'HS256' refused" in _refused(verifier, f"{signing_input}.{sig.decode().rstrip('=')}")


def test_signature_by_another_key_with_our_kid_is_refused(
    issuer: LocalIssuer, verifier: machine.MachineVerifier, tmp_path: Path
) -> None:
    other = LocalIssuer(ISSUER, tmp_path / "other.key", tmp_path / "other.json")
    other.ensure()
    forged = jwt.encode(
        jwt.decode(issuer.mint("ai-pipeline"), options={"verify_signature": False}),
        other.key_file.read_bytes(),
        algorithm="RS256",
        headers={"kid": issuer.kid()},
    )
    assert "Signature verification failed" in _refused(verifier, forged)


def test_hmac_entries_in_a_jwks_are_never_keys(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "k1", "k": "c2VjcmV0"}]}))
    with pytest.raises(machine.MachineTokenError, match="does not publish"):
        machine.JwksSource(str(jwks)).key("k1")


def test_issuer_refuses_unknown_clients_and_long_lifetimes(issuer: LocalIssuer) -> None:
    with pytest.raises(IssuerError, match="unknown machine client"):
        issuer.mint("nobody")
    with pytest.raises(IssuerError, match="60 to 3600"):
        issuer.mint("router", lifetime=86400)


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs Debian's /usr/bin/python3")
def test_the_plugin_verifies_under_debians_system_python(issuer: LocalIssuer) -> None:
    """The host runs Debian's python3-jwt and python3-cryptography 38, not the venv's: the same path must work there."""
    plugin = Path(machine.__file__).parent
    code = (
        f"import sys; sys.path.insert(0, {str(plugin)!r}); import pacsguard_machine as m; "
        f"v = m.MachineVerifier({ISSUER!r}, 'pacs', ('router',), m.JwksSource({str(issuer.jwks_file)!r})); "
        "print(v.verify(sys.argv[1], '/dicom-web/studies').role)"
    )
    res = subprocess.run(["/usr/bin/python3", "-c", code, issuer.mint("router")], capture_output=True, text=True)
    if "No module named 'jwt'" in res.stderr:
        pytest.skip("Debian's python3-jwt is not installed (make setup installs it)")
    assert res.stdout.strip() == "service", res.stderr


def test_missing_key_set_refuses_tokens_instead_of_failing(issuer: LocalIssuer, tmp_path: Path) -> None:
    v = machine.MachineVerifier(ISSUER, "pacs", ("ai-pipeline",), machine.JwksSource(str(tmp_path / "absent.json")))
    assert "keys are unavailable" in _refused(v, issuer.mint("ai-pipeline"))
