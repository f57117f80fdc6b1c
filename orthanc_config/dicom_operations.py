"""DICOM associations and operations from Orthanc's own DICOM log (Orthanc runs with --verbose-dicom and
DeidentifyLogs, so query values arrive masked): one record per association accepted and per C-FIND (level and
the keys asked, never their values), C-GET and C-MOVE (the resources sent, their studies, the instance count and
the destination). C-STORE is recorded per instance by the plugin's store filter.

Orthanc 1.10 names no thread in its log, so an operation belongs to the association that is open; when several
are open at once the record says which AE titles it could belong to. Pure: lines in, records out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

_PREFIX = r"^[EWIT]\d{4} \d\d:\d\d:\d\d\.\d{6} (?:[A-Z-]+ +)?[A-Za-z]+\.cpp:\d+\] (?:\(dicom\) )?"
RECEIVED = re.compile(_PREFIX + r"Association Received from AET (?P<aet>\S+) on IP (?P<ip>\S+)$")
ACKNOWLEDGED = re.compile(_PREFIX + r"Association Acknowledged \([^)]*\) to AET (?P<aet>\S+) on IP (?P<ip>\S+)$")
# An association ends with "Finishing association" on release, or with a line of its own when Orthanc aborts it
# (a DIMSE failure) or the peer does: an end left unparsed keeps the association "open" and blurs the AE title of
# every later operation into a list of candidates.
FINISHED = re.compile(
    _PREFIX
    + r"(?:Finishing association with|Association Aborted with|DIMSE failure \(aborting association with) "
    + r"AET (?P<aet>\S+) on IP (?P<ip>[^\s)]+)(?:\)?: .*)?$"
)
FIND = re.compile(_PREFIX + r"DICOM C-Find request at level: (?P<level>\w+)$")
GET = re.compile(_PREFIX + r'C-GET-SCU request received from AET "(?P<aet>[^"]+)"$')
MOVE = re.compile(_PREFIX + r'Move-SCU request received for AET "(?P<dest>[^"]+)"$')
KEY = re.compile(_PREFIX + r"  \((?P<tag>[0-9a-f]{4},[0-9a-f]{4})\)  (?P<name>\w+) = ?(?P<value>.*)$")
SENDING = re.compile(_PREFIX + r'(?:C-GET: )?Sending resource (?P<id>[0-9a-f-]+) to modality "(?P<dest>[^"]+)".*$')
STORE_SENT = re.compile(_PREFIX + r"Store SCU RQ: MsgID \d+.*$")
STARTED = re.compile(_PREFIX + r"Orthanc version: .*$")  # a (re)start: no association survives it
FAILED = re.compile(_PREFIX + r"(?:IMoveRequestHandler|IGetRequestHandler) Failed: (?P<why>.*)$")

OPERATIONS = {
    "find": ("110112", "Query", "E"),
    "get": ("110106", "Export", "R"),
    "move": ("110106", "Export", "R"),
}


@dataclass
class Operation:
    kind: str
    association: dict
    level: str = ""
    keys: list[str] = field(default_factory=list)
    destination: str = ""
    resources: list[str] = field(default_factory=list)
    instances: int = 0
    failure: str = ""


class DicomOperations:
    def __init__(
        self,
        write: Callable[[dict], None],
        studies_of: Callable[[str], list[str]] | None = None,
        instances_of: Callable[[str], int] | None = None,
    ) -> None:
        self.write = write
        self.studies_of = studies_of or (lambda _id: [])
        # Orthanc logs each instance a C-GET sends, not those of a C-MOVE: those are counted in the index.
        self.instances_of = instances_of
        self.open: dict[tuple[str, str], dict] = {}
        self.current: Operation | None = None

    def line(self, text: str) -> None:
        if m := KEY.match(text):
            if self.current is not None:  # the key's name only; an empty key is a return key, not a filter
                self.current.keys.append(m["name"] if m["value"].strip() else f"{m['name']}(empty)")
            return
        if m := SENDING.match(text):
            if self.current is not None:
                self.current.resources.append(m["id"])
                self.current.destination = self.current.destination or m["dest"]
            return
        if STORE_SENT.match(text):
            if self.current is not None:
                self.current.instances += 1
            return
        if m := FAILED.match(text):
            if self.current is not None:
                self.current.failure = m["why"]
            return
        if STARTED.match(text):
            self.flush()
            self.open.clear()
            return
        if RECEIVED.match(text):
            return  # refused associations are received too: only an acknowledged one can carry operations
        if m := ACKNOWLEDGED.match(text):
            self.flush()
            self.open[(m["aet"], m["ip"])] = {"ae_title": m["aet"], "edge_address": m["ip"]}
            self.write(_association_record(m["aet"], m["ip"]))
        elif m := FIND.match(text):
            self._start(Operation("find", self._association(), level=m["level"].upper()))
        elif m := GET.match(text):
            self._start(Operation("get", self._association(), destination=m["aet"]))
        elif m := MOVE.match(text):
            self._start(Operation("move", self._association(), destination=m["dest"]))
        elif m := FINISHED.match(text):
            self.flush()
            self.open.pop((m["aet"], m["ip"]), None)

    def _association(self) -> dict:
        if len(self.open) == 1:
            return dict(next(iter(self.open.values())))
        candidates = sorted({a["ae_title"] for a in self.open.values()})
        return {"ae_title_candidates": candidates} if candidates else {}

    def _start(self, op: Operation) -> None:
        self.flush()
        self.current = op

    def flush(self) -> None:
        op, self.current = self.current, None
        if op is None:
            return
        event_id, name, action = OPERATIONS[op.kind]
        studies: list[str] = []
        for resource in op.resources:
            studies += [s for s in self.studies_of(resource) if s not in studies]
        if op.kind == "move" and not op.failure and not op.instances and self.instances_of:
            op.instances = sum(self.instances_of(resource) for resource in op.resources)
        aet = op.association.get("ae_title")
        record = {
            "event_id": event_id,
            "event": name,
            "action": action,
            "outcome": "4" if op.failure else "0",
            "user": aet,
            "role": "modality" if aet else None,
            "ae_title": aet,
            "ae_title_candidates": op.association.get("ae_title_candidates"),
            "edge_address": op.association.get("edge_address"),
            "dicom_operation": {"find": "C-FIND", "get": "C-GET", "move": "C-MOVE"}[op.kind],
            "query_level": op.level or None,
            "query_keys": op.keys or None,
            "destination": op.destination or None,
            "orthanc_ids": op.resources or None,
            "study_uids": studies or None,
            "count": str(op.instances) if op.kind != "find" else None,
            "reason": op.failure or f"{op.kind.upper()} served",
        }
        self.write({k: v for k, v in record.items() if v not in (None, [], "")})


def _association_record(aet: str, ip: str) -> dict:
    return {
        "event_id": "110114",
        "event": "User Authentication",
        "action": "E",
        "outcome": "0",
        "user": aet,
        "role": "modality",
        "ae_title": aet,
        "edge_address": ip,
        "reason": "association accepted by Orthanc",
    }
