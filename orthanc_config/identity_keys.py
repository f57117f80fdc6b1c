"""The host's identity-key service: the one process allowed to fetch verification keys from the internet.

On AWS the plugin verifies two kinds of signed identity, and neither key source has a VPC endpoint:
- the ALB's `x-amzn-oidc-data` header (ES256): the key for each `kid` is published at
  https://public-keys.auth.elb.<region>.amazonaws.com/<kid> (AWS GovCloud (US):
  https://s3-<region>.amazonaws.com/aws-elb-public-keys-prod-<region>/<kid>), see "User claims encoding and
  signature verification" in https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html;
- machine clients' Cognito access tokens (RS256): the pool's JWKS at <issuer>/.well-known/jwks.json. "Amazon Cognito
  might rotate signing keys in your user pool ... cache public keys in your app, using the kid as a cache key, and
  refresh the cache periodically" (https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html),
  and a user pool with a domain cannot be reached through an interface endpoint
  (https://docs.aws.amazon.com/cognito/latest/developerguide/vpc-interface-endpoints.html).

So Orthanc keeps no internet egress: it asks this service over a Unix socket. The service runs as its own system
user (the host firewall admits internet HTTPS for that uid alone), fetches only from the two URLs its profile names
(a request carries a validated kid, never a URL), checks what it got (an EC P-256 public key; a JWKS of RSA keys),
keeps it in memory and on disk, refreshes the JWKS periodically and on an unknown kid (rate limited), and answers
`error ...` on every failure, so the plugin refuses the sign-in.

Protocol, one request per connection: `alb <kid>\\n` -> `ok\\n<PEM>`; `jwks <kid>\\n` -> `ok\\n<JWKS JSON>`;
otherwise `error <reason>\\n`. Standard library plus Debian's python3-cryptography (38).
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import re
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from orthanc_config.profile import HostProfile

USER = "pacsguard-keys"  # the only uid the host firewall lets out to the internet on 443
# The bootstrap makes the directory pacsguard-keys:orthanc 0750: Orthanc may reach the socket, nobody else but root.
# It persists (not /run) so the service finds it after a reboot without the bootstrap running again.
SERVICE_DIR = Path("/var/lib/pacsguard-keys")
SOCKET = SERVICE_DIR / "keys.sock"
CACHE_DIR = SERVICE_DIR / "cache"  # 0700: keys fetched before, kept across restarts
# The ALB's kids are UUIDs and become part of a URL and a file name: letters, digits and hyphens only.
ALB_KID_RE = re.compile(r"^[A-Za-z0-9-]{1,128}$")
# Cognito's are base64 (letters, digits, + / =); they are only looked up in the fetched set, never put in a URL.
JWKS_KID_RE = re.compile(r"^[A-Za-z0-9+/=_-]{1,128}$")
MAX_KEY_BYTES = 64 * 1024  # a PEM key is ~180 bytes, a JWKS ~1 KB: anything larger is not a key
MAX_REQUEST_BYTES = 256
FETCH_TIMEOUT_SECONDS = 5.0
JWKS_REFRESH_SECONDS = 3600.0  # periodic refresh, so a rotated pool key is known before the first token uses it
MIN_REFETCH_SECONDS = 60.0  # a kid the endpoint does not know (404), or the JWKS, is asked again after a minute
# Load balancer key fetches at most this often, on a budget of their own: forged kids cannot amplify, and cannot
# spend the JWKS's (which an unknown kid may refresh once a minute).
MAX_FETCHES_PER_MINUTE = 10
MAX_ALB_KEYS = 64  # keys kept by kid; the ALB uses a handful per region

Fetch = Callable[[str], bytes]


class KeyServiceError(Exception):
    """A key could not be served; the message is the one line the plugin logs with the refused sign-in."""


class KeyNotFound(KeyServiceError):
    """The endpoint answered 404: it has no such key. Unlike a network error, worth remembering for a while."""


def check_kid(kid: str, pattern: re.Pattern[str] = ALB_KID_RE) -> str:
    if not isinstance(kid, str) or not pattern.match(kid):
        raise KeyServiceError(f"refused key id {kid[:40]!r}: not of the form {pattern.pattern}")
    return kid


def check_alb_key(pem: bytes) -> bytes:
    """The ALB's key must be a PEM EC P-256 public key (ES256); returned re-encoded, so only the key is stored."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise KeyServiceError(f"the load balancer key endpoint returned no PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise KeyServiceError("the load balancer key endpoint returned a key that is not EC P-256 (ES256)")
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_jwks(raw: bytes) -> bytes:
    """Only RSA signing keys with a kid are kept (an 'oct' entry must never become a verification key)."""
    try:
        doc = json.loads(raw)
        published = doc["keys"]
        if not isinstance(published, list):
            raise ValueError("keys is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyServiceError(f"the issuer's JWKS is not a JSON key set ({exc})") from None
    keys = [
        k
        for k in published
        if isinstance(k, dict)
        and k.get("kty") == "RSA"
        and k.get("alg", "RS256") == "RS256"
        and k.get("use", "sig") == "sig"
        and isinstance(k.get("kid"), str)
        and k.get("n")
        and k.get("e")
    ]
    if not keys:
        raise KeyServiceError("the issuer's JWKS holds no RSA signing key")
    return json.dumps({"keys": keys}, sort_keys=True).encode()


def https_get(url: str, timeout: float = FETCH_TIMEOUT_SECONDS) -> bytes:
    """GET over verified TLS, at most MAX_KEY_BYTES; a redirect off https is refused."""
    if not url.startswith("https://"):
        raise KeyServiceError(f"refused non-https key URL {url}")

    class HttpsOnly(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
            if not newurl.startswith("https://"):
                raise KeyServiceError(f"refused redirect off https to {newurl}")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ssl.create_default_context()), HttpsOnly())
    try:
        with opener.open(url, timeout=timeout) as resp:
            body = resp.read(MAX_KEY_BYTES + 1)
    except KeyServiceError:
        raise
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, TLS failures are all OSError
        raise fetch_error(url, exc) from None
    if len(body) > MAX_KEY_BYTES:
        raise KeyServiceError(f"{url} answered more than {MAX_KEY_BYTES} bytes: not a key")
    return body


def fetch_error(url: str, exc: Exception) -> KeyServiceError:
    """A 404 says the endpoint has no such key (KeyNotFound); anything else may pass and says nothing of the kid."""
    kind = KeyNotFound if isinstance(exc, urllib.error.HTTPError) and exc.code == 404 else KeyServiceError
    return kind(f"cannot fetch {url} ({exc})")


@dataclass
class KeyService:
    alb_key_url: str  # https://.../{kid}; "" when this host verifies no load balancer header
    jwks_url: str  # https://.../.well-known/jwks.json; "" when this host admits no machine client
    cache_dir: Path
    fetch: Fetch = https_get
    clock: Callable[[], float] = time.monotonic
    alb_keys: dict[str, bytes] = field(default_factory=dict)
    jwks_doc: bytes = b""
    jwks_fetched_at: float = float("-inf")
    held: dict[str, float] = field(default_factory=dict)  # source -> when it was last held (404 kid, JWKS fetch)
    recent_fetches: dict[str, list[float]] = field(default_factory=dict)  # budget ("alb") -> fetch times
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.alb_key_url and not (self.alb_key_url.startswith("https://") and "{kid}" in self.alb_key_url):
            raise KeyServiceError("alb_key_url must be https:// and contain {kid}")
        if self.jwks_url and not self.jwks_url.startswith("https://"):
            raise KeyServiceError("jwks_url must be https://")
        saved = self.cache_dir / "jwks.json"
        if self.jwks_url and saved.exists():
            try:
                self.jwks_doc = check_jwks(saved.read_bytes())  # a restart keeps serving what it fetched before
            except KeyServiceError:
                self.jwks_doc = b""

    # -- the load balancer's keys, by kid ---------------------------------------------------------------------
    def alb_key(self, kid: str) -> bytes:
        kid = check_kid(kid)
        if not self.alb_key_url:
            raise KeyServiceError("this host verifies no load balancer header")
        if kid in self.alb_keys:  # the common case answers without waiting for another request's fetch
            return self.alb_keys[kid]
        with self.lock:
            if kid in self.alb_keys:
                return self.alb_keys[kid]
            disk = self.cache_dir / "alb" / f"{kid}.pem"
            pem = b""
            if disk.exists():
                # A kid names one key forever (the endpoint is addressed by it): a stored copy stays valid.
                try:
                    pem = check_alb_key(disk.read_bytes())
                except KeyServiceError:
                    disk.unlink()  # a damaged copy is fetched again, never served
            if not pem:
                self._throttle(f"alb {kid}", budget="alb")
                try:
                    raw = self.fetch(self.alb_key_url.format(kid=kid))
                except KeyNotFound:
                    # Only a 404 holds the kid: after a timeout or a NAT hiccup a newly rotated real kid is asked
                    # again on the next sign-in.
                    self.held[f"alb {kid}"] = self.clock()
                    raise
                pem = check_alb_key(raw)
                _write_atomic(disk, pem)
            if len(self.alb_keys) >= MAX_ALB_KEYS:
                self.alb_keys.pop(next(iter(self.alb_keys)))
            self.alb_keys[kid] = pem
            return pem

    # -- the pool's JWKS ----------------------------------------------------------------------------------------
    def jwks(self, kid: str = "") -> bytes:
        """The current JWKS; an unknown kid fetches it again first (at most once a minute)."""
        if kid:
            check_kid(kid, JWKS_KID_RE)
        if not self.jwks_url:
            raise KeyServiceError("this host admits no machine client")
        doc = self.jwks_doc
        if doc and (not kid or kid in _kids(doc)):
            return doc
        with self.lock:
            if not self.jwks_doc or (kid and kid not in _kids(self.jwks_doc)):
                try:
                    self._throttle("jwks")
                    self._refresh_jwks()
                except KeyServiceError:
                    if not self.jwks_doc:
                        raise
            return self.jwks_doc

    def refresh_jwks(self) -> None:
        """The periodic refresh: a failure keeps the last good copy (and says so in the caller's log)."""
        with self.lock:
            self._refresh_jwks()

    def _refresh_jwks(self) -> None:
        self.held["jwks"] = self.clock()  # one JWKS fetch a minute, whatever kids the tokens name
        doc = check_jwks(self.fetch(self.jwks_url))
        _write_atomic(self.cache_dir / "jwks.json", doc)
        self.jwks_doc, self.jwks_fetched_at = doc, self.clock()

    def _throttle(self, source: str, budget: str = "") -> None:
        """Refuse a source held less than a minute ago, and a fetch beyond its budget's limit this minute."""
        now = self.clock()
        self.held = {k: t for k, t in self.held.items() if now - t < MIN_REFETCH_SECONDS}
        if source in self.held:
            raise KeyServiceError(f"{source}: fetched less than {MIN_REFETCH_SECONDS:.0f} s ago, not again yet")
        if budget:
            recent = [t for t in self.recent_fetches.get(budget, []) if now - t < 60.0]
            if len(recent) >= MAX_FETCHES_PER_MINUTE:
                raise KeyServiceError(f"{source}: more than {MAX_FETCHES_PER_MINUTE} key fetches this minute, refused")
            self.recent_fetches[budget] = [*recent, now]

    # -- one request line -------------------------------------------------------------------------------------
    def answer(self, request: bytes) -> bytes:
        try:
            line = request.decode("ascii").strip()
            kind, _, kid = line.partition(" ")
            if kind == "alb":
                return b"ok\n" + self.alb_key(kid)
            if kind == "jwks":
                return b"ok\n" + self.jwks(kid)
            raise KeyServiceError("unknown request: expected 'alb <kid>' or 'jwks <kid>'")
        except UnicodeDecodeError:
            return b"error request is not ASCII\n"
        except KeyServiceError as exc:
            return f"error {exc}\n".encode()


def _kids(doc: bytes) -> set[str]:
    return {k["kid"] for k in json.loads(doc)["keys"]}


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:  # the key is still served from memory; only the restart copy is missing
        print(f"pacsguard-identity-keys: cannot keep a copy in {path} ({exc})", file=sys.stderr)


class _Handler(socketserver.StreamRequestHandler):
    timeout = 5  # a client that sends nothing does not hold a thread

    def handle(self) -> None:
        service: KeyService = self.server.service  # type: ignore[attr-defined]
        request = self.rfile.readline(MAX_REQUEST_BYTES + 1)
        if len(request) > MAX_REQUEST_BYTES:
            self.wfile.write(b"error request too long\n")
            return
        answer = service.answer(request)
        if answer.startswith(b"error"):
            print(f"pacsguard-identity-keys: {request.strip()!r}: {answer.decode().strip()}", file=sys.stderr)
        self.wfile.write(answer)


class KeyServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    # The socket itself is open to all; its directory (pacsguard-keys:orthanc 0750) admits only Orthanc.
    def __init__(self, path: Path, service: KeyService, mode: int = 0o666) -> None:
        path.unlink(missing_ok=True)
        super().__init__(str(path), _Handler)
        os.chmod(path, mode)
        self.service = service


def refresh_forever(service: KeyService, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            service.refresh_jwks()
        except KeyServiceError as exc:
            print(f"pacsguard-identity-keys: JWKS refresh failed, keeping the last copy: {exc}", file=sys.stderr)


def start_jwks_refresh(service: KeyService, stop: threading.Event) -> threading.Thread | None:
    """First JWKS fetch, then the periodic refresh; none at all on a host without machine clients (a thread with no
    URL would only log a failure every hour)."""
    if not service.jwks_url:
        return None
    try:
        service.refresh_jwks()
    except KeyServiceError as exc:
        print(f"pacsguard-identity-keys: first JWKS fetch failed: {exc}", file=sys.stderr)
    thread = threading.Thread(target=refresh_forever, args=(service, JWKS_REFRESH_SECONDS, stop), daemon=True)
    thread.start()
    return thread


def sources(profile: HostProfile) -> tuple[str, str]:
    """(ALB key URL template, JWKS URL) this host must fetch from the internet; ("", "") when none (local mode)."""
    alb = profile.jwt_key_url if profile.jwt_key_url.startswith("https://") else ""
    jwks = profile.machine_jwks if profile.machine_clients and profile.machine_jwks.startswith("https://") else ""
    return alb, jwks


def needed(profile: HostProfile) -> bool:
    return any(sources(profile))


def plugin_location(url: str) -> str:
    """What the plugin configuration names instead of an internet URL: this service's socket."""
    return f"unix:{SOCKET}" if url.startswith("https://") else url


def ensure_user(say: Callable[[str], None]) -> None:
    """The service's own system user (before the firewall, which names it, is loaded) and its directories."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        say(f"Users: creating {USER} (the identity-key service, the one uid with internet HTTPS)")
        subprocess.run(
            ["useradd", "--system", "--user-group", "--home-dir", "/nonexistent", "--no-create-home",
             "--shell", "/usr/sbin/nologin", "--comment", "PACSGuard identity keys", USER],
            check=True, capture_output=True,
        )  # fmt: skip
    uid = pwd.getpwnam(USER).pw_uid
    for path, mode, gid in ((SERVICE_DIR, 0o750, grp.getgrnam("orthanc").gr_gid), (CACHE_DIR, 0o700, None)):
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, uid, pwd.getpwnam(USER).pw_gid if gid is None else gid)
        os.chmod(path, mode)


def drop_privileges(user: str) -> None:
    """systemd starts the service as root only because the host bundle is root's (0600): with the code loaded, it
    becomes its own user before it opens any socket, so the firewall's `meta skuid` sees that user's uid."""
    entry = pwd.getpwnam(user)
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    if os.getuid() != entry.pw_uid or os.geteuid() != entry.pw_uid:
        raise KeyServiceError(f"must run as {user} (uid {entry.pw_uid}), runs as uid {os.getuid()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pacsguard-identity-keys", description=__doc__.split("\n")[0])
    parser.add_argument("--alb-key-url", default="", help="https://.../{kid}: the load balancer's key endpoint")
    parser.add_argument("--jwks-url", default="", help="https://.../.well-known/jwks.json: the user pool's keys")
    parser.add_argument("--socket", type=Path, default=SOCKET)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--user", default="", help="drop to this user before serving (the unit passes pacsguard-keys)")
    args = parser.parse_args(argv)
    try:
        if args.user:
            drop_privileges(args.user)
        service = KeyService(args.alb_key_url, args.jwks_url, args.cache_dir)
    except (KeyError, OSError, KeyServiceError) as exc:
        print(f"pacsguard-identity-keys: error: {exc}", file=sys.stderr)
        return 2
    start_jwks_refresh(service, threading.Event())
    try:
        server = KeyServer(args.socket, service)
    except OSError as exc:
        print(f"pacsguard-identity-keys: error: cannot listen on {args.socket} ({exc})", file=sys.stderr)
        return 2
    with server:
        print(f"pacsguard-identity-keys: serving on {args.socket}", file=sys.stderr)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
