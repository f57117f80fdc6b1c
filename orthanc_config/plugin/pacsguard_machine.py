"""Machine clients (AI pipelines, routers, scripts): an RS256 bearer token checked again on the host.

On AWS the token is a Cognito client-credentials access token, already verified once by the load balancer's
JWT validation; locally the stack's own RS256 issuer signs it. Either way this module checks the signature
against the issuer's JWKS, the issuer, the token use, the client, the scope and the expiry before it maps the
one PACS scope to a role. Debian's python3-jwt (2.6) and python3-cryptography (38) only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt
import pacsguard_identity as identity

BEARER_HEADER = "x-pacsguard-bearer"  # set by nginx from `Authorization: Bearer ...`, never by the client
ALGORITHM = "RS256"  # the only algorithm Cognito and the ALB's JWT validation use
LEEWAY_SECONDS = 30
# One scope, one role: the role's permissions are the RBAC table's (read = radiologist, store = service).
SCOPE_ROLES = {"read": "radiologist", "store": "service"}
MACHINE_PATH_PREFIX = "/dicom-web/"  # machines speak DICOMweb only, as the load balancer's rule routes them


class MachineTokenError(Exception):
    """The bearer token is not one this host accepts; the message says which check failed."""


@dataclass(frozen=True)
class MachineIdentity:
    client_id: str
    scope: str
    role: str


@dataclass
class JwksSource:
    """The issuer's public keys, cached by key id: a file (the local issuer), the host's key service
    ("unix:<socket>": on AWS, Cognito's JWKS, which Orthanc may not fetch itself) or an https URL."""

    location: str
    fetch: Callable[[str], bytes] | None = None
    keys: dict[str, object] = field(default_factory=dict)
    fetched_at: float = 0.0
    min_refetch_seconds: float = 300.0  # an unknown kid refetches at most this often (no fetch amplification)

    def __post_init__(self) -> None:
        if not self.location.startswith(("https://", "/", identity.KEY_SERVICE_SCHEME)):
            raise MachineTokenError("the JWKS location must be unix:<key service socket>, https:// or a file path")

    def key(self, kid: str) -> object:
        stale = time.monotonic() - self.fetched_at >= self.min_refetch_seconds
        if not self.keys or (kid not in self.keys and stale):
            self._load(kid)
        if kid not in self.keys:
            raise MachineTokenError("token signed with a key the issuer does not publish")
        return self.keys[kid]

    def _load(self, kid: str) -> None:
        self.fetched_at = time.monotonic()
        try:
            if self.location.startswith(identity.KEY_SERVICE_SCHEME):
                # The service fetches the pool's JWKS again when it does not know this kid (a rotated key).
                raw = identity.ask_key_service(self.location[len(identity.KEY_SERVICE_SCHEME) :], f"jwks {kid}")
            elif self.location.startswith("/"):
                with open(self.location, "rb") as fh:
                    raw = fh.read()
            else:
                raw = (self.fetch or _https_get)(self.location)
            published = json.loads(raw).get("keys", [])
        except (OSError, ValueError, AttributeError, identity.IdentityError) as exc:
            raise MachineTokenError(f"the issuer's keys are unavailable ({exc})") from None
        keys = {}
        for jwk in published:
            if jwk.get("kty") != "RSA" or jwk.get("alg", ALGORITHM) != ALGORITHM or not jwk.get("kid"):
                continue  # only RSA signing keys: an "oct" (HMAC) entry must never become a verification key
            keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm=ALGORITHM).key
        self.keys = keys


def _https_get(url: str) -> bytes:
    import ssl
    import urllib.request

    with urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=5) as resp:  # noqa: S310 (https only)
        return resp.read()


@dataclass
class MachineVerifier:
    issuer: str
    resource_server: str  # the scope prefix: "pacs" for scopes pacs/read and pacs/store
    clients: tuple[str, ...]  # the app client ids allowed in; empty admits none
    jwks: JwksSource

    def verify(self, token: str, path: str, now: float | None = None) -> MachineIdentity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise MachineTokenError(f"malformed token: {exc}") from None
        if header.get("alg") != ALGORITHM:
            # Checked before any key is touched: "none" and HS256-signed-with-the-public-key never get further.
            raise MachineTokenError(f"token algorithm {header.get('alg')!r} refused; only {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise MachineTokenError("token has no key id")
        try:
            claims = jwt.decode(
                token,
                self.jwks.key(kid),
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise MachineTokenError("token expired") from None
        except jwt.InvalidIssuerError:
            raise MachineTokenError("token from another issuer") from None
        except jwt.PyJWTError as exc:
            raise MachineTokenError(f"token refused: {exc}") from None
        except (OverflowError, ValueError, TypeError):  # PyJWT's int() of exp/iat: Infinity, NaN, a list...
            raise MachineTokenError("token has no finite expiry (exp) or issue time (iat)") from None
        try:
            # The same lifetime rules as every other token this host accepts: finite exp and iat, one hour at most.
            identity.check_lifetime(claims["exp"], claims["iat"], now)
        except identity.IdentityError as exc:
            raise MachineTokenError(str(exc)) from None
        if claims.get("token_use") != "access":
            raise MachineTokenError("not an access token")
        # Cognito access tokens carry no aud: the audience is the app client, which must be one of ours.
        if "aud" in claims and claims["aud"] not in (self.resource_server, *self.clients):
            raise MachineTokenError("token meant for another audience")
        client = claims.get("client_id")
        if client not in self.clients:
            raise MachineTokenError(f"client {client!r} is not a machine client of this stack")
        scope = self._pacs_scope(str(claims.get("scope", "")))
        if not path.startswith(MACHINE_PATH_PREFIX):
            raise MachineTokenError(f"machine clients may use {MACHINE_PATH_PREFIX} only")
        return MachineIdentity(client, scope, SCOPE_ROLES[scope])

    def _pacs_scope(self, scope_claim: str) -> str:
        prefix = f"{self.resource_server}/"
        ours = [s[len(prefix) :] for s in scope_claim.split() if s.startswith(prefix)]
        known = [s for s in ours if s in SCOPE_ROLES]
        if len(known) != 1 or len(ours) != 1:
            raise MachineTokenError(f"token must carry exactly one of {sorted(prefix + s for s in SCOPE_ROLES)}")
        return known[0]


def verifier_from_section(section: dict) -> MachineVerifier | None:
    """The plugin configuration's "Machine" section, or None when this host admits no machine client."""
    if not section or not section.get("Clients"):
        return None
    return MachineVerifier(
        issuer=section["Issuer"],
        resource_server=section.get("ResourceServer", "pacs"),
        clients=tuple(section["Clients"]),
        jwks=JwksSource(section["Jwks"]),
    )
