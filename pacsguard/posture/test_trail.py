"""Runs last (file order): the trail is intact, complete for every probe above, out of the orthanc user's reach,
and forged records never become events of the user they name."""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
)

from orthanc_config.audit_chain import head_path, verify_text
from pacsguard.posture import alb
from pacsguard.posture.clients import SENT, associate, https, modality_ctx
from pacsguard.posture.conftest import in_netns, need, user_with_role
from pacsguard.posture.dicom_files import unique_ct

control = pytest.mark.control
# Answers nginx gives itself: such a request never reaches Orthanc, so only nginx records it.
NGINX_ONLY = {400, 401, 405, 413, 415, 429, 444, 494, 495, 496, 502, 503, 504}


def _api_trail(stack: dict) -> list[dict]:
    auditor = user_with_role(stack["_users"], "auditor")
    code, body, _ = https(stack, "GET", "/pacsguard/audit", auditor)
    assert code == 200, f"the auditor cannot read the trail ({code})"
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def _wait_for(target: dict, host, found, timeout: float = 6.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        records = _whole_trail(target, host)
        if any(found(r) for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


@control("PACS-ATNA-AUDIT")
def test_http_decisions_are_in_the_trail(stack: dict, host) -> None:
    admin = user_with_role(stack["_users"], "admin")
    radiologist = user_with_role(stack["_users"], "radiologist")
    https(stack, "POST", "/tools/execute-script", admin, body=b"x")
    https(stack, "GET", "/studies", radiologist)
    https(stack, "GET", "/pacsguard/audit", radiologist)
    lines = [r for r in _whole_trail(stack, host) if r.get("layer") == "orthanc-http"]
    assert any(r["user"] == admin and r["event_id"] == "110113" and r["outcome"] == "8" for r in lines), (
        "no security alert for admin"
    )
    assert any(
        r["user"] == radiologist and r["role"] == "radiologist" and r["path"] == "/studies" and r["outcome"] == "0"
        for r in lines
    )
    assert any(r["user"] == radiologist and r["path"] == "/pacsguard/audit" and r["outcome"] == "4" for r in lines)


def _whole_trail(stack: dict, host) -> list[dict]:
    """The whole audit file when the target names it (a TLS scan of the DICOM edge alone leaves more records
    than the audit endpoint's last 1000 lines), else what the auditor reads through the API."""
    path = stack.get("audit_log")
    if path and host.file(path).exists:
        return [json.loads(x) for x in host.file(path).content_string.splitlines() if x.strip()]
    return _api_trail(stack)


@control("PACS-ATNA-AUDIT")
def test_dicom_refusals_are_in_the_trail(stack: dict, host) -> None:
    deadline = time.monotonic() + 5
    while True:
        refusals = [r for r in _whole_trail(stack, host) if r.get("layer") == "orthanc-dicom" and r["outcome"] != "0"]
        if any(r.get("ae_title") == "INTRUDER" for r in refusals) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert any(r.get("ae_title") == "INTRUDER" and r["event_id"] == "110113" for r in refusals), (
        "unknown AE refusal not audited"
    )


@control("PACS-ATNA-AUDIT")
def test_failed_logins_are_in_the_trail(stack: dict, target: dict, host) -> None:
    admin = user_with_role(stack["_users"], "admin")
    https(stack, "GET", "/system", admin, "wrong-password")
    records = _wait_for(target, host, lambda r: r.get("user") == admin and r.get("event_id") == "110114")
    assert any(
        r.get("user") == admin and r["event_id"] == "110114" and r["outcome"] == "4" and r.get("sender") == "nginx"
        for r in records
    ), "a failed login left no record from nginx"


def _upload(stack: dict) -> tuple[str, str]:
    technologist = user_with_role(stack["_users"], "technologist")
    with tempfile.TemporaryDirectory() as tmp:
        path, ds = unique_ct(Path(tmp))
        code, body, _ = https(stack, "POST", "/instances", technologist, body=path.read_bytes())
    assert code == 200
    return json.loads(body)["ID"], str(ds.StudyInstanceUID)


@control("PACS-ATNA-AUDIT")
def test_a_download_by_any_spelling_is_an_export_naming_its_study(stack: dict, target: dict, host) -> None:
    instance, study = _upload(stack)
    radiologist = user_with_role(stack["_users"], "radiologist")
    assert https(stack, "GET", f"/instances/{instance}/attachments/1/data", radiologist)[0] == 200
    records = _wait_for(target, host, lambda r: study in (r.get("study_uids") or []))
    exports = [r for r in records if study in (r.get("study_uids") or []) and r.get("layer") == "orthanc-http"]
    assert exports and exports[-1]["event_id"] == "110106" and exports[-1]["user"] == radiologist


def _study_id(stack: dict, instance: str, user: str) -> str:
    code, body, _ = https(stack, "GET", f"/instances/{instance}/study", user)
    assert code == 200, f"{user} cannot read the study of an uploaded instance ({code})"
    return json.loads(body)["ID"]


@control("PACS-ATNA-AUDIT")
def test_an_archive_made_by_post_is_an_export_naming_its_study(stack: dict, target: dict, host) -> None:
    """POST /studies/{id}/archive hands the ZIP out at once ("Synchronous"): an export, like GET .../archive.
    As a radiologist (download right): the admin is the user the failed sign-in probes lock out after many runs."""
    instance, study = _upload(stack)
    reader = user_with_role(stack["_users"], "radiologist")
    path = f"/studies/{_study_id(stack, instance, reader)}/archive"
    code, body, _ = https(stack, "POST", path, reader, body=b'{"Synchronous": true}')
    assert code == 200 and body[:2] == b"PK", f"the probe got no ZIP ({code}): it cannot tell"
    records = _wait_for(target, host, lambda r: r.get("path") == path and r.get("layer") == "orthanc-http")
    (record,) = [r for r in records if r.get("path") == path and r.get("layer") == "orthanc-http"]
    assert record["event_id"] == "110106", f"a ZIP of the study was recorded as {record['event_id']}, not an export"
    assert study in (record.get("study_uids") or []), "the export record does not name the study"


@control("PACS-ATNA-AUDIT")
def test_dicom_queries_and_retrieves_are_recorded_per_operation(stack: dict, target: dict, host) -> None:
    _, study = _upload(stack)
    before = max((r.get("seq", 0) for r in _whole_trail(target, host)), default=0)
    finder = next((m for m in stack["modalities"] if "find" in m.get("rights", [])), None)
    if finder is None:
        pytest.skip("the target lists no modality with the find right")
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study
    query.PatientName = ""
    assoc = associate(stack, aet=finder["aet"], ctx=modality_ctx(stack, finder["aet"]),
                      contexts=(StudyRootQueryRetrieveInformationModelFind,))  # fmt: skip
    assert assoc.is_established
    try:
        list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
    finally:
        assoc.release()

    def is_find(r: dict) -> bool:
        # Orthanc names no thread: with other associations open, the record lists the candidates.
        owners = [r.get("ae_title"), *r.get("ae_title_candidates", [])]
        return r.get("seq", 0) > before and r.get("dicom_operation") == "C-FIND" and finder["aet"] in owners

    records = _wait_for(target, host, is_find)
    finds = [r for r in records if is_find(r)]
    assert finds, "a C-FIND left no record"
    assert finds[-1]["query_level"] == "STUDY" and "PatientName(empty)" in finds[-1]["query_keys"]
    assert study not in json.dumps(finds[-1]), "query values reached the trail"


def _c_get(stack: dict, aet: str, study: str) -> list[int]:
    """A study by C-GET, received on the same association (the getter takes the storage SCP role)."""
    ae = AE(ae_title=aet)
    ae.acse_timeout = ae.network_timeout = ae.dimse_timeout = 30
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    d = stack["dicom"]
    source = next((m.get("source") for m in stack["modalities"] if m["aet"] == aet), None)
    assoc = ae.associate(
        d["host"], d["port"], ae_title=d["called_aet"], tls_args=(modality_ctx(stack, aet), d["host"]),
        ext_neg=[build_role(CTImageStorage, scp_role=True)], evt_handlers=[(evt.EVT_C_STORE, lambda _e: 0x0000)],
        **({"bind_address": (source, 0)} if source else {}),
    )  # fmt: skip
    assert assoc.is_established, f"{aet} could not associate for a C-GET"
    query = Dataset()
    query.QueryRetrieveLevel, query.StudyInstanceUID = "STUDY", study
    try:
        return [status.Status for status, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet)]
    finally:
        assoc.release()


def _seq(target: dict, host) -> int:
    return max((r.get("seq", 0) for r in _whole_trail(target, host)), default=0)


@control("PACS-ATNA-AUDIT")
def test_a_dicom_store_is_recorded_with_its_study_and_connection(stack: dict, target: dict, host) -> None:
    """A C-STORE over the DICOM port: the stored instance with its study, and the connection with the caller's
    address and certificate."""
    storer = next((m for m in stack["modalities"] if "store" in m.get("rights", [])), None)
    if storer is None:
        pytest.skip("the target lists no modality with the store right")
    before = _seq(target, host)
    with tempfile.TemporaryDirectory() as tmp:
        _, ds = unique_ct(Path(tmp))
    assoc = associate(stack, aet=storer["aet"], ctx=modality_ctx(stack, storer["aet"]), contexts=(CTImageStorage,))
    assert assoc.is_established, f"{storer['aet']} could not associate to store"
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert status and status.Status == 0, "the probe's C-STORE failed: it cannot tell"

    def stored(r: dict) -> bool:
        return r.get("seq", 0) > before and r.get("event_id") == "110104" and r.get("instance_uid") == ds.SOPInstanceUID

    def connected(r: dict) -> bool:
        return r.get("seq", 0) > before and r.get("layer") == "nginx-dicom" and r.get("ae_title") == storer["aet"]

    records = _wait_for(target, host, connected, timeout=10)  # nginx logs a connection once it has ended
    store = [r for r in records if stored(r)]
    assert store, "a C-STORE left no record"
    assert (store[-1]["ae_title"], store[-1].get("study_uid"), store[-1]["layer"]) == (
        storer["aet"], str(ds.StudyInstanceUID), "orthanc-dicom"
    ), store[-1]  # fmt: skip
    associations = [r for r in records if connected(r) and r.get("event_id") == "110114"]
    assert associations, "the storer's association left no record of its connection"
    assert associations[-1].get("source_ip") and associations[-1].get("certificate_fingerprint"), associations[-1]


@control("PACS-ATNA-AUDIT")
def test_a_c_get_is_an_export_naming_its_study_count_and_destination(stack: dict, target: dict, host) -> None:
    getter = next((m for m in stack["modalities"] if "get" in m.get("rights", [])), None)
    if getter is None:
        pytest.skip("the target lists no modality with the get right")
    _, study = _upload(stack)  # a study of one instance
    before = _seq(target, host)
    assert _c_get(stack, getter["aet"], study)[-1] == 0x0000, "the probe's C-GET failed: it cannot tell"

    def got(r: dict) -> bool:
        owners = [r.get("ae_title"), *r.get("ae_title_candidates", [])]
        return r.get("seq", 0) > before and r.get("dicom_operation") == "C-GET" and getter["aet"] in owners

    records = _wait_for(target, host, got, timeout=10)
    retrieves = [r for r in records if got(r) and study in (r.get("study_uids") or [])]
    assert retrieves, "a C-GET left no export record naming its study"
    assert (retrieves[-1]["event_id"], retrieves[-1].get("count"), retrieves[-1].get("destination")) == (
        "110106", "1", getter["aet"]
    ), retrieves[-1]  # fmt: skip


@control("PACS-ATNA-AUDIT")
def test_the_trail_chain_is_intact(target: dict, host) -> None:
    trail = need(target, "audit_log")
    head = host.file(str(head_path(Path(trail))))
    # The trail is live: a record the sink stores between reading the trail and reading its head (nginx's lines of
    # this very run arrive late) makes the two disagree for a moment. A cut or edited trail disagrees every time.
    for _ in range(10):
        report = verify_text(host.file(trail).content_string, head.content_string if head.exists else None)
        if report.records and report.intact:
            return
        time.sleep(0.3)
    assert report.records and report.intact, report.problems[:5]


@control("PACS-ATNA-AUDIT")
def test_every_https_probe_of_this_run_is_in_the_trail(stack: dict, target: dict, host) -> None:
    """nginx recorded every request the suite sent, with its answer; Orthanc's plugin every one that reached it."""
    sent = [s for s in SENT if s["user"]]
    # Behind an ALB nginx sees the signed-in user's subject, not a Basic user name.
    nginx_name = alb.nginx_user if stack.get("alb") else str
    want_nginx = Counter(
        (nginx_name(s["user"]) if s.get("via") == "alb" else s["user"], str(s["status"])) for s in sent
    )
    want_orthanc = Counter(s["user"] for s in sent if s["status"] not in NGINX_ONLY)
    deadline = time.monotonic() + 10  # nginx sends its line once the answer is out
    while True:
        records = _whole_trail(target, host)
        nginx = Counter((r.get("user"), r.get("http_status")) for r in records if r.get("layer") == "nginx-http")
        orthanc = Counter(r.get("user") for r in records if r.get("layer") == "orthanc-http")
        missing = {k: n - nginx[k] for k, n in want_nginx.items() if nginx[k] < n}
        missing_orthanc = {u: n - orthanc[u] for u, n in want_orthanc.items() if orthanc[u] < n}
        if not (missing or missing_orthanc) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert not missing, f"requests nginx did not record (user, status): {missing}"
    assert not missing_orthanc, f"requests the plugin did not record, per user: {missing_orthanc}"


# nginx sends its access lines without waiting: one the audit sink's queue cannot take is dropped, and nginx says so
# only in its error log (orthanc_config/audit_sink.DATAGRAM_QUEUE is the queue the sink asks for).
DROPPED_LINE = "send() to syslog failed"


@control("PACS-ATNA-AUDIT")
def test_nginx_dropped_no_line_on_its_way_to_the_trail(target: dict, host) -> None:
    error_log = host.file(str(Path(need(target, "audit_log")).parent / "nginx-error.log"))
    assert error_log.exists, f"nginx's error log {error_log.path} is missing: a dropped access line would not show"
    dropped = [line for line in error_log.content_string.splitlines() if DROPPED_LINE in line]
    assert not dropped, (
        f"nginx dropped {len(dropped)} access line(s) before they reached the audit trail (last: {dropped[-1][:160]}); "
        "the audit sink's datagram queue (net.unix.max_dgram_qlen in its network namespace) was full"
    )


TAMPERING = {
    "append a forged record": 'echo \'{{"user":"radiologist1"}}\' >> {trail}',
    "delete chosen lines": "sed -i 1d {trail}",
    "replace the trail": "cp /dev/null {trail}.new && mv {trail}.new {trail}",
    "rename nginx's auth-failure log": "mv {logs}/auth-failures.jsonl {logs}/x",
    "forge an Orthanc log line": (
        "echo 'Rejected association for remote AET INNOCENT on IP 1.2.3.4' >> {logs}/orthanc.log"
    ),
    "cut the chain's head": "rm -f {trail}.head",
}


@control("HOST-FILE-PERMISSIONS")
@pytest.mark.parametrize("attack", TAMPERING)
def test_the_orthanc_user_cannot_alter_the_trail(target: dict, host, attack: str) -> None:
    trail = need(target, "audit_log")
    before = host.file(trail).content_string
    command = TAMPERING[attack].format(trail=trail, logs=str(Path(trail).parent))
    result = host.run(f"runuser -u orthanc -- sh -c {json.dumps(command)}")
    assert result.rc != 0, f"the orthanc user could {attack}"
    assert host.file(trail).content_string.startswith(before), f"{attack} changed the trail"


FORGERIES = {
    # (local user, what it sends): a plugin record naming radiologist1, or nginx's access line for her
    "nobody sends a plugin record": ("nobody", "orthanc-http"),
    "orthanc sends an nginx record": ("orthanc", "nginx-http"),
    "orthanc (not the server) sends a plugin record": ("orthanc", "orthanc-http"),
    "www-data (not nginx) sends an access line": ("www-data", "nginx-line"),
}


@control("PACS-ATNA-AUDIT")
@pytest.mark.parametrize("case", FORGERIES)
def test_a_forged_record_never_becomes_an_event_of_the_user_it_names(target: dict, host, case: str) -> None:
    """A local process sends the sink a well-formed record naming radiologist1: only the Orthanc server and
    nginx's workers speak for the PACS, whatever user another process runs as."""
    sender, kind = FORGERIES[case]
    socket_path = need(target, "audit_socket")
    marker = f"forged-{sender}-{time.time_ns()}"
    if kind == "nginx-line":
        line = {"time": "2026-01-01T00:00:00+00:00", "client": "198.18.0.1", "user": "radiologist1",
                "method": "GET", "path": f"/{marker}", "status": 200}  # fmt: skip
        message = f"<190>Jan  1 00:00:00 pacsguard_http: {json.dumps(line)}"
    else:
        message = (
            f'<109>1 2026-01-01T00:00:00Z pacs pacsguard - 110103 [atna@32473 event_id="110103" '
            f'user="radiologist1" layer="{kind}" outcome="0" path="/{marker}"]'
        )
    send = (
        f"import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto({message!r}.encode(), {socket_path!r})"
    )
    before = max((r.get("seq", 0) for r in _whole_trail(target, host)), default=0)
    host.run(in_netns(target, f"runuser -u {sender} -- /usr/bin/python3 -c {json.dumps(send)}"))

    def alert(r: dict) -> bool:
        return r.get("seq", 0) > before and r.get("event_id") == "110113" and sender in r.get("reason", "")

    records = _wait_for(target, host, lambda r: alert(r) or marker in str(r.get("path")))
    assert not any(marker in str(r.get("path")) for r in records), "a forged record became an event"
    assert any(alert(r) for r in records), "the forgery left no security alert"
