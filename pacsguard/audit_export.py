"""The audit trail for a time range, the way an auditor asks for it: JSON, or DICOM PS3.15 A.5 audit messages.

The chain is verified first and its result travels with the export, so a copy handed over says whether the
trail it came from was intact.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from orthanc_config.audit_chain import ChainReport, read_entries, verify_chain

# DICOM CID 402 "Audit Active Participant Role ID Codes".
SOURCE_ROLE = ("110153", "Source Role ID")
DESTINATION_ROLE = ("110152", "Destination Role ID")
APPLICATION_ROLE = ("110150", "Application")
STUDY_UID_TYPE = ("110180", "Study Instance UID")


class ExportError(Exception):
    """Bad input for an export (unreadable trail, a time that is not ISO 8601): exit code 2."""


def parse_time(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ExportError(f"--{name} {value!r} is not an ISO 8601 date or time (e.g. 2026-12-01T08:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def records_between(trail: Path, since: dt.datetime | None, until: dt.datetime | None) -> list[dict]:
    if not trail.exists():
        raise ExportError(f"no audit trail at {trail} (start the stack, or name the trail with --trail)")
    try:
        entries = list(read_entries(trail))
    except PermissionError:
        raise ExportError(f"cannot read {trail}: the trail is readable by root and the orthanc group only") from None
    out = []
    for entry in entries:
        when = _when(entry)
        if when is None or (since and when < since) or (until and when >= until):
            continue
        out.append(entry)
    return out


def _when(entry: dict) -> dt.datetime | None:
    for key in ("time", "received"):
        try:
            when = dt.datetime.fromisoformat(str(entry.get(key)))
        except ValueError:
            continue
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return None


def as_json(records: list[dict], chain: ChainReport, trail: Path, since: str | None, until: str | None) -> str:
    doc = {
        "trail": str(trail),
        "since": since,
        "until": until,
        "integrity": {"records_in_trail": chain.records, "intact": chain.intact, "problems": chain.problems},
        "records": records,
    }
    return json.dumps(doc, indent=2)


def _code(parent: ET.Element, tag: str, code: tuple[str, str]) -> None:
    ET.SubElement(parent, tag, {"csd-code": code[0], "codeSystemName": "DCM", "originalText": code[1]})


def audit_message(record: dict) -> ET.Element:
    """One DICOM PS3.15 A.5.1 AuditMessage for one trail record."""
    message = ET.Element("AuditMessage")
    event = ET.SubElement(
        message,
        "EventIdentification",
        {
            "EventActionCode": str(record.get("action", "E")),
            "EventDateTime": _event_time(record),
            "EventOutcomeIndicator": str(record.get("outcome", "0")),
        },
    )
    _code(event, "EventID", (str(record.get("event_id", "110100")), str(record.get("event", ""))))
    if record.get("reason"):
        ET.SubElement(event, "EventOutcomeDescription").text = str(record["reason"])
    requestor = {"UserID": str(record.get("user") or record.get("ae_title") or "unknown"), "UserIsRequestor": "true"}
    if record.get("source_ip"):
        requestor |= {"NetworkAccessPointID": str(record["source_ip"]), "NetworkAccessPointTypeCode": "2"}
    participant = ET.SubElement(message, "ActiveParticipant", requestor)
    _code(participant, "RoleIDCode", SOURCE_ROLE)
    if record.get("destination"):
        dest = ET.SubElement(
            message, "ActiveParticipant", {"UserID": str(record["destination"]), "UserIsRequestor": "false"}
        )
        _code(dest, "RoleIDCode", DESTINATION_ROLE)
    application = ET.SubElement(
        message, "ActiveParticipant", {"UserID": str(record.get("layer", "pacsguard")), "UserIsRequestor": "false"}
    )
    _code(application, "RoleIDCode", APPLICATION_ROLE)
    ET.SubElement(message, "AuditSourceIdentification", {"AuditSourceID": str(record.get("audit_source", "pacsguard"))})
    studies = record.get("study_uids") or ([record["study_uid"]] if record.get("study_uid") else [])
    for study in studies:
        obj = ET.SubElement(
            message,
            "ParticipantObjectIdentification",
            {"ParticipantObjectID": str(study), "ParticipantObjectTypeCode": "2", "ParticipantObjectTypeCodeRole": "3"},
        )
        _code(obj, "ParticipantObjectIDTypeCode", STUDY_UID_TYPE)
        # PS3.15 A.5.1's schema requires a ParticipantObjectName or a ParticipantObjectQuery in every participant
        # object; a study has no other name than its UID (its description could carry PHI).
        ET.SubElement(obj, "ParticipantObjectName").text = str(study)
        if record.get("count"):
            _detail(obj, "NumberOfInstances", str(record["count"]))
    if record.get("query_level"):
        query = ET.SubElement(
            message,
            "ParticipantObjectIdentification",
            {"ParticipantObjectID": str(record.get("dicom_operation", "C-FIND")), "ParticipantObjectTypeCode": "2",
             "ParticipantObjectTypeCodeRole": "24"},
        )  # fmt: skip
        ET.SubElement(query, "ParticipantObjectIDTypeCode", {"csd-code": "ITI-TF", "codeSystemName": "IHE",
                                                             "originalText": "Query"})  # fmt: skip
        # The query as the trail keeps it: its level and the names of its keys, never their values (PHI).
        keys = record.get("query_keys") or []
        keys = [keys] if isinstance(keys, str) else keys  # one key arrives from syslog as a plain value
        asked = json.dumps({"level": record["query_level"], "keys": keys})
        ET.SubElement(query, "ParticipantObjectQuery").text = base64.b64encode(asked.encode()).decode()
        _detail(query, "QueryLevel", str(record["query_level"]))
        _detail(query, "QueryKeys", " ".join(keys))
    return message


def _event_time(record: dict) -> str:
    """An xsd:dateTime, as the schema requires: the event's own time, else when the sink received it."""
    when = _when(record)
    return (when or dt.datetime.fromtimestamp(0, dt.UTC)).isoformat()


def _detail(parent: ET.Element, kind: str, value: str) -> None:
    ET.SubElement(parent, "ParticipantObjectDetail", {"type": kind, "value": base64.b64encode(value.encode()).decode()})


def as_dicom(records: list[dict], chain: ChainReport) -> str:
    """An XML document of AuditMessage elements (PS3.15 A.5.1), one per record, in trail order."""
    root = ET.Element("AuditMessages", {"trailIntact": "true" if chain.intact else "false"})
    for record in records:
        root.append(audit_message(record))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def export(trail: Path, fmt: str, since: str | None, until: str | None) -> tuple[str, ChainReport]:
    records = records_between(trail, parse_time(since, "since"), parse_time(until, "until"))
    chain = verify_chain(trail)
    text = as_json(records, chain, trail, since, until) if fmt == "json" else as_dicom(records, chain)
    return text, chain
