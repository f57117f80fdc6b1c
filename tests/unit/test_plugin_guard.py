"""The composed guard: identify, decide, record; and refuse whenever the record cannot be written."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import pacsguard_guard as guard_mod
import pacsguard_identity as ident
import pacsguard_syslog as syslog
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
ROLES = {"alice": "radiologist", "tom": "technologist", "pacsguard-gateway": "gateway"}


def basic(user: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:x".encode()).decode()}


RECEIVED: dict[str, list[dict]] = {}


def _fake_sink(rx: socket.socket, seen: list[dict]) -> None:
    """Stores each record and acknowledges it, as the real sink does."""
    while True:
        data, addr = rx.recvfrom(65536)
        seen.append(syslog.parse_record(data)[1])
        if addr:
            rx.sendto(b"stored", addr)


def settings(roles: dict, tmp_path: Path, *args: object, **kwargs: object) -> guard_mod.GuardSettings:
    """Guard settings whose audit socket is a datagram socket this test reads, as the sink would."""
    path = str(tmp_path / f"sink{len(RECEIVED)}.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    RECEIVED[path] = []
    threading.Thread(target=_fake_sink, args=(rx, RECEIVED[path]), daemon=True).start()
    return guard_mod.GuardSettings(roles, str(tmp_path / "audit.jsonl"), *args, audit_socket=path, **kwargs)


@pytest.fixture
def guard(tmp_path: Path) -> guard_mod.Guard:
    return guard_mod.Guard(settings(ROLES, tmp_path, "basic+jwt", PEM))


def lines(g: guard_mod.Guard) -> list[dict]:
    """Every record the guard handed to its sink so far, as the sink parsed it (RFC 5424 structured data)."""
    return RECEIVED[g.settings.audit_socket]


def test_allowed_request_is_recorded_with_user_role_and_client_ip(guard: guard_mod.Guard) -> None:
    assert guard.http("GET", "/studies", "127.0.0.1", {**basic("alice"), "x-real-ip": "198.18.0.1"})
    (rec,) = lines(guard)
    assert rec["user"] == "alice" and rec["role"] == "radiologist" and rec["outcome"] == "0"
    assert rec["source_ip"] == "198.18.0.1" and rec["event_id"] == "110103"


def test_client_ip_header_is_trusted_only_from_loopback(guard: guard_mod.Guard) -> None:
    guard.http("GET", "/studies", "203.0.113.9", {**basic("alice"), "x-real-ip": "10.0.0.1"})
    assert lines(guard)[0]["source_ip"] == "203.0.113.9"


def test_denied_request_is_recorded_as_failure(guard: guard_mod.Guard) -> None:
    assert not guard.http("POST", "/instances", "127.0.0.1", basic("alice"))
    assert lines(guard)[0]["outcome"] == "4"


def test_query_strings_never_reach_the_audit_log(guard: guard_mod.Guard) -> None:
    guard.http("GET", "/dicom-web/studies?PatientName=DOE^JOHN", "127.0.0.1", basic("alice"))
    assert "DOE" not in json.dumps(lines(guard))


def test_unknown_user_and_gateway_without_token_are_refused(guard: guard_mod.Guard) -> None:
    assert not guard.http("GET", "/studies", "127.0.0.1", basic("mallory"))
    assert not guard.http("GET", "/studies", "127.0.0.1", basic("pacsguard-gateway"))


def test_jwt_identity_gives_the_token_role(guard: guard_mod.Guard) -> None:
    token = ident.sign_jwt({"email": "dr@x", "custom:pacs_role": "radiologist", "exp": time.time() + 60}, KEY)
    headers = {**basic("pacsguard-gateway"), ident.JWT_HEADER: token}
    assert guard.http("GET", "/studies", "127.0.0.1", headers)
    assert not guard.http("POST", "/instances", "127.0.0.1", headers)
    assert lines(guard)[0]["user"] == "dr@x"


def test_forged_jwt_is_an_authentication_failure(guard: guard_mod.Guard) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    token = ident.sign_jwt({"email": "dr@x", "custom:pacs_role": "admin", "exp": time.time() + 60}, other)
    assert not guard.http("GET", "/studies", "127.0.0.1", {**basic("pacsguard-gateway"), ident.JWT_HEADER: token})
    rec = lines(guard)[0]
    assert rec["event_id"] == "110114" and rec["outcome"] == "4"


def test_fails_closed_when_the_sink_is_not_listening(tmp_path: Path) -> None:
    g = guard_mod.Guard(guard_mod.GuardSettings(ROLES, "/x", audit_socket=str(tmp_path / "no-sink.sock")))
    assert not g.http("GET", "/studies", "127.0.0.1", basic("alice"))
    assert g.dicom_store("CT1", {"StudyInstanceUID": "1.2"}) == guard_mod.STORE_REFUSED


def test_refuses_to_start_without_a_sink() -> None:
    with pytest.raises(guard_mod.audit.AuditError, match="AuditSocket"):
        guard_mod.Guard(guard_mod.GuardSettings(ROLES, "/x"))


def test_dicom_store_is_recorded_with_uids(guard: guard_mod.Guard) -> None:
    tags = {"StudyInstanceUID": "1.2", "SeriesInstanceUID": "1.2.3", "SOPInstanceUID": "1.2.3.4"}
    assert guard.dicom_store("CT1", tags) == 0
    rec = lines(guard)[0]
    assert (rec["ae_title"], rec["study_uid"], rec["instance_uid"], rec["event_id"]) == (
        "CT1",
        "1.2",
        "1.2.3.4",
        "110104",
    )


def test_basic_disabled_in_jwt_only_mode(tmp_path: Path) -> None:
    g = guard_mod.Guard(settings(ROLES, tmp_path, "jwt", PEM))
    assert not g.http("GET", "/studies", "127.0.0.1", basic("alice"))


def test_settings_read_from_orthanc_configuration(tmp_path: Path) -> None:
    key = tmp_path / "jwt.pem"
    key.write_bytes(PEM)
    cfg = {"PACSGuard": {"Roles": ROLES, "AuditLog": "/x", "Identity": "basic+jwt", "JwtPublicKeyFile": str(key)}}
    s = guard_mod.GuardSettings.from_orthanc_configuration(json.dumps(cfg))
    assert s.roles == ROLES and s.jwt_public_key_pem == PEM


ALB_ARN = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/pacsguard-prod-web/abc"


def alb_token(key: ec.EllipticCurvePrivateKey, kid: str, signer: str = ALB_ARN, **claims: object) -> str:
    """A token shaped like the ALB's: kid and signer in the header."""
    import base64 as b64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    exp = int(time.time()) + 60
    header = {"alg": "ES256", "kid": kid, "signer": signer, "exp": exp, "typ": "JWT"}
    body = {"email": "dr@x", "exp": exp, **claims}

    def seg(obj: dict) -> str:
        return b64.urlsafe_b64encode(json.dumps(obj).encode()).decode()

    signing_input = f"{seg(header)}.{seg(body)}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64.urlsafe_b64encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big')).decode()}"


def alb_guard(tmp_path: Path, keys: dict[str, bytes], fetched: list[str]) -> guard_mod.Guard:
    g = guard_mod.Guard(
        settings(
            ROLES, tmp_path, "jwt", jwt_signer=ALB_ARN,
            jwt_key_url="https://public-keys.auth.elb.eu-central-1.amazonaws.com/{kid}",
        )
    )  # fmt: skip

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return keys[url.rsplit("/", 1)[1]]

    g.alb_keys.fetch = fetch
    return g


def test_alb_key_is_fetched_by_kid_once_and_cached(tmp_path: Path) -> None:
    fetched: list[str] = []
    g = alb_guard(tmp_path, {"kid-1": PEM}, fetched)
    token = alb_token(KEY, "kid-1", **{"custom:pacs_role": "radiologist"})
    headers = {**basic("pacsguard-gateway"), ident.JWT_HEADER: token}
    assert g.http("GET", "/studies", "127.0.0.1", headers)
    assert g.http("GET", "/studies", "127.0.0.1", headers)
    assert fetched == ["https://public-keys.auth.elb.eu-central-1.amazonaws.com/kid-1"]


def test_token_from_another_alb_of_the_region_is_refused(tmp_path: Path) -> None:
    g = alb_guard(tmp_path, {"kid-1": PEM}, [])
    token = alb_token(
        KEY, "kid-1", signer=ALB_ARN.replace("pacsguard-prod-web", "someone-else"), **{"custom:pacs_role": "admin"}
    )
    assert not g.http("GET", "/studies", "127.0.0.1", {**basic("pacsguard-gateway"), ident.JWT_HEADER: token})


def test_kid_that_could_alter_the_url_is_refused(tmp_path: Path) -> None:
    fetched: list[str] = []
    g = alb_guard(tmp_path, {}, fetched)
    token = alb_token(KEY, "../../evil.example/x", **{"custom:pacs_role": "admin"})
    assert not g.http("GET", "/studies", "127.0.0.1", {**basic("pacsguard-gateway"), ident.JWT_HEADER: token})
    assert fetched == []


def test_key_url_without_signer_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ident.IdentityError, match="JwtSigner"):
        guard_mod.Guard(settings(ROLES, tmp_path, "jwt", jwt_key_url="https://k/{kid}"))


# Hole 3: a cross-site page replayed the admin's cached Basic credentials with a text/plain POST.
ADMIN_ROLES = {**ROLES, "root": "admin"}


@pytest.fixture
def admin_guard(tmp_path: Path) -> guard_mod.Guard:
    return guard_mod.Guard(settings(ADMIN_ROLES, tmp_path, "basic+jwt", PEM))


SAME_SITE = {"host": "pacs.example.org", "content-type": "application/json"}
CROSS_SITE_CASES = {
    "text/plain from another origin": {"origin": "https://evil.example", "content-type": "text/plain"},
    "json from another origin": {"origin": "https://evil.example", "content-type": "application/json"},
    "opaque origin": {"origin": "null", "content-type": "application/json"},
    "sec-fetch-site cross-site": {"sec-fetch-site": "cross-site", "content-type": "application/json"},
    "text/plain without origin": {"content-type": "text/plain"},
    "form without origin": {"content-type": "application/x-www-form-urlencoded"},
    "no content type": {},
}


@pytest.mark.parametrize("case", CROSS_SITE_CASES)
def test_cross_site_state_change_is_refused_and_alerted(admin_guard: guard_mod.Guard, case: str) -> None:
    headers = {**basic("root"), "host": "pacs.example.org", **CROSS_SITE_CASES[case]}
    assert not admin_guard.http("POST", "/tools/bulk-delete", "127.0.0.1", headers)
    rec = lines(admin_guard)[-1]
    assert rec["event_id"] == "110113" and rec["outcome"] == "8" and rec["user"] == "root"


def test_cross_site_delete_is_refused(admin_guard: guard_mod.Guard) -> None:
    headers = {**basic("root"), "host": "pacs.example.org", "origin": "https://evil.example"}
    assert not admin_guard.http("DELETE", "/studies/x", "127.0.0.1", headers)


@pytest.mark.parametrize(
    "extra",
    [{}, {"origin": "https://pacs.example.org"}, {"sec-fetch-site": "same-origin"}],
    ids=["no origin", "own origin", "same-origin fetch"],
)
def test_same_site_state_change_with_a_real_content_type_is_allowed(admin_guard: guard_mod.Guard, extra: dict) -> None:
    assert admin_guard.http("POST", "/tools/find", "127.0.0.1", {**basic("root"), **SAME_SITE, **extra})


def test_x_requested_with_admits_a_plain_post(admin_guard: guard_mod.Guard) -> None:
    headers = {**basic("root"), "host": "pacs.example.org", "content-type": "text/plain", "x-requested-with": "x"}
    assert admin_guard.http("POST", "/tools/find", "127.0.0.1", headers)


def test_cross_site_read_is_not_a_state_change(admin_guard: guard_mod.Guard) -> None:
    headers = {**basic("root"), "host": "pacs.example.org", "origin": "https://evil.example"}
    assert admin_guard.http("GET", "/studies", "127.0.0.1", headers)


# Exports: every route that releases a file is a DICOM Export (110106) naming its studies.
def resolver_guard(tmp_path: Path) -> guard_mod.Guard:
    studies = {("studies", "s1"): ["1.2.3"], ("instances", "i1"): ["1.2.3"], ("patients", "p1"): ["1.2.3", "1.2.4"]}
    return guard_mod.Guard(
        settings(ADMIN_ROLES, tmp_path, "basic+jwt", PEM), lambda level, oid: studies.get((level, oid), [])
    )


@pytest.mark.parametrize(
    ("path", "studies"),
    [
        ("/studies/s1/archive", ["1.2.3"]),
        ("/patients/p1/media", ["1.2.3", "1.2.4"]),
        ("/instances/i1/file", ["1.2.3"]),
        ("/instances/i1/attachments/1/data", ["1.2.3"]),
        ("/instances/i1/attachments/%31/compressed-data", ["1.2.3"]),
        ("/dicom-web/studies/1.2.9/series/4.5", ["1.2.9"]),
        ("/wado?requestType=WADO&studyUID=1.2.8&objectUID=1.2.8.1", ["1.2.8"]),
    ],
)
def test_every_file_releasing_route_is_an_export_naming_its_studies(
    tmp_path: Path, path: str, studies: list[str]
) -> None:
    g = resolver_guard(tmp_path)
    assert g.http("GET", path, "127.0.0.1", {**basic("root"), "host": "pacs"})
    rec = lines(g)[-1]
    got = rec["study_uids"] if isinstance(rec["study_uids"], list) else [rec["study_uids"]]
    assert (rec["event_id"], got, rec["count"]) == ("110106", studies, str(len(studies)))


def test_an_archive_made_by_post_is_an_export_naming_its_studies(tmp_path: Path) -> None:
    """POST /studies/{id}/archive (Synchronous) hands the ZIP out: admin's was recorded as 110100, no studies."""
    g = resolver_guard(tmp_path)
    headers = {**basic("root"), "host": "pacs", "content-type": "application/json"}
    assert g.http("POST", "/studies/s1/archive", "127.0.0.1", headers)
    rec = lines(g)[-1]
    assert (rec["event_id"], rec["study_uids"], rec["count"]) == ("110106", "1.2.3", "1")


def test_fails_closed_when_the_sink_never_confirms_the_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record the sink did not confirm as stored is not a record: the request is refused."""
    monkeypatch.setattr(guard_mod.audit, "ACK_TIMEOUT_S", 0.2)
    path = str(tmp_path / "silent.sock")
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    silent.bind(path)  # receives, never answers
    g = guard_mod.Guard(guard_mod.GuardSettings(ROLES, "/x", audit_socket=path))
    assert not g.http("GET", "/studies", "127.0.0.1", basic("alice"))
    silent.close()


# The study an exported file belongs to is asked of Orthanc once per id that cannot change study.
def counting_guard(tmp_path: Path, answers: dict) -> tuple[guard_mod.Guard, list[tuple[str, str]]]:
    asked: list[tuple[str, str]] = []

    def studies_of(level: str, oid: str) -> list[str]:
        asked.append((level, oid))
        return list(answers.get((level, oid), []))

    return guard_mod.Guard(settings(ADMIN_ROLES, tmp_path, "basic+jwt", PEM), studies_of), asked


def test_each_export_is_recorded_with_its_study_though_orthanc_is_asked_once(tmp_path: Path) -> None:
    g, asked = counting_guard(tmp_path, {("instances", "i1"): ["1.2.3"]})
    for _ in range(3):
        assert g.http("GET", "/instances/i1/file", "127.0.0.1", {**basic("root"), "host": "pacs"})
    exports = [r for r in lines(g) if r.get("event_id") == "110106"]
    assert [r["study_uids"] for r in exports] == ["1.2.3"] * 3
    assert asked == [("instances", "i1")]


def test_a_patients_studies_and_an_unknown_id_are_asked_every_time(tmp_path: Path) -> None:
    answers = {("patients", "p1"): ["1.2.3"]}
    g, asked = counting_guard(tmp_path, answers)
    root = {**basic("root"), "host": "pacs"}
    g.http("GET", "/patients/p1/archive", "127.0.0.1", root)
    answers[("patients", "p1")] = ["1.2.3", "1.2.4"]  # a new study of the patient arrived
    g.http("GET", "/patients/p1/archive", "127.0.0.1", root)
    g.http("GET", "/instances/i9/file", "127.0.0.1", root)  # not (yet) in Orthanc
    answers[("instances", "i9")] = ["1.2.9"]
    g.http("GET", "/instances/i9/file", "127.0.0.1", root)
    exports = [r for r in lines(g) if r.get("event_id") == "110106"]
    assert exports[1]["study_uids"] == ["1.2.3", "1.2.4"]
    assert exports[3]["study_uids"] == "1.2.9"
    assert len(asked) == 4


def test_a_cached_study_changes_no_decision(tmp_path: Path) -> None:
    g, _ = counting_guard(tmp_path, {("instances", "i1"): ["1.2.3"]})
    g.settings.roles["tom"] = "technologist"
    assert g.http("GET", "/instances/i1/file", "127.0.0.1", {**basic("root"), "host": "pacs"})
    assert not g.http("GET", "/instances/i1/file", "127.0.0.1", {**basic("tom"), "host": "pacs"})
    assert lines(g)[-1]["outcome"] != "0"


def test_the_study_cache_is_bounded() -> None:
    cache = guard_mod.CachedStudies(lambda level, oid: [oid], size=2)
    for oid in ("a", "b", "c"):
        cache("instances", oid)
    assert list(cache.known) == [("instances", "b"), ("instances", "c")]


def _sink_counting_senders(tmp_path: Path) -> tuple[str, list[str]]:
    """A sink that acknowledges every record and notes the address each came from."""
    path = str(tmp_path / "senders.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    senders: list[str] = []

    def serve() -> None:
        while True:
            _data, addr = rx.recvfrom(65536)
            senders.append(addr)
            rx.sendto(b"stored", addr)

    threading.Thread(target=serve, daemon=True).start()
    return path, senders


def test_requests_on_fresh_thread_states_reuse_the_audit_sockets(tmp_path: Path) -> None:
    """orthanc-python gives every callback a fresh Python thread state: a socket kept per thread was made, bound
    and dropped unclosed for each request. Records written from 30 short-lived threads come from few sockets,
    and none is left unclosed."""
    import gc
    import warnings

    path, senders = _sink_counting_senders(tmp_path)
    g = guard_mod.Guard(guard_mod.GuardSettings(ROLES, "/x", audit_socket=path))
    results: list[bool] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(30):
            t = threading.Thread(target=lambda: results.append(g.http("GET", "/studies", "127.0.0.1", basic("alice"))))
            t.start()
            t.join()
        gc.collect()
    assert results == [True] * 30 and len(senders) == 30
    assert len(set(senders)) == 1
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_a_socket_whose_record_was_not_confirmed_is_never_used_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a timeout the sink's late acknowledgement must not confirm the next record: that socket is closed."""
    monkeypatch.setattr(guard_mod.audit, "ACK_TIMEOUT_S", 0.2)
    path = str(tmp_path / "slow.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    log = guard_mod.audit.AuditLog("/x", path)
    record = {"event_id": "110100", "event": "x", "outcome": "0", "layer": "orthanc-http"}
    with pytest.raises(guard_mod.audit.AuditError):
        log.write(record)  # nobody answers
    _data, first = rx.recvfrom(65536)

    def answer() -> None:
        with contextlib.suppress(OSError):  # the socket it answers is closed: that is the point
            rx.sendto(b"stored", first)

    answer_late = threading.Timer(0.05, answer)
    answer_late.start()
    with pytest.raises(guard_mod.audit.AuditError):
        log.write(record)  # a fresh socket: the late answer goes to the closed one, this record is unconfirmed
    answer_late.join()
    _data, second = rx.recvfrom(65536)
    assert second != first
    rx.close()


def test_concurrent_requests_each_wait_for_their_own_record(tmp_path: Path) -> None:
    """Pooled sockets carry one record at a time: 8 threads x 25 requests, every record stored and confirmed."""
    path, senders = _sink_counting_senders(tmp_path)
    g = guard_mod.Guard(guard_mod.GuardSettings(ROLES, "/x", audit_socket=path))
    results: list[bool] = []

    def reader() -> None:
        for _ in range(25):
            results.append(g.http("GET", "/studies", "127.0.0.1", basic("alice")))

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 200 and len(senders) == 200
    assert len(set(senders)) <= 8
