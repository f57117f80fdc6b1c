"""`pacsguard audit-log`: a time range of the trail as JSON or DICOM PS3.15 audit messages, chain verified."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from orthanc_config.audit_chain import ChainWriter
from pacsguard.cli import app

RECORDS = [
    {"time": "2026-12-01T08:00:00+00:00", "event_id": "110112", "event": "Query", "action": "E", "outcome": "0",
     "user": "WORKSTATION_1", "dicom_operation": "C-FIND", "query_level": "STUDY", "query_keys": ["PatientName"]},
    {"time": "2026-12-01T09:00:00+00:00", "event_id": "110106", "event": "Export", "action": "R", "outcome": "0",
     "user": "radiologist1", "source_ip": "198.18.0.1", "study_uids": ["1.2.3", "1.2.4"], "count": "2"},
    {"time": "2026-12-01T10:00:00+00:00", "event_id": "110113", "event": "Security Alert", "action": "E",
     "outcome": "8", "user": "admin", "reason": "route refused for every role"},
]  # fmt: skip


def trail(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    writer = ChainWriter(path)
    for record in RECORDS:
        writer.append(record)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["audit-log", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_export_of_a_time_range(tmp_path: Path) -> None:
    code, out, _ = run(
        "--trail", str(trail(tmp_path)), "--since", "2026-12-01T08:30:00Z", "--until", "2026-12-01T10:00"
    )
    doc = json.loads(out)
    assert code == 0 and doc["integrity"]["intact"] and doc["integrity"]["records_in_trail"] == 3
    assert [r["user"] for r in doc["records"]] == ["radiologist1"]


def test_dicom_export_is_ps3_15_audit_messages(tmp_path: Path) -> None:
    code, out, _ = run("--trail", str(trail(tmp_path)), "-f", "dicom")
    root = ET.fromstring(out.encode())  # noqa: S314 (our own export, just written)
    messages = root.findall("AuditMessage")
    assert code == 0 and root.get("trailIntact") == "true" and len(messages) == 3
    export = messages[1]
    assert export.find("EventIdentification/EventID").get("csd-code") == "110106"
    assert export.find("EventIdentification").get("EventActionCode") == "R"
    requestor = export.find("ActiveParticipant")
    assert (requestor.get("UserID"), requestor.get("NetworkAccessPointID")) == ("radiologist1", "198.18.0.1")
    studies = [o.get("ParticipantObjectID") for o in export.findall("ParticipantObjectIdentification")]
    assert studies == ["1.2.3", "1.2.4"]
    query = messages[0].find("ParticipantObjectIdentification")
    assert query.get("ParticipantObjectTypeCodeRole") == "24"


def test_a_broken_chain_is_exported_marked_and_exits_1(tmp_path: Path) -> None:
    path = trail(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[2])  # a deleted record
    code, out, err = run("--trail", str(path))
    assert code == 1 and json.loads(out)["integrity"]["intact"] is False and "broken" in err


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, _, err = run("--trail", str(trail(tmp_path)), "--since", "yesterday")
    assert code == 2 and "ISO 8601" in err and len(err.strip().splitlines()) == 1
    code, _, err = run("--trail", str(tmp_path / "none.jsonl"))
    assert code == 2 and "no audit trail" in err
