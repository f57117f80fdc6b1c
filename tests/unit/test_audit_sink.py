"""The audit sink: records are attributed by the kernel's sender credentials, never by what a message claims;
the trail is hash-chained so a deleted, edited, forged or cut-off record shows; RFC 5425 forwarding works."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orthanc_config import pki
from orthanc_config.audit_chain import head_path, verify_chain
from orthanc_config.audit_forward import Forwarder
from orthanc_config.audit_sink import Sink, SinkConfig, _uid
from orthanc_config.plugin import pacsguard_syslog as rfc5424

ORTHANC, NGINX = _uid("orthanc"), _uid("www-data")
needs_service_users = pytest.mark.skipif(
    ORTHANC < 0 or NGINX < 0, reason="needs the orthanc and www-data users (make setup installs orthanc and nginx)"
)
pytestmark = needs_service_users


def config(tmp_path: Path, **extra: object) -> SinkConfig:
    return SinkConfig(
        trail=str(tmp_path / "audit.jsonl"),
        audit_socket=str(tmp_path / "audit.sock"),
        orthanc_socket=str(tmp_path / "orthanc.sock"),
        orthanc_log=str(tmp_path / "orthanc.log"),
        reader_group="root",
        **extra,  # type: ignore[arg-type]
    )


ORTHANC_PIDS = {1, 5, 4242}  # the pids these tests' plugin messages come from
NGINX_WORKER_PID = 9


def trusting(cfg: SinkConfig) -> Sink:
    """A sink that takes the test's pids for the Orthanc server and an nginx worker (the real sink learns the first
    from the launcher's connection and checks the second in /proc: tested below)."""
    sink = Sink(cfg)
    sink.orthanc_pids.update(ORTHANC_PIDS)
    sink.is_nginx_worker = lambda pid: pid == NGINX_WORKER_PID
    return sink


def trail(tmp_path: Path) -> list[dict]:
    return [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]


def plugin_message(**fields: str) -> bytes:
    record = {"event_id": "110103", "event": "DICOM Instances Accessed", "outcome": "0", "user": "radiologist1",
              "layer": "orthanc-http", "path": "/studies", **fields}  # fmt: skip
    return rfc5424.format_record(record, hostname="pacs")


def nginx_message(tag: str, line: dict) -> bytes:
    return f"<190>Dec  1 22:40:00 {tag}: {json.dumps(line)}".encode()


def test_a_plugin_record_is_stored_with_its_sender(tmp_path: Path) -> None:
    sink = trusting(config(tmp_path))
    sink.datagram(plugin_message(), ORTHANC, 4242)
    (rec,) = trail(tmp_path)
    assert (rec["user"], rec["sender"], rec["sender_pid"], rec["seq"]) == ("radiologist1", "orthanc", 4242, 1)
    assert verify_chain(tmp_path / "audit.jsonl").intact


def test_a_record_from_any_other_local_user_becomes_a_security_alert(tmp_path: Path) -> None:
    """A forged record naming radiologist1, sent by some other local process: never an event of radiologist1."""
    sink = trusting(config(tmp_path))
    sink.datagram(plugin_message(), 0, 777)
    (rec,) = trail(tmp_path)
    assert rec["event_id"] == "110113" and rec.get("user") is None and "refused" in rec["reason"]


def test_another_process_of_the_orthanc_user_is_not_the_server(tmp_path: Path) -> None:
    """A well-formed plugin record naming radiologist1, sent by some process the orthanc user started (not the
    Orthanc server): on main it became an event of radiologist1, sender "orthanc"."""
    sink = trusting(config(tmp_path))
    sink.datagram(plugin_message(), ORTHANC, 777)
    (rec,) = trail(tmp_path)
    assert rec["event_id"] == "110113" and rec.get("user") is None and "not the Orthanc server" in rec["reason"]


def test_a_www_data_process_that_is_not_an_nginx_worker_cannot_record_a_request(tmp_path: Path) -> None:
    sink = Sink(config(tmp_path))  # the real check: this test process's parent is no root nginx master
    line = {"time": "t", "client": "198.18.0.1", "user": "radiologist1", "method": "GET", "path": "/x", "status": 200}
    sink.datagram(nginx_message("pacsguard_http", line), NGINX, os.getpid())
    (rec,) = trail(tmp_path)
    assert rec["event_id"] == "110113" and rec.get("user") is None and "not an nginx worker" in rec["reason"]


def test_the_orthanc_user_cannot_speak_for_nginx(tmp_path: Path) -> None:
    sink = trusting(config(tmp_path))
    sink.datagram(plugin_message(layer="nginx-http"), ORTHANC, 1)
    sink.datagram(nginx_message("pacsguard_http", {"status": 401, "user": "admin"}), ORTHANC, 1)
    assert [r["event_id"] for r in trail(tmp_path)] == ["110113", "110113"]


def test_nginx_records_every_request_and_its_refusals(tmp_path: Path) -> None:
    sink = trusting(config(tmp_path))
    for status in (200, 401, 429):
        line = {
            "time": "t",
            "client": "198.18.0.1",
            "user": "admin",
            "method": "GET",
            "path": "/system",
            "status": status,
        }
        sink.datagram(nginx_message("pacsguard_http", line), NGINX, NGINX_WORKER_PID)
    assert [(r["event_id"], r["outcome"], r["layer"]) for r in trail(tmp_path)] == [
        ("110100", "0", "nginx-http"),
        ("110114", "4", "nginx-http"),
        ("110113", "4", "nginx-http"),
    ]


def test_only_whole_lines_of_orthancs_output_become_dicom_events(tmp_path: Path) -> None:
    sink = trusting(config(tmp_path))
    sink.orthanc_line(
        "W1201 22:43:36.408737 CommandDispatcher.cpp:617] Rejected association for remote AET X1 on IP 1.2.3.4"
    )
    sink.orthanc_line(
        "I1201 22:43:36.408737 HttpServer.cpp:1] GET /Rejected association for remote AET X2 on IP 1.2.3.4"
    )
    records = trail(tmp_path)
    assert [r.get("ae_title") for r in records] == ["X1"]
    assert "X2" in (tmp_path / "orthanc.log").read_text()  # kept as Orthanc's log, not as an event


def _four_records(tmp_path: Path) -> Path:
    sink = trusting(config(tmp_path))
    for user in ("a", "b", "c", "d"):
        sink.datagram(plugin_message(user=user), ORTHANC, 1)
    return tmp_path / "audit.jsonl"


def _rewrite(path: Path, change) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(change(lines)))


@pytest.mark.parametrize(
    ("attack", "change", "expected"),
    [
        ("delete a chosen line (sed -i)", lambda ls: ls[:1] + ls[2:], "does not link"),
        ("edit a line", lambda ls: [ls[0].replace('"user":"a"', '"user":"z"'), *ls[1:]], "altered"),
        ("append a forged line", lambda ls: [*ls, ls[-1].replace('"user":"d"', '"user":"radiologist1"')], "sequence"),
        ("cut off the tail", lambda ls: ls[:2], "cut off"),
        ("swap two lines", lambda ls: [ls[1], ls[0], *ls[2:]], "sequence"),
    ],
)
def test_every_tampering_breaks_the_chain(tmp_path: Path, attack: str, change, expected: str) -> None:
    path = _four_records(tmp_path)
    assert verify_chain(path).intact
    _rewrite(path, change)
    report = verify_chain(path)
    assert not report.intact and any(expected in p for p in report.problems), (attack, report.problems)


def test_a_restarted_sink_continues_the_chain(tmp_path: Path) -> None:
    path = _four_records(tmp_path)
    trusting(config(tmp_path)).datagram(plugin_message(user="e"), ORTHANC, 1)
    assert verify_chain(path).intact and trail(tmp_path)[-1]["seq"] == 5


def test_every_record_moves_the_head_in_place(tmp_path: Path) -> None:
    """The head (what exposes a cut-off tail) follows every record, rewritten in place: renaming a new file over
    it cost ~1 ms of directory journalling per record and made the sink the PACS's bottleneck (issue 18)."""
    path = _four_records(tmp_path)
    head = head_path(path)
    inode = head.stat().st_ino
    sink = trusting(config(tmp_path))
    for user in ("e", "f"):
        sink.datagram(plugin_message(user=user), ORTHANC, 1)
        assert json.loads(head.read_text()) == {"seq": trail(tmp_path)[-1]["seq"], "hash": trail(tmp_path)[-1]["hash"]}
        assert head.stat().st_ino == inode  # the same file, not a new one renamed over it
    assert sorted(p.name for p in tmp_path.iterdir() if ".head" in p.name) == [head.name]
    _rewrite(path, lambda ls: ls[:-1])  # the newest record cut off: still caught
    assert any("cut off" in p for p in verify_chain(path).problems)


def test_a_deleted_head_comes_back_with_the_next_record(tmp_path: Path) -> None:
    path = _four_records(tmp_path)
    sink = trusting(config(tmp_path))
    head_path(path).unlink()
    assert "head file is missing" in " ".join(verify_chain(path).problems)
    sink.datagram(plugin_message(user="e"), ORTHANC, 1)
    assert verify_chain(path).intact and json.loads(head_path(path).read_text())["seq"] == 5


def test_a_head_written_before_the_fixed_size_format_is_continued(tmp_path: Path) -> None:
    path = _four_records(tmp_path)
    last = trail(tmp_path)[-1]
    head_path(path).write_text(json.dumps({"seq": last["seq"], "hash": last["hash"]}))  # the old, unpadded head
    trusting(config(tmp_path)).datagram(plugin_message(user="e"), ORTHANC, 1)
    assert verify_chain(path).intact and trail(tmp_path)[-1]["seq"] == 5


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A folder the orthanc user can traverse (pytest's own tmp root is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="pacsguard-sink-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_kernel_names_the_sender_over_the_real_socket(reachable_dir: Path) -> None:
    """Over the real sockets, SCM_CREDENTIALS and the output connection's SO_PEERCRED decide: the orthanc user's
    process launched the way the launcher starts Orthanc (root connects the output socket, then becomes the orthanc
    user in the same process) is the server; another orthanc process, and root, are not."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to send as the orthanc user")
    tmp_path = reachable_dir
    sink = Sink(config(tmp_path))
    stop, ready = threading.Event(), threading.Event()
    server = threading.Thread(target=sink.serve, args=(stop, ready), daemon=True)
    server.start()
    ready.wait(5)
    as_orthanc = ["setpriv", "--reuid=orthanc", "--regid=orthanc", "--clear-groups", "/usr/bin/python3", "-c"]
    try:

        def send(user: str, acknowledged: bool) -> str:
            # Like the plugin: its own reply address, and it waits for the sink's acknowledgement (none comes for
            # a process that is not the server: its request would be refused).
            message = plugin_message(user=user).decode()
            wait = "assert s.recv(64) == b'stored'" if acknowledged else "s.settimeout(1); s.recv(64)"
            return (
                "import socket, time; time.sleep(0.2); s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
                f"s.bind(''); s.settimeout(5); s.sendto({message!r}.encode(), {sink.config.audit_socket!r}); {wait}"
            )

        launch = (
            "import os, socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); "
            f"s.connect({sink.config.orthanc_socket!r}); os.dup2(s.fileno(), 1); "
            "os.execvp(sys.argv[1], sys.argv[1:])"
        )
        subprocess.run(["/usr/bin/python3", "-c", launch, *as_orthanc, send("server", True)], check=True, timeout=30)
        other = subprocess.run([*as_orthanc, send("other-orthanc-process", False)], capture_output=True, text=True)
        assert "TimeoutError" in other.stderr, "the sink acknowledged a process of the orthanc user that is no server"
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(plugin_message(user="root"), sink.config.audit_socket)
        deadline = time.monotonic() + 5
        while (not (tmp_path / "audit.jsonl").exists() or len(trail(tmp_path)) < 3) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        server.join(5)
    first, second, third = trail(tmp_path)
    assert (first["sender"], first["user"], first["event_id"]) == ("orthanc", "server", "110103")
    assert second["event_id"] == "110113" and "not the Orthanc server" in second["reason"]
    assert second.get("user") is None
    assert third["event_id"] == "110113" and "root" in third["reason"]


def test_records_are_forwarded_over_tls_as_rfc5425(tmp_path: Path) -> None:
    ca = pki.create_ca(tmp_path, "Repository CA", 2)
    server = pki.issue(ca, tmp_path, "repo", "localhost", days=1, server=True, dns_names=("localhost",),
                       addresses=("127.0.0.1",))  # fmt: skip
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(server.cert, server.key)
    received: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def accept() -> None:
            conn, _ = listener.accept()
            with ctx.wrap_socket(conn, server_side=True) as tls:
                data = b""
                while b" " not in data or len(data) < int(data.split(b" ", 1)[0]) + len(data.split(b" ", 1)[0]) + 1:
                    data += tls.recv(65536)
                received.append(data)

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        sink = trusting(config(tmp_path, forward={"host": "127.0.0.1", "port": port, "ca": str(ca.cert)}))
        assert isinstance(sink.forwarder, Forwarder)
        sink.datagram(plugin_message(), ORTHANC, 1)
        t.join(10)
    length, message = received[0].split(b" ", 1)
    assert int(length) == len(message)  # octet counting, RFC 5425 section 4.3
    _header, record = rfc5424.parse_record(message)
    assert record["user"] == "radiologist1" and record["sender"] == "orthanc" and record["seq"] == "1"


def test_an_emergency_record_is_also_an_alarm(tmp_path: Path) -> None:
    sink = trusting(config(tmp_path, alarm_log=str(tmp_path / "alarms.jsonl")))
    sink.datagram(rfc5424.format_record({**PLAIN, "emergency": True}, hostname="pacs"), ORTHANC, 5)
    sink.datagram(plugin_message(), ORTHANC, 5)  # an ordinary record: no alarm
    (alarm,) = [json.loads(x) for x in (tmp_path / "alarms.jsonl").read_text().splitlines()]
    assert alarm["alarm"] == "EmergencyAccessUsed" and alarm["user"] == "break-glass" and alarm["emergency"] is True
    assert trail(tmp_path)[0]["emergency"] is True  # a JSON true: CloudWatch's { $.emergency IS TRUE }


def test_an_emergency_record_whose_alarm_cannot_be_written_is_not_stored(tmp_path: Path) -> None:
    """No alarm, no acknowledgement: the plugin then refuses the request (serve() acks only after datagram())."""
    sink = trusting(config(tmp_path, alarm_log=str(tmp_path / "missing-dir" / "alarms.jsonl")))
    with pytest.raises(OSError):
        sink.datagram(rfc5424.format_record({**PLAIN, "emergency": True}, hostname="pacs"), ORTHANC, 5)
    assert not (tmp_path / "audit.jsonl").exists() or not trail(tmp_path)


def test_root_may_record_break_glass_only(tmp_path: Path) -> None:
    sink = trusting(config(tmp_path))
    record = {**PLAIN, "layer": "break-glass", "event": "User Authentication: emergency access opened"}
    sink.datagram(rfc5424.format_record(record, hostname="pacs"), 0, 9)
    sink.datagram(plugin_message(), 0, 9)  # root speaking for the plugin: an alert, as for any other user
    opened, alert = trail(tmp_path)
    assert (opened["sender"], opened["layer"]) == ("root", "break-glass")
    assert alert["event_id"] == "110113" and alert.get("user") is None


PLAIN = {"event_id": "110113", "event": "Security Alert", "outcome": "8", "user": "break-glass",
         "role": "emergency", "layer": "orthanc-http", "path": "/studies"}  # fmt: skip


def _append_then_set(writer, record: dict, done: threading.Event) -> None:
    writer.append(record)
    done.set()


def test_a_slow_disk_flush_does_not_hold_up_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sink flushes the trail and its head every 0.2 s; on a busy disk a flush takes seconds. Records (and the
    requests waiting for their acknowledgement) must not wait for any of those flushes, or the plugin refuses
    them after its 5 s timeout."""
    import queue

    from orthanc_config import audit_chain

    writer = audit_chain.ChainWriter(tmp_path / "audit.jsonl")
    writer.append({"user": "a"})
    flushes: queue.Queue[threading.Event] = queue.Queue()

    def slow_fsync(fd: int) -> None:
        done = threading.Event()
        flushes.put(done)
        done.wait(10)

    monkeypatch.setattr(audit_chain.os, "fsync", slow_fsync)
    flusher = threading.Thread(target=writer.sync)
    flusher.start()
    seen = 0
    while True:
        try:
            stuck = flushes.get(timeout=2)
        except queue.Empty:
            break
        seen += 1
        appended = threading.Event()
        threading.Thread(target=_append_then_set, args=(writer, {"user": f"r{seen}"}, appended)).start()
        try:
            assert appended.wait(5), f"a record waited for disk flush {seen}"
        finally:
            stuck.set()
    flusher.join(10)
    assert seen == 2  # the trail and its head
    assert verify_chain(tmp_path / "audit.jsonl").intact


def test_the_datagram_queue_is_raised_before_the_socket_is_made(tmp_path: Path) -> None:
    from orthanc_config.audit_sink import DATAGRAM_QUEUE, deepen_datagram_queue

    setting = tmp_path / "max_dgram_qlen"
    setting.write_text("10\n")  # Linux's default: a burst of nginx lines beyond it is dropped
    assert deepen_datagram_queue(setting=setting) is None
    assert int(setting.read_text()) == DATAGRAM_QUEUE


def test_a_deeper_queue_the_host_set_is_kept(tmp_path: Path) -> None:
    from orthanc_config.audit_sink import deepen_datagram_queue

    setting = tmp_path / "max_dgram_qlen"
    setting.write_text("4096\n")
    assert deepen_datagram_queue(setting=setting) is None
    assert setting.read_text() == "4096\n"


def test_a_queue_that_cannot_be_raised_is_reported(tmp_path: Path) -> None:
    from orthanc_config.audit_sink import deepen_datagram_queue

    warning = deepen_datagram_queue(setting=tmp_path / "absent" / "max_dgram_qlen")
    assert warning and "send() to syslog failed" in warning
