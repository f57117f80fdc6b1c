"""DICOM refusals into the audit trail. Orthanc refuses associations before any plugin callback runs,
but it logs each refusal with the AE title and address: this turns those log lines into ATNA records.

Only lines of the Orthanc process's own output reach this parser (the audit sink reads them from a socket
only Orthanc writes to), and a line counts only when it is whole and shaped the way Orthanc's logger writes:
severity, date, time, source file and line, then exactly one of the known messages to the end of the line.
Standard library only; the parser is pure.
"""

from __future__ import annotations

import re

# DICOM command -> (event id, event name) of the attempted operation.
COMMAND_EVENTS = {
    "Echo": ("110100", "Application Activity"),
    "Store": ("110104", "DICOM Instances Transferred"),
    "Find": ("110112", "Query"),
    "Get": ("110106", "Export"),
    "Move": ("110106", "Export"),
}
SECURITY_ALERT = ("110113", "Security Alert")

# Orthanc's logger: "W1129 12:58:18.397765 CommandDispatcher.cpp:617] message" (a thread name may precede the file).
_PREFIX = r"^[EWIT]\d{4} \d\d:\d\d:\d\d\.\d{6} (?:[A-Z-]+ +)?[A-Za-z]+\.cpp:\d+\] "
_UNKNOWN_AE = re.compile(_PREFIX + r"Rejected association for remote AET (?P<aet>\S+) on IP (?P<ip>\S+)$")
_BAD_CALLED = re.compile(
    _PREFIX + r"Rejected association, because of a bad called AET in the request \((?P<called>[^)]*)\)$"
)
_TLS = re.compile(_PREFIX + r"Receiving Association failed: (?P<why>TLS error: [^\n]*)$")
_NOT_ALLOWED = re.compile(
    _PREFIX + r"DICOM authorization rejected for AET (?P<aet>\S+) on IP (?P<ip>\S+): "
    r"The DICOM command (?P<cmd>\w+) is not allowed[^\n]*$"
)


def parse(line: str) -> dict | None:
    """The audit fields for one Orthanc log line, or None when the line is not a DICOM refusal."""
    if m := _NOT_ALLOWED.match(line):
        event_id, name = COMMAND_EVENTS.get(m["cmd"], SECURITY_ALERT)
        return _record(event_id, name, m["aet"], m["ip"], f"DICOM {m['cmd']} not granted to this modality")
    if m := _UNKNOWN_AE.match(line):
        return _record(
            *SECURITY_ALERT,
            m["aet"],
            m["ip"],
            "association refused: calling AE title not in the allow-list or not bound to this address",
        )
    if m := _BAD_CALLED.match(line):
        return _record(*SECURITY_ALERT, None, None, f"association refused: wrong called AE title {m['called']!r}")
    if m := _TLS.match(line):
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
