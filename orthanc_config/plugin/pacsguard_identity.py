"""Who is asking: HTTP Basic (the core already checked the password) or a signed ES256 JWT.

The JWT is the load balancer's `x-amzn-oidc-data` header; locally PACSGuard signs its own with a
generated key. Standard library plus Debian's python3-cryptography.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

JWT_HEADER = "x-amzn-oidc-data"
ROLE_CLAIMS = ("custom:pacs_role", "pacs_role")
GROUPS_CLAIM = "cognito:groups"
LEEWAY_SECONDS = 60
# The longest lifetime the plugin accepts: the ALB re-signs its header on every request, so a token that
# claims to live longer than this was not made by a gateway we trust.
MAX_LIFETIME_SECONDS = 3600


class IdentityError(Exception):
    """The request's identity could not be established (bad token, wrong algorithm, expired...)."""


@dataclass(frozen=True)
class Identity:
    user: str
    role: str | None
    method: str  # "basic" | "jwt"


def basic_user(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, _ = decoded.partition(":")
    return user if sep else None


def _b64url(part: str) -> bytes:
    # The ALB pads its base64url segments; strict JWT libraries reject that, so accept both.
    part = part.rstrip("=")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise IdentityError("JWT public key must be an EC P-256 key (ES256)")
    return key


KID_RE = re.compile(r"^[A-Za-z0-9-]{1,128}$")


def token_kid(token: str) -> str:
    """The key id in a token's header, checked to be safe to put in a URL."""
    try:
        header = json.loads(_b64url(token.split(".")[0]))
    except (ValueError, binascii.Error, IndexError) as exc:
        raise IdentityError(f"malformed token: {exc}") from None
    kid = header.get("kid", "")
    if not isinstance(kid, str) or not KID_RE.match(kid):
        raise IdentityError("token has no usable key id")
    return kid


KEY_SERVICE_SCHEME = "unix:"  # JwtKeyUrl/Jwks "unix:/run/pacsguard-keys/keys.sock": ask the host's key service
KEY_SERVICE_TIMEOUT_SECONDS = 8.0  # above the service's own 5 s upstream timeout


def ask_key_service(socket_path: str, request: str, timeout: float = KEY_SERVICE_TIMEOUT_SECONDS) -> bytes:
    """One request to the host's identity-key service (orthanc_config/identity_keys.py), which alone may reach the
    key endpoints on the internet. Every failure is an IdentityError naming the cause: the sign-in is refused."""
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(socket_path)
            conn.sendall(request.encode("ascii") + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    except (OSError, UnicodeEncodeError) as exc:
        raise IdentityError(f"identity key service {socket_path} unavailable ({exc})") from None
    status, _, body = b"".join(chunks).partition(b"\n")
    if status != b"ok":
        reason = (status + body).decode("utf-8", "replace").removeprefix("error ").strip() or "no answer"
        raise IdentityError(f"identity key service: {reason}")
    return body


class AlbKeys:
    """The load balancer's signing keys by key id, cached: from the host's key service ("unix:<socket>", AWS) or
    fetched over HTTPS ("https://.../{kid}").

    Every ALB of a region signs with the same keys: the caller must also pin `signer` to its own ALB.
    """

    def __init__(self, url_template: str, fetch: Callable[[str], bytes] | None = None) -> None:
        if url_template.startswith(KEY_SERVICE_SCHEME):
            socket_path = url_template[len(KEY_SERVICE_SCHEME) :]
            self.url_template = "{kid}"
            self.fetch = fetch or (lambda kid: ask_key_service(socket_path, f"alb {kid}"))
        elif url_template.startswith("https://") and "{kid}" in url_template:
            self.url_template = url_template
            self.fetch = fetch or _https_get
        else:
            raise IdentityError("JWT key URL must be unix:<key service socket>, or https:// containing {kid}")
        self.cache: dict[str, ec.EllipticCurvePublicKey] = {}

    def key_for(self, token: str) -> ec.EllipticCurvePublicKey:
        kid = token_kid(token)
        if kid not in self.cache:
            try:
                pem = self.fetch(self.url_template.format(kid=kid))
                self.cache[kid] = load_public_key(pem)
            except IdentityError as exc:
                raise IdentityError(f"no signing key for kid {kid}: {exc}") from None
            except (OSError, ValueError, TypeError) as exc:  # the https fetch, a PEM that does not parse
                raise IdentityError(f"no signing key for kid {kid}: {exc}") from None
        return self.cache[kid]


def _https_get(url: str) -> bytes:
    import ssl
    import urllib.request

    with urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=5) as resp:  # noqa: S310 (https only)
        return resp.read()


def verify_jwt(token: str, key: ec.EllipticCurvePublicKey, *, signer: str = "", now: float | None = None) -> dict:
    try:
        header_b64, payload_b64, sig_b64 = token.split(".")
        header = _strict_json(_b64url(header_b64))
        claims = _strict_json(_b64url(payload_b64))
        sig = _b64url(sig_b64)
    except (ValueError, binascii.Error) as exc:
        raise IdentityError(f"malformed token: {exc}") from None
    if header.get("alg") != "ES256":
        raise IdentityError(f"token algorithm {header.get('alg')!r} refused; only ES256")
    if signer and header.get("signer") != signer:
        raise IdentityError("token signed by an unexpected load balancer")
    if len(sig) != 64:
        raise IdentityError("ES256 signature must be 64 bytes")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise IdentityError("token signature does not verify") from None
    # The ALB's header names no issue time (its user claims come from the IdP's userinfo): for a token pinned
    # to our load balancer the expiry's distance from now is capped instead; every other token needs iat.
    iat = claims.get("iat", header.get("iat"))
    if iat is None and signer:
        iat = time.time() if now is None else now
    check_lifetime(header.get("exp", claims.get("exp")), iat, now)
    return claims


def _strict_json(raw: bytes) -> dict:
    """JSON without NaN/Infinity (Python's json accepts them; RFC 8259 does not)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"non-finite number {constant}")

    doc = json.loads(raw, parse_constant=refuse)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def _numeric_date(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def check_lifetime(exp: object, iat: object, now: float | None = None) -> None:
    """A token must say when it was issued and when it expires, both finite, issued no later than now,
    not expired, and living no longer than MAX_LIFETIME_SECONDS."""
    current = time.time() if now is None else now
    expires, issued = _numeric_date(exp), _numeric_date(iat)
    if expires is None:
        raise IdentityError("token has no finite expiry (exp)")
    if issued is None:
        raise IdentityError("token has no finite issue time (iat)")
    if issued > current + LEEWAY_SECONDS:
        raise IdentityError("token issued in the future")
    if current > expires + LEEWAY_SECONDS:
        raise IdentityError("token expired")
    if expires - issued > MAX_LIFETIME_SECONDS or expires > current + MAX_LIFETIME_SECONDS + LEEWAY_SECONDS:
        raise IdentityError(f"token lifetime exceeds {MAX_LIFETIME_SECONDS} s")


def check_session_age(claims: dict, timeout_minutes: int, now: float | None = None) -> None:
    """Automatic logoff as far as this host can see: a sign-in older than the timeout is not a session any more.

    Tokens that say when the user authenticated (auth_time: Cognito's, the local signer's) are refused once
    that is longer ago than the timeout, so a refreshed token cannot stretch a session past it. The ALB's
    userInfo-based header carries no auth_time: there the ALB session timeout and prompt=login hold the line.
    """
    auth_time = claims.get("auth_time")
    if auth_time is None:
        return
    if not isinstance(auth_time, int | float):
        raise IdentityError("token auth_time is not a time")
    current = time.time() if now is None else now
    if current - auth_time > timeout_minutes * 60 + LEEWAY_SECONDS:
        raise IdentityError(f"signed in more than {timeout_minutes} minutes ago (automatic logoff): sign in again")


def role_from_claims(claims: dict, known_roles: tuple[str, ...]) -> str | None:
    for claim in ROLE_CLAIMS:
        if claims.get(claim) in known_roles:
            return claims[claim]
    groups = claims.get(GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    # Several groups: the least powerful wins, so a mistaken extra group never adds rights.
    for role in reversed(known_roles):
        if role in groups:
            return role
    return None


def user_from_claims(claims: dict) -> str:
    for claim in ("email", "username", "cognito:username", "sub"):
        if claims.get(claim):
            return str(claims[claim])
    raise IdentityError("token names no user")


def sign_jwt(claims: dict, private_key: ec.EllipticCurvePrivateKey, *, signer: str = "") -> str:
    """Local mode's stand-in for the load balancer (and the tests'): an ES256 token like the ALB's."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    header = {"alg": "ES256", "typ": "JWT", "exp": claims.get("exp")}
    claims = {"iat": int(time.time()), **claims}
    if signer:
        header["signer"] = signer

    def enc(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")

    signing_input = f"{enc(header)}.{enc(claims)}"
    r, s = decode_dss_signature(private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    sig = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode().rstrip("=")
    return f"{signing_input}.{sig}"
