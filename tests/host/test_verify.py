"""`pacsguard verify` against a real local stack: all pass when healthy; each deliberate weakening makes exactly
the control that broke fail. Every weakening is undone afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from orthanc_config.local_stack import restart_orthanc
from orthanc_config.render_nginx import VIEWER_CSP
from pacsguard.posture.clients import https
from pacsguard.verify import TargetError, load_target, run
from policies.catalog import controls

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def target_file(stack: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify") / "target.json"
    path.write_text(json.dumps({k: v for k, v in stack.items() if not k.startswith("_")}))
    return path


def failing(target_file: Path) -> set[str]:
    return {f.control for f in run(target_file) if f.status in ("fail", "error")}


def test_healthy_stack_passes_every_wire_control(target_file: Path) -> None:
    findings = run(target_file)
    failed = [f"{f.resource}: {f.message[:300]}" for f in findings if f.status in ("fail", "error")]
    assert not failed, failed
    wire = {c.id for c in controls() if "wire" in c.layers}
    assert {f.control for f in findings if f.status == "pass"} == wire  # every wire control has passing evidence


def test_the_trail_a_verify_run_leaves_exports_as_valid_dicom_audit_messages(stack: dict, target_file: Path) -> None:
    """Every record a whole posture run leaves (HTTP, DICOM, edge, refusals, forgeries, break-glass) exported as
    PS3.15 audit messages, each valid against A.5.1's schema (libxml2's RELAX NG), and the chain intact."""
    etree = pytest.importorskip("lxml.etree", reason="needs lxml (make setup installs the test extras)")
    from pacsguard.audit_export import export
    from tests.unit.test_audit_log_export import SCHEMA

    assert any(f.status == "pass" for f in run(target_file)), "the posture run passed no probe: nothing to export"
    text, chain = export(Path(stack["audit_log"]), "dicom", None, None)
    schema = etree.RelaxNG(etree.parse(str(SCHEMA)))
    messages = list(etree.fromstring(text.encode()))
    invalid = [etree.tostring(m)[:300] for m in messages if not schema.validate(m)]
    assert chain.intact and len(messages) > 100 and not invalid, (chain.problems[:3], invalid[:3])


@contextmanager
def edited_json(path: Path, change: Callable[[dict], None], opts) -> Iterator[None]:
    original = path.read_text()
    doc = json.loads(original)
    change(doc)
    path.write_text(json.dumps(doc))
    restart_orthanc(opts, say=lambda _m: None)
    try:
        yield
    finally:
        path.write_text(original)
        restart_orthanc(opts, say=lambda _m: None)


def test_always_allow_store_is_reported_as_the_ae_allow_list(stack: dict, target_file: Path) -> None:
    with edited_json(Path(stack["orthanc_config"]), lambda d: d.update(DicomAlwaysAllowStore=True), stack["_options"]):
        assert failing(target_file) == {"PACS-AE-ALLOWLIST"}


def test_default_password_user_is_reported_as_default_credentials(stack: dict, target_file: Path) -> None:
    with edited_json(
        Path(stack["orthanc_credentials"]), lambda d: d["RegisteredUsers"].update(orthanc="orthanc"), stack["_options"]
    ):
        assert failing(target_file) == {"PACS-NO-DEFAULT-CREDENTIALS"}


def test_opening_orthanc_http_port_is_reported_as_the_firewall(stack: dict, target_file: Path) -> None:
    ns = ["ip", "netns", "exec", stack["netns"]]
    subprocess.run(
        [*ns, "nft", "insert", "rule", "inet", "pacsguard", "input", "tcp", "dport", "8042", "accept"], check=True
    )
    try:
        assert failing(target_file) == {"HOST-FIREWALL"}
    finally:
        subprocess.run([*ns, "nft", "-f", stack["firewall"]], check=True)


def test_world_readable_credentials_are_reported_as_file_permissions(stack: dict, target_file: Path) -> None:
    path = stack["orthanc_credentials"]
    mode = os.stat(path).st_mode & 0o777
    os.chmod(path, 0o644)
    try:
        assert failing(target_file) == {"HOST-FILE-PERMISSIONS"}
    finally:
        os.chmod(path, mode)


def test_unreachable_or_malformed_target_is_bad_input(tmp_path: Path, target_file: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(TargetError, match="lacks https_url"):
        load_target(bad)
    doc = json.loads(target_file.read_text())
    doc["dicom"]["port"] = 1  # the target firewall drops it: unreachable after the connect timeout
    bad.write_text(json.dumps(doc))
    with pytest.raises(TargetError, match="unreachable"):
        load_target(bad)


def test_a_stray_listener_is_reported_as_the_firewall(stack: dict, target_file: Path) -> None:
    """A service someone started on the host (here a web server inside the namespace) is not part of the PACS."""
    import sys

    stray = subprocess.Popen(
        ["ip", "netns", "exec", stack["netns"], sys.executable, "-m", "http.server", "9999", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        listening = ["ip", "netns", "exec", stack["netns"], "ss", "-Htln", "sport", "= :9999"]
        deadline = time.monotonic() + 10
        while not subprocess.run(listening, capture_output=True, text=True).stdout and time.monotonic() < deadline:
            time.sleep(0.05)  # the probe must see the listener, not a server still starting
        assert failing(target_file) == {"HOST-FIREWALL"}
    finally:
        stray.terminate()
        stray.wait(10)


@contextmanager
def edited_nginx(stack: dict, old: str, new: str, changed: Callable[[], bool]) -> Iterator[None]:
    conf = Path(stack["nginx_config"])
    original = conf.read_text()
    assert old in original
    reload = ["ip", "netns", "exec", stack["netns"], "nginx", "-c", str(conf), "-s", "reload"]

    def apply(text: str, done: Callable[[], bool]) -> None:
        conf.write_text(text)
        subprocess.run(reload, check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while not done() and time.monotonic() < deadline:  # old workers finish their connections first
            time.sleep(0.1)

    apply(original.replace(old, new), changed)
    try:
        yield
    finally:
        apply(original, lambda: not changed())


def viewer_csp(stack: dict) -> str:
    return https(stack, "GET", "/viewer/", "admin")[2].get("Content-Security-Policy", "")


def test_unsafe_eval_in_the_viewer_csp_is_reported_as_http_hardening(stack: dict, target_file: Path) -> None:
    loose = VIEWER_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'")
    with edited_nginx(stack, VIEWER_CSP, loose, lambda: "unsafe-eval" in viewer_csp(stack)):
        assert failing(target_file) == {"PACS-HTTP-HARDENING"}


def test_a_viewer_without_sign_in_is_reported_as_authentication_and_rbac(stack: dict, target_file: Path) -> None:
    gate = "auth_request /pacsguard-viewer-access;"
    with edited_nginx(stack, gate, "", lambda: https(stack, "GET", "/viewer/")[0] == 200):
        assert failing(target_file) == {"PACS-HTTP-AUTH", "PACS-RBAC"}


def fresh_lockouts(stack: dict) -> None:
    """Each verify run probes wrong passwords; after several runs without an Orthanc restart the plugin's lockout
    (per process, in memory) refuses the probe users and unrelated controls fail. A restart starts it afresh."""
    restart_orthanc(stack["_options"], say=lambda _m: None)


def test_a_tcp_listener_on_the_database_port_is_reported_as_the_firewall(stack: dict, target_file: Path) -> None:
    """The index is reached through its Unix socket only: anything on the database's TCP port, loopback included
    (a cluster someone reconfigured to listen again), is a network path the product does not have."""
    import sys

    fresh_lockouts(stack)
    listener = subprocess.Popen(
        ["ip", "netns", "exec", stack["netns"], sys.executable, "-m", "http.server", str(stack["database_port"]),
         "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(1)
        assert listener.poll() is None, "the database port was taken: the cluster listens on TCP"
        assert failing(target_file) == {"HOST-FIREWALL"}
    finally:
        listener.terminate()
        listener.wait(10)


def test_a_database_socket_others_can_enter_is_reported_as_file_permissions(stack: dict, target_file: Path) -> None:
    fresh_lockouts(stack)
    path = stack["database_socket_dir"]
    mode = os.stat(path).st_mode & 0o777
    os.chmod(path, mode | 0o005)
    try:
        assert failing(target_file) == {"HOST-FILE-PERMISSIONS"}
    finally:
        os.chmod(path, mode)


def test_access_lines_nginx_dropped_are_reported_as_the_atna_audit(stack: dict, target_file: Path) -> None:
    """The sink stops reading (SIGSTOP) while nginx answers more requests than its queue holds: nginx drops the rest
    of its access lines, and verify must say the trail is incomplete."""
    import http.client
    import signal
    import ssl
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    from orthanc_config.audit_sink import DATAGRAM_QUEUE

    error_log = Path(stack["audit_log"]).parent / "nginx-error.log"
    size = error_log.stat().st_size
    sink = int((Path(stack["state_dir"]) / "audit-sink.pid").read_text())
    url = urlsplit(stack["https_url"])

    def answered_by_nginx(count: int) -> None:  # a route nginx answers itself (404, then 429): no plugin record
        context = ssl.create_default_context(cafile=stack["ca_cert"])
        conn = http.client.HTTPSConnection(url.hostname or "", url.port or 443, context=context, timeout=30)
        for _ in range(count):
            conn.request("GET", "/pacsguard/viewer-access")
            conn.getresponse().read()
        conn.close()

    os.kill(sink, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(answered_by_nginx, [DATAGRAM_QUEUE // 2 + 100] * 4))
    finally:
        os.kill(sink, signal.SIGCONT)
    try:
        assert "send() to syslog failed" in error_log.read_text()[size:]
        time.sleep(6)  # the anonymous rate limit these requests reached drains before verify's own anonymous probes
        assert failing(target_file) == {"PACS-ATNA-AUDIT"}
    finally:
        os.truncate(error_log, size)  # nginx appends (O_APPEND): later runs judge only what they cause
