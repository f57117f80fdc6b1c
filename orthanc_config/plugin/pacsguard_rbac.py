"""Who may do what on Orthanc's REST API: deny by default, some routes refused to everyone.

Standard library only: this runs inside Orthanc under Debian's system Python.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote

RESOURCE = r"(patients|studies|series|instances)"
ID = r"[^/]+"

# Refused even for admin: code execution, writes to the server's file system, reconfiguration.
FORBIDDEN = [
    re.compile(r"^/tools/execute-script/?$"),
    # Trace logging writes patient ids and query strings into Orthanc's log.
    re.compile(r"^/tools/log-level"),
    # Archives of resources named in the request body: the filter never sees the body, so the export
    # record could not name its studies. GET /{level}/{id}/archive and /media release the same files.
    re.compile(r"^/tools/create-(archive|media|media-extended)/?$"),
    re.compile(rf"^/{RESOURCE}/{ID}/export/?$"),
    # A job's output (the ZIP of an asynchronous POST /{level}/{id}/archive or /media): its path names no study,
    # so its export record could not either. The synchronous POST and the GET routes release the same files.
    re.compile(rf"^/jobs/{ID}/(?!(cancel|pause|resume|resubmit)$){ID}$"),
    re.compile(r"^/tools/(reset|shutdown)/?$"),
    re.compile(r"^/webdav(/|$)"),
    re.compile(r"^/(lua|tools/lua)(/|$)"),
]

# Export destinations are configuration as code: no role may create one, or send through one, over REST.
DESTINATIONS = re.compile(r"^/(modalities|peers|dicom-web/servers)(/|$)")
READ_METHODS = frozenset({"GET", "HEAD"})
# Orthanc's attachment numbers (FileContentType): 1 is the DICOM file, 3 its header up to the pixel data.
ATTACHMENT_NAMES = {"1": "dicom", "2": "dicom-as-json", "3": "dicom-until-pixel-data"}
ATTACHMENT = re.compile(r"^(/instances/[^/]+/attachments/)([^/]+)(/.*)?$")

# (permission, methods, path pattern); first match wins, so the narrower routes come first.
ROUTES: list[tuple[str, frozenset[str], re.Pattern[str]]] = [
    ("audit", frozenset({"GET"}), re.compile(r"^/pacsguard/audit/?$")),
    # nginx asks before it serves the web viewer's files (auth_request); the answer follows this table.
    ("view", frozenset({"GET"}), re.compile(r"^/pacsguard/viewer-access/?$")),
    # nginx reports a failed sign-in here (as the gateway) so the plugin can lock the address out.
    ("report-auth-failure", frozenset({"GET"}), re.compile(r"^/pacsguard/auth-failure/?$")),
    ("status", frozenset({"GET"}), re.compile(r"^/(system|statistics)/?$")),
    ("upload", frozenset({"POST"}), re.compile(r"^/instances/?$")),
    ("upload", frozenset({"POST"}), re.compile(rf"^/dicom-web/studies(/{ID})?/?$")),
    (
        "download",
        frozenset({"GET"}),
        re.compile(rf"^/instances/{ID}/(file|attachments/(dicom|dicom-until-pixel-data)(/.*)?)$"),
    ),
    # POST makes the same ZIP (at once with "Synchronous", else as a job): an export of the study in the path.
    ("download", frozenset({"GET", "POST"}), re.compile(rf"^/(patients|studies|series)/{ID}/(archive|media)/?$")),
    ("download", frozenset({"GET"}), re.compile(r"^/wado/?$")),
    ("query", frozenset({"POST"}), re.compile(r"^/tools/find/?$")),
    ("query", frozenset({"GET"}), re.compile(r"^/dicom-web/(studies|series|instances)/?$")),
    ("query", frozenset({"GET"}), re.compile(rf"^/dicom-web/studies/{ID}/(series|instances)/?$")),
    ("query", frozenset({"GET"}), re.compile(rf"^/dicom-web/studies/{ID}/series/{ID}/instances/?$")),
    ("read", frozenset({"GET"}), re.compile(r"^/dicom-web/.*/(metadata|rendered|thumbnail)/?$")),
    (
        "download",
        frozenset({"GET"}),
        # Frames and the BulkDataURIs of WADO-RS metadata are pixel data: the same right as the instance itself.
        re.compile(rf"^/dicom-web/studies/{ID}(/series/{ID}(/instances/{ID}(/frames/.*|/bulk/.*)?)?)?/?$"),
    ),
    ("read", frozenset({"GET"}), re.compile(rf"^/{RESOURCE}(/.*)?$")),
]

# The viewer needs a study list (query), metadata (read) and frames (download): "view" goes with those three.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "query", "download", "view", "upload", "audit", "status", "manage"}),
    "radiologist": frozenset({"read", "query", "download", "view"}),
    "technologist": frozenset({"upload", "read"}),
    "auditor": frozenset({"audit"}),
    "service": frozenset({"upload", "status"}),
    # nginx's channel: a verified token makes it someone; on its own it may only report failed sign-ins.
    "gateway": frozenset({"report-auth-failure"}),
}
ROLES = tuple(r for r in ROLE_PERMISSIONS if r != "gateway")

# DICOM PS3.15 A.5 / DICOM CID 400 event ids and the ATNA action code for each permission.
EVENTS = {
    "read": ("110103", "DICOM Instances Accessed", "R"),
    "download": ("110106", "Export", "R"),
    "upload": ("110104", "DICOM Instances Transferred", "C"),
    "query": ("110112", "Query", "E"),
    "audit": ("110101", "Audit Log Used", "R"),
    "status": ("110100", "Application Activity", "E"),
    "view": ("110100", "Application Activity", "E"),
    "report-auth-failure": ("110114", "User Authentication", "E"),
    "manage": ("110100", "Application Activity", "E"),
    "delete": ("110105", "DICOM Study Deleted", "D"),
    "forbidden": ("110113", "Security Alert", "E"),
    "authentication": ("110114", "User Authentication", "E"),
}
OUTCOME_SUCCESS, OUTCOME_MINOR_FAILURE, OUTCOME_SERIOUS_FAILURE = "0", "4", "8"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    permission: str
    event_id: str
    event: str
    action: str
    outcome: str
    reason: str


def resolve(path: str) -> str:
    """The route as Orthanc resolves it, whatever its spelling: no query, percent-decoded, one slash between
    segments, no dot segments or trailing slash, attachment numbers as their names."""
    path = posixpath.normpath("/" + unquote(path.split("?", 1)[0]))
    path = "/" + path.lstrip("/")  # normpath keeps a leading "//"
    m = ATTACHMENT.match(path)
    if m:
        path = m.group(1) + ATTACHMENT_NAMES.get(m.group(2), m.group(2)) + (m.group(3) or "")
    return path


def classify(method: str, path: str) -> str:
    """The permission a request needs: one of the ROUTES' names, 'manage' for the rest, or 'forbidden'."""
    path = resolve(path)
    if any(p.match(path) for p in FORBIDDEN):
        return "forbidden"
    if DESTINATIONS.match(path) and method not in READ_METHODS:
        return "forbidden"
    for permission, methods, pattern in ROUTES:
        if method in methods and pattern.match(path):
            return permission
    return "manage"


def decide(role: str | None, method: str, path: str) -> Decision:
    permission = classify(method.upper(), path)
    if permission == "forbidden":
        return _decision(False, permission, OUTCOME_SERIOUS_FAILURE, "route refused for every role")
    granted = ROLE_PERMISSIONS.get(role or "", frozenset())
    event_key = "delete" if method.upper() == "DELETE" else permission
    if permission in granted:
        return _decision(True, permission, OUTCOME_SUCCESS, f"role {role} has {permission}", event_key)
    why = f"role {role} lacks {permission}" if role in ROLE_PERMISSIONS else f"unknown role {role!r}"
    return _decision(False, permission, OUTCOME_MINOR_FAILURE, why, event_key)


def _decision(allowed: bool, permission: str, outcome: str, reason: str, event_key: str | None = None) -> Decision:
    event_id, event, action = EVENTS[event_key or permission]
    return Decision(allowed, permission, event_id, event, action, outcome, reason)


def refused(decision: Decision, reason: str) -> Decision:
    """A decision the role allowed but another check (a cross-site request) refuses: a security alert."""
    event_id, event, action = EVENTS["forbidden"]
    return Decision(False, decision.permission, event_id, event, action, OUTCOME_SERIOUS_FAILURE, reason)


RESOURCE_ID = re.compile(r"^/(patients|studies|series|instances)/([^/]+)")


def exported_resource(path: str) -> tuple[str, str] | None:
    """(level, Orthanc id) of the resource a download route releases, as Orthanc resolves the route."""
    m = RESOURCE_ID.match(resolve(path))
    return (m.group(1), m.group(2)) if m else None
