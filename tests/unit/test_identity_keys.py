"""The host's identity-key service: the one process that may fetch the ALB's keys and the pool's JWKS.

With hosts.package_egress: closed, Orthanc had no way to fetch them and every sign-in failed. These tests hold the
service to what the plugin relies on: only well-formed kids reach a URL, only an EC P-256 key (or RSA JWKS) is
served, every failure is one `error` line (the sign-in is refused), keys are cached, the JWKS is refreshed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pacsguard_identity as ident
import pacsguard_machine as machine
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from orthanc_config import identity_keys as keys
from orthanc_config.machine_issuer import LocalIssuer

ALB_URL = "https://public-keys.auth.elb.eu-central-1.amazonaws.com/{kid}"
JWKS_URL = "https://cognito-idp.eu-central-1.amazonaws.com/pool/.well-known/jwks.json"
KID = "6bd4ec37-06a6-4a32-a2b2-7f6f1d4f4c16"


def _pem(key: object) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


P256 = ec.generate_private_key(ec.SECP256R1())
P256_PEM = _pem(P256)


class Upstream:
    """Stands in for the internet: answers by URL and counts what was asked."""

    def __init__(self, answers: dict[str, bytes | Exception]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.asked.append(url)
        answer = self.answers.get(url, keys.KeyNotFound(f"cannot fetch {url} (HTTP Error 404: Not Found)"))
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service(tmp_path: Path, upstream: Upstream, clock: Clock | None = None, **urls: str) -> keys.KeyService:
    return keys.KeyService(
        urls.get("alb", ALB_URL), urls.get("jwks", JWKS_URL), tmp_path / "cache", upstream, clock or Clock()
    )


# -- the load balancer's keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kid", ["../../evil.example/x", "a/b", "kid?x=1", "", "k" * 129, "kid\nalb other", "ké"])
def test_kids_that_could_alter_the_url_or_the_cache_path_are_refused_before_any_fetch(tmp_path: Path, kid: str) -> None:
    upstream = Upstream({})
    assert service(tmp_path, upstream).answer(f"alb {kid}\n".encode()).startswith(b"error")
    assert upstream.asked == []


def test_alb_key_is_fetched_once_checked_and_cached_in_memory_and_on_disk(tmp_path: Path) -> None:
    upstream = Upstream({ALB_URL.format(kid=KID): P256_PEM})
    svc = service(tmp_path, upstream)
    assert svc.answer(f"alb {KID}\n".encode()) == b"ok\n" + P256_PEM
    assert svc.answer(f"alb {KID}\n".encode()) == b"ok\n" + P256_PEM
    assert upstream.asked == [ALB_URL.format(kid=KID)]
    # A restarted service serves the stored copy without asking the internet again.
    again = Upstream({})
    assert service(tmp_path, again).alb_key(KID) == P256_PEM and again.asked == []
    # A damaged copy is never served: the key is fetched (and checked) again.
    (tmp_path / "cache" / "alb" / f"{KID}.pem").write_bytes(b"-----BEGIN PUBLIC KEY-----\ngarbage")
    fresh = Upstream({ALB_URL.format(kid=KID): P256_PEM})
    assert service(tmp_path, fresh).alb_key(KID) == P256_PEM and len(fresh.asked) == 1


@pytest.mark.parametrize(
    "body",
    [
        _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        _pem(ec.generate_private_key(ec.SECP384R1())),
        b"<html>Access Denied</html>",
        b"",
    ],
    ids=["rsa", "p384", "html", "empty"],
)
def test_anything_but_an_ec_p256_public_key_is_refused_and_not_cached(tmp_path: Path, body: bytes) -> None:
    upstream = Upstream({ALB_URL.format(kid=KID): body})
    svc = service(tmp_path, upstream)
    answer = svc.answer(f"alb {KID}\n".encode())
    assert answer.startswith(b"error the load balancer key endpoint returned")
    assert answer.count(b"\n") == 1  # one line: the plugin logs it with the refused sign-in
    assert not (tmp_path / "cache" / "alb" / f"{KID}.pem").exists() and KID not in svc.alb_keys


def test_an_unreachable_endpoint_times_out_into_a_refusal(tmp_path: Path) -> None:
    """A server that accepts and never answers (the NAT black-holing): https_get gives up, nothing is served."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        with pytest.raises(keys.KeyServiceError, match="cannot fetch"):
            keys.https_get(f"https://127.0.0.1:{silent.getsockname()[1]}/{KID}", timeout=0.3)
    finally:
        silent.close()
    with pytest.raises(keys.KeyServiceError, match="non-https"):
        keys.https_get(f"http://127.0.0.1/{KID}")


def test_a_kid_the_endpoint_does_not_know_is_not_asked_again_within_a_minute_and_forged_kids_cannot_amplify(
    tmp_path: Path,
) -> None:
    clock = Clock()
    upstream = Upstream({})
    svc = service(tmp_path, upstream, clock)
    assert b"404" in svc.answer(f"alb {KID}\n".encode())
    assert b"not again yet" in svc.answer(f"alb {KID}\n".encode())
    assert len(upstream.asked) == 1
    forged = [f"forged-{i}" for i in range(keys.MAX_FETCHES_PER_MINUTE + 5)]
    for kid in forged:
        svc.answer(f"alb {kid}\n".encode())
    assert len(upstream.asked) == keys.MAX_FETCHES_PER_MINUTE  # the first failure counted too
    clock.now += keys.MIN_REFETCH_SECONDS + 1
    svc.answer(f"alb {KID}\n".encode())
    assert upstream.asked[-1] == ALB_URL.format(kid=KID)


def test_a_network_error_does_not_hold_a_newly_rotated_kid(tmp_path: Path) -> None:
    """Finding 3 of the AWS review: a NAT or DNS hiccup on a real new kid refused it for a minute; now only a 404
    holds a kid, so the next sign-in asks again and succeeds."""
    url = ALB_URL.format(kid=KID)
    upstream = Upstream({url: keys.KeyServiceError(f"cannot fetch {url} (timed out)")})
    svc = service(tmp_path, upstream, Clock())
    assert b"timed out" in svc.answer(f"alb {KID}\n".encode())
    upstream.answers[url] = P256_PEM
    assert svc.answer(f"alb {KID}\n".encode()).startswith(b"ok\n")
    assert upstream.asked == [url, url]


def test_only_a_404_counts_as_a_kid_the_endpoint_does_not_know() -> None:
    """The hold depends on it: urllib's 404 becomes KeyNotFound; a 500, a 403, a timeout or a refused connection
    say nothing about the kid."""
    import urllib.error

    url = ALB_URL.format(kid=KID)

    def http(code: int) -> urllib.error.HTTPError:
        return urllib.error.HTTPError(url, code, "x", None, None)  # type: ignore[arg-type]

    assert type(keys.fetch_error(url, http(404))) is keys.KeyNotFound
    for exc in (http(500), http(403), TimeoutError("timed out"), ConnectionRefusedError(111, "refused")):
        assert type(keys.fetch_error(url, exc)) is keys.KeyServiceError


def test_forged_alb_kids_do_not_spend_the_jwks_budget(tmp_path: Path, issuer: LocalIssuer) -> None:
    """Forged x-amzn-oidc-data headers exhaust the load balancer's budget only: a machine token naming a rotated
    pool key still refreshes the JWKS."""
    clock = Clock()
    upstream = Upstream({JWKS_URL: _jwks(issuer)})
    svc = service(tmp_path, upstream, clock)
    for i in range(keys.MAX_FETCHES_PER_MINUTE + 5):
        svc.answer(f"alb forged-{i}\n".encode())
    assert b"key fetches this minute, refused" in svc.answer(b"alb forged-last\n")
    assert svc.answer(f"jwks {issuer.kid()}\n".encode()).startswith(b"ok\n")
    assert upstream.asked[-1] == JWKS_URL


def test_a_host_without_load_balancer_identity_serves_no_alb_key(tmp_path: Path) -> None:
    assert b"no load balancer" in service(tmp_path, Upstream({}), alb="").answer(f"alb {KID}\n".encode())
    with pytest.raises(keys.KeyServiceError, match="https"):
        keys.KeyService("http://public-keys/{kid}", "", tmp_path)


# -- the pool's JWKS --------------------------------------------------------------------------------------------


@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    issuer = LocalIssuer("https://cognito-idp.test/pool", tmp_path / "issuer.pem", tmp_path / "published.json")
    issuer.ensure()
    return issuer


def _jwks(issuer: LocalIssuer) -> bytes:
    return issuer.jwks_file.read_bytes()


def test_jwks_is_checked_kept_and_refreshed_periodically(tmp_path: Path, issuer: LocalIssuer) -> None:
    old = _jwks(issuer)
    upstream = Upstream({JWKS_URL: old})
    svc = service(tmp_path, upstream)
    svc.refresh_jwks()
    assert json.loads(svc.answer(b"jwks\n")[3:])["keys"][0]["kid"] == issuer.kid()
    # The pool rotates its key: the next periodic refresh serves the new set.
    rotated = json.loads(old)
    rotated["keys"][0]["kid"] = "rotated-kid"
    upstream.answers[JWKS_URL] = json.dumps(rotated).encode()
    svc.refresh_jwks()
    assert [k["kid"] for k in json.loads(svc.jwks())["keys"]] == ["rotated-kid"]
    # A failed refresh keeps the last good copy, also across a restart.
    upstream.answers[JWKS_URL] = OSError("no route")
    with pytest.raises(OSError):
        svc.refresh_jwks()
    assert b"rotated-kid" in service(tmp_path, Upstream({})).jwks("rotated-kid")


def test_refresh_loop_logs_a_failure_and_keeps_serving(
    tmp_path: Path, issuer: LocalIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream = Upstream({JWKS_URL: _jwks(issuer)})
    svc = service(tmp_path, upstream)
    svc.refresh_jwks()
    upstream.answers[JWKS_URL] = keys.KeyServiceError("cannot fetch it (timed out)")
    stop = threading.Event()
    loop = threading.Thread(target=keys.refresh_forever, args=(svc, 0.01, stop))
    loop.start()
    for _ in range(3000):  # a bound, not a timing claim: the loop runs every 10 ms
        if len(upstream.asked) >= 3:
            break
        stop.wait(0.01)
    stop.set()
    loop.join()
    assert "JWKS refresh failed, keeping the last copy: cannot fetch it (timed out)" in capsys.readouterr().err
    assert issuer.kid().encode() in svc.jwks()


def test_no_jwks_refresh_runs_without_a_jwks_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Finding 5 of the AWS review: a host without machine clients logged "JWKS refresh failed" every hour."""
    upstream = Upstream({})
    assert keys.start_jwks_refresh(service(tmp_path, upstream, jwks=""), threading.Event()) is None
    assert upstream.asked == [] and capsys.readouterr().err == ""


def test_the_jwks_refresh_starts_with_a_first_fetch_when_a_url_is_set(tmp_path: Path, issuer: LocalIssuer) -> None:
    upstream = Upstream({JWKS_URL: _jwks(issuer)})
    stop = threading.Event()
    thread = keys.start_jwks_refresh(service(tmp_path, upstream), stop)
    try:
        assert thread is not None and thread.is_alive() and upstream.asked == [JWKS_URL]
    finally:
        stop.set()
        if thread is not None:
            thread.join()


def test_unknown_kid_refetches_the_jwks_once_a_minute_at_most(tmp_path: Path, issuer: LocalIssuer) -> None:
    clock = Clock()
    upstream = Upstream({JWKS_URL: _jwks(issuer)})
    svc = service(tmp_path, upstream, clock)
    svc.refresh_jwks()
    clock.now += keys.MIN_REFETCH_SECONDS + 1
    svc.jwks("never-published")
    svc.jwks("never-published")
    svc.jwks(issuer.kid())
    assert len(upstream.asked) == 2  # the periodic fetch and one for the unknown kid


@pytest.mark.parametrize(
    "body",
    [
        b'{"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}',
        b'{"keys": []}',
        b"not json",
        b'{"keys": {"kid": "x"}}',
    ],
    ids=["hmac-only", "empty", "not-json", "not-a-list"],
)
def test_a_jwks_without_rsa_signing_keys_is_refused(tmp_path: Path, body: bytes) -> None:
    answer = service(tmp_path, Upstream({JWKS_URL: body})).answer(b"jwks some-kid\n")
    assert answer.startswith(b"error the issuer's JWKS")


def test_hmac_entries_are_dropped_from_a_served_jwks(issuer: LocalIssuer) -> None:
    doc = json.loads(_jwks(issuer))
    doc["keys"].append({"kty": "oct", "kid": "h", "k": "c2VjcmV0"})
    assert [k["kty"] for k in json.loads(keys.check_jwks(json.dumps(doc).encode()))["keys"]] == ["RSA"]


# -- over the socket, as the plugin asks ------------------------------------------------------------------------


@contextlib.contextmanager
def serving(path: Path, svc: keys.KeyService) -> Iterator[Path]:
    """The service on a socket of the test's own, stopped and closed afterwards."""
    server = keys.KeyServer(path, svc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def served(tmp_path: Path, issuer: LocalIssuer) -> Iterator[tuple[Path, Upstream]]:
    upstream = Upstream({ALB_URL.format(kid=KID): P256_PEM, JWKS_URL: _jwks(issuer)})
    with serving(tmp_path / "keys.sock", service(tmp_path, upstream)) as path:
        yield path, upstream


def test_plugin_gets_alb_keys_through_the_socket_and_fails_closed_with_the_reason(
    served: tuple[Path, Upstream],
) -> None:
    path, _ = served
    alb = ident.AlbKeys(f"unix:{path}")
    assert (
        alb.key_for(base64_token({"alg": "ES256", "kid": KID})).public_numbers() == P256.public_key().public_numbers()
    )
    with pytest.raises(ident.IdentityError, match=r"no signing key for kid unknown-kid: identity key service: .*404"):
        alb.key_for(base64_token({"alg": "ES256", "kid": "unknown-kid"}))


def test_plugin_refuses_when_the_key_service_is_not_running(tmp_path: Path) -> None:
    alb = ident.AlbKeys(f"unix:{tmp_path / 'absent.sock'}")
    token = base64_token({"alg": "ES256", "kid": KID})
    with pytest.raises(ident.IdentityError, match=r"identity key service .*absent\.sock unavailable"):
        alb.key_for(token)


def base64_token(header: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(header).encode()).decode().rstrip("=") + ".e30.sig"


def test_machine_tokens_verify_against_the_jwks_the_service_serves(
    served: tuple[Path, Upstream], issuer: LocalIssuer
) -> None:
    path, upstream = served
    verifier = machine.MachineVerifier(issuer.issuer, "pacs", ("router",), machine.JwksSource(f"unix:{path}"))
    assert verifier.verify(issuer.mint("router"), "/dicom-web/studies").role == "service"
    assert upstream.asked == [JWKS_URL]


def test_oversized_requests_are_refused(served: tuple[Path, Upstream]) -> None:
    path, upstream = served
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(path))
        conn.sendall(b"alb " + b"a" * 400 + b"\n")
        assert conn.recv(100).startswith(b"error request too long")
    assert upstream.asked == []


def test_readme_states_the_services_own_figures() -> None:
    """README numbers come from code: the refresh period and the fetch limits it states are these constants."""
    import re

    readme = re.sub(r"\s+", " ", (Path(__file__).resolve().parents[2] / "README.md").read_text())
    words = {1: "one", 10: "ten"}
    assert keys.JWKS_REFRESH_SECONDS == 3600 and "refreshes the JWKS every hour" in readme
    assert keys.MIN_REFETCH_SECONDS == 60
    assert (
        f"(a `kid` the endpoint answers 404 for is asked again after a minute, the load balancer's keys "
        f"{words[keys.MAX_FETCHES_PER_MINUTE]} fetches a minute in all, the JWKS one)" in readme
    )
