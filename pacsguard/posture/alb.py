"""The application load balancer's identity header, for a target reached without the ALB in between (a rehearsed
instance): the verifier plays the ALB with the key the target names, and signs `x-amzn-oidc-data` the way AWS
documents it (Elastic Load Balancing, "Authenticate users using an Application Load Balancer", user claims
encoding and signature verification): an ES256 JWT whose header carries `alg`, `kid`, `signer` (the ALB's ARN),
`iss`, `client` and `exp`, base64url segments with padding, and whose public key the region serves at
https://public-keys.auth.elb.<region>.amazonaws.com/<kid>.

Target field: {"alb": {"signing_key": PEM path, "kid", "signer", "issuer", "client"}}.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

JWT_HEADER = "x-amzn-oidc-data"
IDENTITY_HEADER = "x-amzn-oidc-identity"
LIFETIME_SECONDS = 120  # the ALB signs a fresh header per request; its expiry is minutes away


def _segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()  # padded, as the ALB's header is


def sign_text(key_pem: bytes, header: str, payload: str) -> str:
    """ES256 over exact JSON texts (probes forge malformed ones); the signature is R || S, 64 bytes."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signing_input = f"{_segment(header.encode())}.{_segment(payload.encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_segment(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def header_fields(alb: dict[str, Any], exp: float) -> dict[str, Any]:
    return {"alg": "ES256", "kid": alb["kid"], "signer": alb["signer"], "iss": alb["issuer"],
            "client": alb["client"], "exp": int(exp)}  # fmt: skip


def sign(alb: dict[str, Any], claims: dict[str, Any], **header_overrides: Any) -> str:
    """The header the ALB would add for a user with these userInfo claims."""
    exp = claims.get("exp", time.time() + LIFETIME_SECONDS)
    header = {**header_fields(alb, exp), **header_overrides}
    payload = {"exp": int(exp), "iss": alb["issuer"], **claims}
    return sign_text(Path(alb["signing_key"]).read_bytes(), json.dumps(header), json.dumps(payload))


def subject(user: str) -> str:
    """The user's subject (`sub`) at the identity provider: stable per user, as Cognito's is."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pacsguard-verify:{user}"))


def nginx_user(user: str) -> str:
    """How nginx names a request the ALB signed in: it cannot verify the header, so it keys on the subject."""
    return f"oidc:{subject(user)}"


def user_headers(alb: dict[str, Any], user: str, role: str | None) -> dict[str, str]:
    """What the ALB adds to a signed-in user's request: the signed claims and the user's subject."""
    sub = subject(user)
    claims: dict[str, Any] = {"sub": sub, "email": user, "username": user}
    if role:
        claims["custom:pacs_role"] = role
    return {JWT_HEADER: sign(alb, claims), IDENTITY_HEADER: sub}
