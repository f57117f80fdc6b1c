"""ATNA records as RFC 5424 syslog messages, the record carried as structured data; and the reverse.

One SD-ELEMENT `atna@32473` holds the record's fields as SD-PARAMs; a list (study UIDs) is the same
PARAM-NAME repeated, as RFC 5424 section 6.3.3 allows. 32473 is the enterprise number RFC 5612 reserves
for examples: a site with its own number sets SD_ID. Standard library only (the plugin and the sink share it).
"""

from __future__ import annotations

import datetime as dt
import re

SD_ID = "atna@32473"
FACILITY_LOG_AUDIT = 13
SEVERITY_NOTICE, SEVERITY_WARNING = 5, 4
APP_NAME = "pacsguard"
NILVALUE = "-"
# Fields that are JSON booleans in the trail (CloudWatch's `{ $.emergency IS TRUE }` needs a real true).
BOOLEAN_FIELDS = frozenset({"emergency"})
_PARAM_NAME = re.compile(r"^[!#-<>-\\^-~]{1,32}$")  # PRINTUSASCII except '=', ' ', ']', '"'
# A PARAM-VALUE up to its closing quote: any character but '"' and '\\', or a backslash and the character it
# escapes. One regular expression, not a loop over characters: the sink parses every record of the host, and the
# request that wrote it waits for that (issue 18: the character loop was half the sink's time per record).
_PARAM_VALUE = re.compile(r'([^"\\]*(?:\\.[^"\\]*)*)"', re.S)
_UNESCAPE = re.compile(r'\\(["\\\]])')  # RFC 5424 6.3.3: only '"', '\\' and ']' are escaped
_HEADER = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<time>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) (?P<rest>.*)$",
    re.S,
)


class SyslogError(ValueError):
    """Not an RFC 5424 message this project writes."""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_record(record: dict, *, hostname: str, procid: str = NILVALUE, time: dt.datetime | None = None) -> bytes:
    """One RFC 5424 message for an ATNA record (string values, or lists of strings)."""
    severity = SEVERITY_NOTICE if str(record.get("outcome", "0")) == "0" else SEVERITY_WARNING
    when = (time or dt.datetime.now(dt.UTC)).isoformat(timespec="microseconds").replace("+00:00", "Z")
    params = []
    for name, value in record.items():
        if value is None:
            continue
        if not _PARAM_NAME.match(name):
            raise SyslogError(f"field name {name!r} cannot be an SD-PARAM name")
        for item in value if isinstance(value, list | tuple) else [value]:
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            params.append(f'{name}="{_escape(text)}"')
    msgid = str(record.get("event_id") or NILVALUE)
    host = hostname[:255] or NILVALUE
    header = f"<{FACILITY_LOG_AUDIT * 8 + severity}>1 {when} {host} {APP_NAME} {procid} {msgid}"
    message = f"{header} [{SD_ID} {' '.join(params)}] {record.get('event', '')}".rstrip()
    return message.encode("utf-8")


def parse_record(message: bytes) -> tuple[dict, dict]:
    """(header fields, record) of a message format_record wrote. Anything else is a SyslogError."""
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SyslogError("not UTF-8") from exc
    m = _HEADER.match(text)
    if not m:
        raise SyslogError("not an RFC 5424 message")
    rest = m["rest"]
    prefix = f"[{SD_ID} "
    if not rest.startswith(prefix):
        raise SyslogError(f"no {SD_ID} structured data")
    record: dict = {}
    i = len(prefix)
    while True:
        if i < len(rest) and rest[i] == "]":
            break
        eq = rest.find('="', i)
        if eq < 0:
            raise SyslogError("structured data not terminated")
        name = rest[i:eq]
        if not _PARAM_NAME.match(name):
            raise SyslogError(f"bad SD-PARAM name {name!r}")
        i, text = read_value(rest, eq + 2)
        if name in record:
            previous = record[name]
            record[name] = [*previous, text] if isinstance(previous, list) else [previous, text]
        else:
            record[name] = text
        if i < len(rest) and rest[i] == " ":
            i += 1
    for name in BOOLEAN_FIELDS & record.keys():
        if record[name] not in ("true", "false"):
            raise SyslogError(f"{name} must be true or false")
        record[name] = record[name] == "true"
    header = {k: m[k] for k in ("pri", "time", "host", "app", "procid", "msgid")}
    return header, record


def read_value(text: str, start: int) -> tuple[int, str]:
    """The PARAM-VALUE that starts at `start` (after its opening quote), unescaped; and where it ends."""
    value = _PARAM_VALUE.match(text, start)
    if value is None:
        raise SyslogError("SD-PARAM value not terminated")
    return value.end(), _UNESCAPE.sub(r"\1", value[1]) if "\\" in value[1] else value[1]
