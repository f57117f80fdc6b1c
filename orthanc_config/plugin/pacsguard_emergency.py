"""Emergency ("break-glass") access on the host: a read-only role that works only inside an open, short window.

The window is a small JSON file root writes when a second person unseals the credential (`pacsguard local
break-glass open`) and removes when it is closed. Every request made under it, allowed or not, is an audit record
marked "emergency": true (on AWS a metric filter on that mark pages the stack's encrypted topic) and a line in
the host's alarm log. Standard library only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass

ROLE = "emergency"
EFFECTIVE_ROLE = "radiologist"  # what an emergency user may do: read, query, retrieve; never store, delete, manage
MAX_MINUTES = 240  # HIPAA emergency access, at most four hours per window whatever the window file says


class EmergencyError(Exception):
    """No open emergency window: the message says why (none, expired, malformed)."""


@dataclass(frozen=True)
class Window:
    opened_at: dt.datetime
    expires_at: dt.datetime
    reason: str
    opened_by: str


def _time(value: object) -> dt.datetime:
    t = dt.datetime.fromisoformat(str(value))
    if t.tzinfo is None:
        raise ValueError("times must carry a time zone")
    return t


def open_window(path: str, now: dt.datetime | None = None) -> Window:
    """The window in force now, or EmergencyError."""
    current = now or dt.datetime.now(dt.UTC)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        window = Window(_time(doc["opened_at"]), _time(doc["expires_at"]), str(doc["reason"]), str(doc["opened_by"]))
    except FileNotFoundError:
        raise EmergencyError("no emergency access window is open") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EmergencyError(f"emergency window unreadable: {exc}") from None
    limit = min(window.expires_at, window.opened_at + dt.timedelta(minutes=MAX_MINUTES))
    if not window.opened_at <= current < limit:
        raise EmergencyError(f"the emergency access window closed at {limit.isoformat(timespec='seconds')}")
    return window


def raise_alarm(alarm_log: str, record: dict) -> None:
    """The local stand-in for the stack's alarm topic: one JSON line per emergency request."""
    if not alarm_log:
        return
    line = json.dumps({"alarm": "EmergencyAccessUsed", **record}, separators=(",", ":"), sort_keys=True) + "\n"
    fd = os.open(alarm_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
