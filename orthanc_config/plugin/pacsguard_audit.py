"""The audit trail, from the plugin's side: each decision becomes a DICOM PS3.15 A.5 / IHE ATNA record that
leaves the Orthanc process at once, as an RFC 5424 message to the audit sink's socket. The sink (root) alone
writes the trail; the orthanc user can read it (to serve auditors) but not change it. Fails closed.

Standard library only. A record that cannot be handed over is an AuditError, and the caller refuses the
request: no access without a record of it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import threading

try:
    import pacsguard_syslog as syslog
except ImportError:  # root's host tools (break_glass) import this module from the orthanc_config package
    from orthanc_config.plugin import pacsguard_syslog as syslog

AUDIT_SOURCE = socket.gethostname()
DICOMWEB_UIDS = re.compile(r"^/dicom-web/studies/([0-9.]+)(?:/series/([0-9.]+)(?:/instances/([0-9.]+))?)?")


class AuditError(Exception):
    """The record could not be handed to the sink; the request it describes must be refused."""


ACK = b"stored"
ACK_TIMEOUT_S = 5.0
MAX_IDLE_SOCKETS = 64  # above Orthanc's HTTP threads (50 by default) and its DICOM associations


class AuditLog:
    """Hands records to the sink and waits until the sink says it stored them.

    Orthanc serves requests on many threads, and each request waits for its own record's acknowledgement, so a
    socket carries one record at a time. Sockets are kept in a pool, not per thread: orthanc-python gives each
    callback a fresh Python thread state, so a thread-local socket was created, bound and dropped unclosed for
    every request (socket(), bind() and a ResourceWarning on the request's path, issue 18)."""

    def __init__(self, trail: str, sink_socket: str, reply_path: str = "") -> None:
        if not sink_socket:
            raise AuditError("no audit sink socket configured (PACSGuard.AuditSocket): refusing to run unaudited")
        self.path = trail
        self.sink_socket = sink_socket
        # Abstract addresses belong to a network namespace: a sender outside the sink's (root's break-glass
        # command beside a local stack) needs a filesystem address for the acknowledgement.
        self.reply_path = reply_path
        self.idle: list[socket.socket] = []  # sockets no record is waiting on
        self.lock = threading.Lock()

    def _take(self) -> socket.socket:
        with self.lock:
            if self.idle:
                return self.idle.pop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            # A filesystem reply address is one socket's (a second bind would fail): such a sender writes in turn.
            sock.bind(self.reply_path)  # "": an abstract address of its own, so the sink can answer
        except OSError:
            sock.close()
            raise
        sock.settimeout(ACK_TIMEOUT_S)
        return sock

    def _give_back(self, sock: socket.socket) -> None:
        with self.lock:
            if len(self.idle) < MAX_IDLE_SOCKETS:
                self.idle.append(sock)
                return
        sock.close()

    def write(self, record: dict) -> None:
        sock = None
        try:
            message = syslog.format_record(record, hostname=AUDIT_SOURCE, procid=str(os.getpid()))
            sock = self._take()
            sock.sendto(message, self.sink_socket)
            if sock.recv(64) != ACK:
                raise OSError("unexpected answer from the sink")
        except (OSError, syslog.SyslogError) as exc:
            if sock is not None:  # a late acknowledgement must not answer the next record
                sock.close()
            raise AuditError(f"the audit sink {self.sink_socket} did not store the record: {exc}") from exc
        self._give_back(sock)

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for sock in idle:
            sock.close()

    def tail(self, limit: int = 1000) -> list[str]:
        try:
            with open(self.path, encoding="utf-8") as fh:
                return fh.readlines()[-limit:]
        except FileNotFoundError:
            return []


def event(
    *,
    event_id: str,
    event_name: str,
    action: str,
    outcome: str,
    user: str | None,
    role: str | None,
    source_ip: str | None,
    layer: str,
    ae_title: str | None = None,
    method: str | None = None,
    path: str | None = None,
    study_uid: str | None = None,
    series_uid: str | None = None,
    instance_uid: str | None = None,
    reason: str | None = None,
    emergency: bool | None = None,
    **details: str | list[str] | None,
) -> dict:
    """An ATNA-style record. The path is kept without its query string (queries carry patient names).
    `details` are further string fields (the DICOM edge adds the certificate and TLS parameters)."""
    clean_path = path.split("?", 1)[0] if path else None
    if clean_path and not study_uid:
        m = DICOMWEB_UIDS.match(clean_path)
        if m:
            study_uid, series_uid, instance_uid = m.group(1), m.group(2), m.group(3)
    record = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "event_id": event_id,
        "event": event_name,
        "action": action,
        "outcome": outcome,
        "user": user,
        "role": role,
        "source_ip": source_ip,
        "ae_title": ae_title,
        "method": method,
        "path": clean_path,
        "study_uid": study_uid,
        "series_uid": series_uid,
        "instance_uid": instance_uid,
        "reason": reason,
        "emergency": True if emergency else None,  # break-glass: alarmed on every line (infra/alarms.py)
        "layer": layer,
        "audit_source": AUDIT_SOURCE,
        **{k: v for k, v in details.items() if k not in ("time", "layer", "audit_source")},
    }
    return {k: v for k, v in record.items() if v is not None}
