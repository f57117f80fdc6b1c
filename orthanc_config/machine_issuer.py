"""The local stack's own RS256 issuer for machine clients: what Cognito's client-credentials grant is on AWS.

It holds an RSA key (root only), publishes its public half as a JWKS file the plugin reads, and mints access
tokens shaped like Cognito's (iss, client_id, scope "pacs/read", token_use "access", exp, iat, jti), so the
host plugin's verification path is the same one AWS tokens take.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from orthanc_config import pki

RESOURCE_SERVER = "pacs"
# Local machine clients: one per PACS scope, named for what such a client typically is.
LOCAL_CLIENTS = {"ai-pipeline": "read", "router": "store"}
DEFAULT_LIFETIME_SECONDS = 900


class IssuerError(Exception):
    """A token could not be minted (unknown client or scope, lifetime out of range); the message says which."""


@dataclass(frozen=True)
class LocalIssuer:
    issuer: str
    key_file: Path
    jwks_file: Path

    def ensure(self) -> None:
        """Create the signing key once (kept across `local up`), and (re)publish its JWKS readable by Orthanc."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        if not self.key_file.exists():
            pki.write_key(self.key_file, rsa.generate_private_key(public_exponent=65537, key_size=2048))  # type: ignore[arg-type]
        key = serialization.load_pem_private_key(self.key_file.read_bytes(), None)
        numbers = key.public_key().public_numbers()  # type: ignore[union-attr]
        jwk = {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid(),
            "n": _b64uint(numbers.n),
            "e": _b64uint(numbers.e),
        }
        self.jwks_file.write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n")
        os.chmod(self.jwks_file, 0o644)

    def kid(self) -> str:
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(self.key_file.read_bytes(), None)
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()[:16]

    def mint(
        self,
        client_id: str,
        lifetime: int = DEFAULT_LIFETIME_SECONDS,
        *,
        now: float | None = None,
        overrides: dict[str, object] | None = None,
    ) -> str:
        """A client-credentials access token for a local machine client (overrides: for the posture probes)."""
        import jwt

        overrides = overrides or {}
        if client_id not in LOCAL_CLIENTS and "client_id" not in overrides:
            raise IssuerError(f"unknown machine client {client_id!r}; local clients are {sorted(LOCAL_CLIENTS)}")
        if not 60 <= lifetime <= 3600 and "exp" not in overrides:
            raise IssuerError(f"lifetime {lifetime}s: choose 60 to 3600 seconds")
        issued = int(time.time() if now is None else now)
        claims: dict[str, object] = {
            "iss": self.issuer,
            "sub": client_id,
            "client_id": client_id,
            "token_use": "access",
            "scope": f"{RESOURCE_SERVER}/{LOCAL_CLIENTS.get(client_id, 'read')}",
            "iat": issued,
            "exp": issued + lifetime,
            "jti": str(uuid.uuid4()),
            **overrides,
        }
        return jwt.encode(claims, self.key_file.read_bytes(), algorithm="RS256", headers={"kid": self.kid()})


def _b64uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
