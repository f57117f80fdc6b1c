"""Identity: Basic users parsed, ES256 tokens verified the way the ALB signs them; everything else refused."""

from __future__ import annotations

import base64
import json
import time

import pacsguard_identity as ident
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

KEY = ec.generate_private_key(ec.SECP256R1())
PUB = KEY.public_key()


def _token(**claims: object) -> str:
    return ident.sign_jwt({"email": "dr@example.org", "exp": time.time() + 60, **claims}, KEY)


def test_valid_token_verifies() -> None:
    claims = ident.verify_jwt(_token(**{"custom:pacs_role": "radiologist"}), PUB)
    assert ident.user_from_claims(claims) == "dr@example.org"
    assert ident.role_from_claims(claims, ("admin", "radiologist")) == "radiologist"


def test_alb_style_padding_is_accepted() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    def seg(obj: dict) -> str:  # the ALB keeps the base64 padding
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()

    exp = int(time.time()) + 60
    header = {"alg": "ES256", "exp": exp, "pad": ""}
    while len(json.dumps(header)) % 3 == 0:
        header["pad"] += "x"
    signing_input = f"{seg(header)}.{seg({'email': 'dr@x', 'exp': exp, 'iat': exp - 60})}"
    assert "=" in signing_input
    r, s = decode_dss_signature(KEY.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    sig = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
    assert ident.verify_jwt(f"{signing_input}.{sig}", PUB)["email"] == "dr@x"


def test_token_from_another_key_is_refused() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ident.IdentityError, match="does not verify"):
        ident.verify_jwt(ident.sign_jwt({"email": "x", "exp": time.time() + 60}, other), PUB)


def test_expired_token_is_refused() -> None:
    with pytest.raises(ident.IdentityError, match="expired"):
        ident.verify_jwt(_token(exp=time.time() - 3600), PUB)


def test_alg_none_is_refused() -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).decode().rstrip("=")
    payload = (
        base64.urlsafe_b64encode(json.dumps({"email": "x", "exp": time.time() + 60}).encode()).decode().rstrip("=")
    )
    with pytest.raises(ident.IdentityError, match="algorithm"):
        ident.verify_jwt(f"{header}.{payload}.", PUB)


def test_tampered_claims_are_refused() -> None:
    header, _, sig = _token(**{"custom:pacs_role": "auditor"}).split(".")
    forged = base64.urlsafe_b64encode(
        json.dumps({"email": "x", "custom:pacs_role": "admin", "exp": time.time() + 60}).encode()
    )
    with pytest.raises(ident.IdentityError):
        ident.verify_jwt(f"{header}.{forged.decode().rstrip('=')}.{sig}", PUB)


def test_signer_must_match_when_configured() -> None:
    token = ident.sign_jwt({"email": "x", "exp": time.time() + 60}, KEY, signer="arn:aws:elasticloadbalancing:alb/a")
    ident.verify_jwt(token, PUB, signer="arn:aws:elasticloadbalancing:alb/a")
    with pytest.raises(ident.IdentityError, match="unexpected load balancer"):
        ident.verify_jwt(token, PUB, signer="arn:aws:elasticloadbalancing:alb/b")


def test_role_from_groups_prefers_the_least_powerful() -> None:
    roles = ("admin", "radiologist", "technologist", "auditor", "service")
    assert ident.role_from_claims({"cognito:groups": ["admin", "auditor"]}, roles) == "auditor"
    assert ident.role_from_claims({"cognito:groups": ["nurses"]}, roles) is None


@pytest.mark.parametrize(
    ("header", "user"),
    [
        ("Basic " + base64.b64encode(b"alice:pw").decode(), "alice"),
        ("Basic !!!", None),
        ("Bearer abc", None),
        ("Basic " + base64.b64encode(b"nocolon").decode(), None),
    ],
)
def test_basic_user(header: str, user: str | None) -> None:
    assert ident.basic_user({"authorization": header}) == user


def test_rsa_public_key_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(65537, 2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ident.IdentityError, match="P-256"):
        ident.load_public_key(pem)


def _signed_raw(header: str, payload: str) -> str:
    """A correctly signed token whose JSON text is chosen verbatim (NaN and Infinity are not JSON)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    def seg(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    signing_input = f"{seg(header)}.{seg(payload)}"
    r, s = decode_dss_signature(KEY.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{seg_bytes(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def seg_bytes(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Hole 6: an expiry of NaN or Infinity compares false against any time, so such a token never expired.
@pytest.mark.parametrize("exp", ["NaN", "Infinity", "-Infinity", "1e400", '"2200-01-01"', "true"])
def test_non_finite_or_non_numeric_expiry_is_refused(exp: str) -> None:
    now = int(time.time())
    token = _signed_raw(f'{{"alg":"ES256","exp":{exp}}}', f'{{"email":"x","exp":{exp},"iat":{now}}}')
    with pytest.raises(ident.IdentityError):
        ident.verify_jwt(token, PUB)


def test_far_future_expiry_is_refused() -> None:
    year_2200 = 7258118400
    with pytest.raises(ident.IdentityError, match="lifetime"):
        ident.verify_jwt(_token(exp=year_2200), PUB)


def test_lifetime_longer_than_the_cap_is_refused() -> None:
    now = time.time()
    with pytest.raises(ident.IdentityError, match="lifetime"):
        ident.verify_jwt(_token(iat=now - 7200, exp=now + 60), PUB)


def test_token_without_issue_time_is_refused() -> None:
    now = int(time.time())
    token = _signed_raw('{"alg":"ES256"}', f'{{"email":"x","exp":{now + 60}}}')
    with pytest.raises(ident.IdentityError, match="iat"):
        ident.verify_jwt(token, PUB)


def test_token_issued_in_the_future_is_refused() -> None:
    with pytest.raises(ident.IdentityError, match="future"):
        ident.verify_jwt(_token(iat=time.time() + 600, exp=time.time() + 900), PUB)
