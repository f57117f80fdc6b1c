"""DICOM refusals into the audit trail. Orthanc refuses associations before any plugin callback runs,
but it logs each refusal with the AE title and address: this turns those log lines into ATNA records.

Standard library only; the parser is pure and the follower is a plain tail loop.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable

# DICOM command -> (event id, event name) of the attempted operation.
COMMAND_EVENTS = {
    "Echo": ("110100", "Application Activity"),
    "Store": ("110104", "DICOM Instances Transferred"),
    "Find": ("110112", "Query"),
    "Get": ("110106", "Export"),
    "Move": ("110106", "Export"),
}
SECURITY_ALERT = ("110113", "Security Alert")

_UNKNOWN_AE = re.compile(r"Rejected association for remote AET (?P<aet>\S+) on IP (?P<ip>\S+)")
_BAD_CALLED = re.compile(r"Rejected association, because of a bad called AET in the request \((?P<called>[^)]*)\)")
_TLS = re.compile(r"Receiving Association failed: (?P<why>TLS error: .*)")
_NOT_ALLOWED = re.compile(
    r"DICOM authorization rejected for AET (?P<aet>\S+) on IP (?P<ip>\S+): "
    r"The DICOM command (?P<cmd>\w+) is not allowed"
)


def parse(line: str) -> dict | None:
    """The audit fields for one Orthanc log line, or None when the line is not a DICOM refusal."""
    if m := _NOT_ALLOWED.search(line):
        event_id, name = COMMAND_EVENTS.get(m["cmd"], SECURITY_ALERT)
        return _record(event_id, name, m["aet"], m["ip"], f"DICOM {m['cmd']} not granted to this modality")
    if m := _UNKNOWN_AE.search(line):
        return _record(
            *SECURITY_ALERT,
            m["aet"],
            m["ip"],
            "association refused: calling AE title not in the allow-list or not bound to this address",
        )
    if m := _BAD_CALLED.search(line):
        return _record(*SECURITY_ALERT, None, None, f"association refused: wrong called AE title {m['called']!r}")
    if m := _TLS.search(line):
        return _record(*SECURITY_ALERT, None, None, f"association refused: {m['why'].strip()}")
    return None


def _record(event_id: str, name: str, aet: str | None, ip: str | None, reason: str) -> dict:
    return {
        "event_id": event_id,
        "event_name": name,
        "action": "E",
        "outcome": "4",
        "user": aet,
        "role": "modality" if aet else None,
        "source_ip": ip,
        "ae_title": aet,
        "reason": reason,
    }


class _Tail:
    """New complete lines of one file, from its end at start-up; survives truncation and rotation."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.position = os.path.getsize(path) if os.path.exists(path) else 0
        self.inode = os.stat(path).st_ino if os.path.exists(path) else None
        self.buffer = ""

    def lines(self) -> list[str]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        if st.st_ino != self.inode or st.st_size < self.position:
            self.inode, self.position, self.buffer = st.st_ino, 0, ""
        if st.st_size <= self.position:
            return []
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            fh.seek(self.position)
            self.buffer += fh.read()
            self.position = fh.tell()
        *lines, self.buffer = self.buffer.split("\n")
        return lines


def follow_files(sources: list[tuple[str, Callable[[str], None]]], stop: threading.Event, poll: float = 0.2) -> None:
    """Tail several files in one thread, each pass in the order given (so one file's lines can be joined to
    lines another wrote earlier)."""
    tails = [(_Tail(path), handle) for path, handle in sources]
    while not stop.is_set():
        for tail, handle in tails:
            for line in tail.lines():
                handle(line)
        stop.wait(poll)


def follow(path: str, handle: Callable[[dict], None], stop: threading.Event, poll: float = 0.2) -> None:
    """Tail Orthanc's log from its current end and hand over every refusal as an audit record."""

    def on_line(line: str) -> None:
        record = parse(line)
        if record:
            handle(record)

    follow_files([(path, on_line)], stop, poll)
