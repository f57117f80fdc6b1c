"""The audit trail: one JSON line per decision, in DICOM PS3.15 A.5 / IHE ATNA terms. Fails closed.

Standard library only. A line that cannot be written is an AuditError, and the caller refuses the
request: no access without a record of it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket

AUDIT_SOURCE = socket.gethostname()
DICOMWEB_UIDS = re.compile(r"^/dicom-web/studies/([0-9.]+)(?:/series/([0-9.]+)(?:/instances/([0-9.]+))?)?")


class AuditError(Exception):
    """The audit line could not be written; the request it describes must be refused."""


class AuditLog:
    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, record: dict) -> None:
        line = json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                written = os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise AuditError(f"cannot write audit log {self.path}: {exc}") from exc
        if written != len(line.encode()):
            raise AuditError(f"short write to audit log {self.path}")

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
    **details: str | None,
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
