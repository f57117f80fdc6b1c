"""The audit sink: the one process that writes the audit trail. Runs as root; the orthanc user cannot alter it.

Inputs, each attributed by the kernel, never by what a message claims:
- a datagram socket any local process may send to; every datagram carries the sender's uid and pid
  (SCM_CREDENTIALS). The Orthanc plugin (uid orthanc) sends RFC 5424 messages with the ATNA record as
  structured data; nginx's workers (uid www-data) send their HTTP access and DICOM connection lines as
  syslog. A message from any other user, or of the wrong kind for its sender, becomes a Security Alert. So does
  one from any other process of those users: the orthanc user's records count only from the Orthanc server (the
  pid whose output the launcher connected, below), www-data's only from a worker of the root nginx master.
- Orthanc's own stdout/stderr: the root launcher connects it to a root-only stream socket before Orthanc
  starts, so only the Orthanc process writes there. The sink keeps that output as orthanc.log (root-owned)
  and turns Orthanc's DICOM lines into records. A line some other process writes anywhere is never read.

Output: the hash-chained trail (audit_chain) and, when configured, RFC 5425 forwarding over TLS.
Standard library only: it runs under the host's Debian Python.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import pwd
import re
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orthanc_config.audit_chain import SYNC_INTERVAL_S, ChainWriter
from orthanc_config.audit_forward import Forwarder
from orthanc_config.dicom_operations import DicomOperations
from orthanc_config.plugin import pacsguard_dicomedge as dicomedge
from orthanc_config.plugin import pacsguard_dicomlog as dicomlog
from orthanc_config.plugin import pacsguard_emergency as emergency
from orthanc_config.plugin import pacsguard_syslog as rfc5424
from orthanc_config.study_lookup import StudyLookup

ROOT_LAYERS = ("break-glass",)  # the only records root's host commands send (orthanc_config/break_glass.py)
NGINX_TAGS = {"pacsguard_http": "http", "pacsguard_dicom": "dicom"}
_RFC3164 = re.compile(rb"^<(\d{1,3})>(?:\w{3} [ \d]\d \d\d:\d\d:\d\d )(?:(\S+) )?(\w+): (.*)$", re.S)
_UCRED = struct.Struct("3i")
MAX_DATAGRAM = 64 * 1024
ACK = b"stored"
EDGE_DELAY_S = 1.0  # how long a DICOM connection's line waits for Orthanc's refusal of that connection
# nginx sends its access lines without waiting (a datagram that does not fit is dropped, with a warning in nginx's
# error log). Linux queues 10 datagrams per socket by default: 16 parallel requests lost 412 of 1,500 lines.
DATAGRAM_QUEUE = 1024
DATAGRAM_QUEUE_SETTING = Path("/proc/sys/net/unix/max_dgram_qlen")


@dataclass(frozen=True)
class SinkConfig:
    trail: str
    audit_socket: str
    orthanc_socket: str
    orthanc_log: str
    relay_port: str = ""
    reader_group: str = "orthanc"  # may read the trail (the plugin serves it to auditors), never write it
    plugin_user: str = "orthanc"
    nginx_user: str = "www-data"
    forward: dict = field(default_factory=dict)  # {"host", "port", "ca", "cert", "key"}: RFC 5425
    orthanc_credentials: str = ""  # Orthanc's credentials.json: the index the sink asks for a resource's study
    netns: str = ""  # unused by the sink itself; documents where local mode runs it
    alarm_log: str = ""  # emergency access: every record marked "emergency" also becomes an alarm line here

    @classmethod
    def load(cls, path: Path) -> SinkConfig:
        return cls(**json.loads(path.read_text()))


def http_access_record(line: dict) -> dict:
    """nginx's record of one HTTP request: every access, and the refusals that never reach Orthanc."""
    status = int(line.get("status") or 0)
    if status == 401:
        event = ("110114", "User Authentication", "4", "authentication failed")
    elif status >= 400:
        event = ("110113", "Security Alert", "4", f"refused by nginx or Orthanc with HTTP {status}")
    else:
        event = ("110100", "Application Activity", "0", f"HTTP {status}")
    return {
        "event_id": event[0],
        "event": event[1],
        "action": "E",
        "outcome": event[2],
        "user": line.get("user") or None,
        "source_ip": line.get("client") or None,
        "method": line.get("method") or None,
        "path": (line.get("path") or "").split("?", 1)[0] or None,
        "http_status": str(status),
        "bytes": str(line.get("bytes", "")) or None,
        "reason": event[3],
        "time": line.get("time") or None,
        "layer": "nginx-http",
    }


class Sink:
    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        gid = _gid(config.reader_group)
        self.chain = ChainWriter(Path(config.trail), gid)
        self.forwarder = Forwarder(**config.forward) if config.forward else None
        self.edge = dicomedge.EdgeAudit(self._edge_record, config.relay_port)
        self.edge_lock = threading.Lock()
        self.edge_pending: deque[tuple[float, dict]] = deque()
        self.uids = {_uid(config.plugin_user): "orthanc", _uid(config.nginx_user): "nginx"}
        # The Orthanc server's pid: the launcher (root) connects its output socket and then becomes Orthanc, so the
        # connection's peer is the server itself. Another process of the orthanc user is not the server.
        self.orthanc_pids: set[int] = set()
        self.is_nginx_worker: Callable[[int], bool] = nginx_worker
        self.orthanc_log_lock = threading.Lock()
        lookup = StudyLookup.from_credentials(config.orthanc_credentials) if config.orthanc_credentials else None
        self.operations = DicomOperations(
            self._operation_record, lookup.studies_of if lookup else None, lookup.instances_of if lookup else None
        )

    def _operation_record(self, record: dict) -> None:
        self.record({**record, "layer": "orthanc-dicom"}, "orthanc", None)

    # -- records ---------------------------------------------------------------------------------------------
    def record(self, record: dict, sender: str, pid: int | None) -> dict:
        record = {k: v for k, v in record.items() if v not in (None, "")}
        record.setdefault("time", _now())
        if record.get("emergency") is True and self.config.alarm_log:
            # Before the trail: an OSError here means no acknowledgement, so the plugin refuses the request.
            emergency.raise_alarm(self.config.alarm_log, record)
        entry = {**record, "sender": sender, "received": _now()}
        if pid is not None:
            entry["sender_pid"] = pid
        stored = self.chain.append(entry)
        if self.forwarder:
            self.forwarder.send(stored)
        return stored

    def _alert(self, reason: str, sender: str, pid: int | None) -> None:
        self.record(
            {"event_id": "110113", "event": "Security Alert", "action": "E", "outcome": "8", "reason": reason,
             "layer": "audit-sink"},
            "audit-sink", pid,
        )  # fmt: skip

    def _edge_record(self, fields: dict) -> None:
        name = fields.pop("event_name", None)
        self.record({**fields, "event": name, "layer": "nginx-dicom"}, "nginx", None)

    # -- inputs ----------------------------------------------------------------------------------------------
    def datagram(self, data: bytes, uid: int, pid: int) -> bool:
        """Store what a datagram says (or an alert about it); False when its sender must get no acknowledgement."""
        sender = self.uids.get(uid)
        if sender == "orthanc" and pid not in self.orthanc_pids:
            self._alert(
                f"audit message from a process of the orthanc user that is not the Orthanc server (pid {pid}) refused",
                sender, pid,
            )  # fmt: skip
            # No acknowledgement: should the server itself ever go unrecognised, its requests are refused (no
            # record, no access) instead of being served while their records turn into alerts.
            return False
        if sender == "nginx" and not self.is_nginx_worker(pid):
            self._alert(
                f"audit message from a process of the www-data user that is not an nginx worker (pid {pid}) refused",
                sender, pid,
            )  # fmt: skip
        elif sender == "orthanc":
            try:
                _header, record = rfc5424.parse_record(data)
            except rfc5424.SyslogError as exc:
                self._alert(f"unparsable audit message from the orthanc user (pid {pid}): {exc}", sender, pid)
                return True
            if not str(record.get("layer", "")).startswith("orthanc"):
                self._alert(
                    f"the orthanc user (pid {pid}) sent a record for layer {record.get('layer')!r}", sender, pid
                )
                return True
            for key, value in record.items():
                if key.endswith("_uids") and isinstance(value, str):
                    record[key] = [value]  # one repeated SD-PARAM arrives as a single value
            self.record(record, sender, pid)
        elif sender == "nginx":
            self._nginx(data, pid)
        elif uid == 0:
            self._root(data, pid)
        else:
            who = _user_name(uid)
            self._alert(
                f"audit message from local user {who} (pid {pid}) refused: only Orthanc and nginx write", who, pid
            )
        return True

    def _root(self, data: bytes, pid: int) -> None:
        """Root's own host commands (break-glass open/close) record through the sink too: one writer per trail."""
        try:
            _header, record = rfc5424.parse_record(data)
        except rfc5424.SyslogError as exc:
            self._alert(f"unparsable audit message from root (pid {pid}): {exc}", "root", pid)
            return
        if record.get("layer") not in ROOT_LAYERS:
            who = _user_name(0)
            self._alert(
                f"audit message from local user {who} (pid {pid}) refused: only Orthanc and nginx write", who, pid
            )
            return
        self.record(record, "root", pid)

    def _nginx(self, data: bytes, pid: int) -> None:
        m = _RFC3164.match(data.strip())
        kind = NGINX_TAGS.get(m.group(3).decode()) if m else None
        try:
            line = json.loads(m.group(4)) if m and kind else None
        except ValueError:
            line = None
        if not isinstance(line, dict):
            self._alert(f"unparsable message from nginx (pid {pid})", "nginx", pid)
            return
        if kind == "http":
            self.record(http_access_record(line), "nginx", pid)
        else:
            with self.edge_lock:
                if dicomedge.refusal_reason(line) is not None:
                    self.edge.connection(line)  # refused by nginx itself: nothing of Orthanc's to wait for
                else:
                    # Passed to Orthanc: nginx may log the connection's end before Orthanc's refusal of it
                    # reaches us, so hold it briefly.
                    self.edge_pending.append((time.monotonic(), line))

    def flush_edge(self, older_than: float = EDGE_DELAY_S) -> None:
        with self.edge_lock:
            now = time.monotonic()
            while self.edge_pending and now - self.edge_pending[0][0] >= older_than:
                self.edge.connection(self.edge_pending.popleft()[1])

    def _edge_loop(self, stop: threading.Event) -> None:
        while not stop.wait(0.1):
            self.flush_edge()
        self.flush_edge(0)

    def _sync_loop(self, stop: threading.Event) -> None:
        while not stop.wait(SYNC_INTERVAL_S):
            self.chain.sync()
        self.chain.sync()

    def orthanc_line(self, line: str) -> None:
        """One line of the Orthanc process's own output."""
        with self.orthanc_log_lock:
            with open(self.config.orthanc_log, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
            self.operations.line(line)
        record = dicomlog.parse(line)
        if record:
            self.record({**record, "event": record.pop("event_name"), "layer": "orthanc-dicom"}, "orthanc", None)
            with self.edge_lock:
                self.edge.orthanc_refusal(record, dt.datetime.now(dt.UTC).timestamp())

    # -- sockets ---------------------------------------------------------------------------------------------
    def serve(self, stop: threading.Event, ready: threading.Event | None = None) -> None:
        warning = deepen_datagram_queue()
        if warning:
            print(f"pacsguard-audit-sink: {warning}", file=sys.stderr, flush=True)
        dgram = _bind(self.config.audit_socket, socket.SOCK_DGRAM, 0o666)
        dgram.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        stream = _bind(self.config.orthanc_socket, socket.SOCK_STREAM, 0o600)
        stream.listen(4)
        for sock in (dgram, stream):
            sock.settimeout(0.5)
        threading.Thread(target=self._accept, args=(stream, stop), name="orthanc-output", daemon=True).start()
        threading.Thread(target=self._edge_loop, args=(stop,), name="dicom-edge-join", daemon=True).start()
        threading.Thread(target=self._sync_loop, args=(stop,), name="trail-fsync", daemon=True).start()
        if ready:
            ready.set()
        try:
            while not stop.is_set():
                try:
                    data, ancillary, _flags, sender_addr = dgram.recvmsg(MAX_DATAGRAM, socket.CMSG_SPACE(_UCRED.size))
                except TimeoutError:
                    continue
                pid, uid = _credentials(ancillary)
                try:
                    acknowledge = self.datagram(data, uid, pid)
                except OSError as exc:  # the trail could not be written: say so loudly, keep serving
                    print(f"pacsguard-audit-sink: cannot store a record: {exc}", file=sys.stderr, flush=True)
                    continue
                # The plugin waits for this: its request proceeds only once the record is stored.
                if sender_addr and acknowledge:
                    with contextlib.suppress(OSError):
                        dgram.sendto(ACK, sender_addr)
        finally:
            dgram.close()
            stream.close()
            for path in (self.config.audit_socket, self.config.orthanc_socket):
                Path(path).unlink(missing_ok=True)

    def _accept(self, server: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            pid, uid, _gid = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
            if uid != 0:  # only root's launcher (the socket is 0600 root's: this is belt and braces)
                conn.close()
                continue
            threading.Thread(target=self._read_output, args=(conn, stop, pid), daemon=True).start()

    def _read_output(self, conn: socket.socket, stop: threading.Event, pid: int) -> None:
        self.orthanc_pids.add(pid)  # the server's records count while its output is connected
        try:
            self._read_lines(conn, stop)
        finally:
            self.orthanc_pids.discard(pid)

    def _read_lines(self, conn: socket.socket, stop: threading.Event) -> None:
        buffer = b""
        with conn:
            conn.settimeout(0.5)
            while not stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    try:
                        self.orthanc_line(line.decode("utf-8", errors="replace"))
                    except Exception as exc:
                        print(f"pacsguard-audit-sink: Orthanc line not processed: {exc}", file=sys.stderr, flush=True)


def nginx_worker(pid: int) -> bool:
    """nginx's workers are children of its master, which runs as root; a process the www-data user starts is not
    (it cannot make itself the child of a root process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state; comm may hold spaces
        return os.stat(f"/proc/{parent}").st_uid == 0 and Path(os.readlink(f"/proc/{parent}/exe")).name == "nginx"
    except (OSError, ValueError, IndexError):
        return False


def deepen_datagram_queue(minimum: int = DATAGRAM_QUEUE, setting: Path = DATAGRAM_QUEUE_SETTING) -> str | None:
    """Let the sink's socket queue `minimum` datagrams; a warning when it cannot. Call before the socket is made.

    The kernel copies net.unix.max_dgram_qlen (one value per network namespace: the stack's own locally, the
    host's on EC2) into each new socket. It is only ever raised, never lowered below what the host set."""
    try:
        current = int(setting.read_text())
        if current < minimum:
            setting.write_text(f"{minimum}\n")
        return None
    except (OSError, ValueError) as exc:
        return (
            f"cannot raise {setting} to {minimum} ({exc}): under parallel load nginx's access lines may be dropped "
            "before they reach the trail (nginx's error log then says 'send() to syslog failed')"
        )


def _bind(path: str, kind: int, mode: int) -> socket.socket:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, kind)
    sock.bind(path)
    os.chmod(path, mode)
    return sock


def _credentials(ancillary: list) -> tuple[int, int]:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, uid, _ = _UCRED.unpack(data[: _UCRED.size])
            return pid, uid
    return -1, -1


def _uid(user: str) -> int:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return -2


def _gid(group: str) -> int | None:
    import grp

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pacsguard-audit-sink", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        sink = Sink(SinkConfig.load(args.config))
    except (OSError, ValueError, TypeError) as exc:
        print(f"pacsguard-audit-sink: error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sink.serve(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
