"""`pacsguard audit-log`: a time range of the trail as JSON or DICOM PS3.15 audit messages, chain verified."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
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


# The DICOM export checked by an independent validator (libxml2's RELAX NG, through lxml) against PS3.15 A.5.1's
# schema, on a trail written by the real sink from every producer: the plugin (HTTP decisions, exports, queries),
# nginx (HTTP access lines, a DICOM edge connection) and Orthanc's own DICOM output (association, C-FIND, C-GET,
# C-MOVE).
SCHEMA = Path(__file__).parent / "data" / "dicom_audit_message.rng"


def _trail_from_every_producer(tmp_path: Path) -> Path:
    from orthanc_config.audit_sink import Sink, SinkConfig, _uid
    from orthanc_config.plugin import pacsguard_audit as audit
    from orthanc_config.plugin import pacsguard_syslog as rfc5424
    from tests.unit.test_dicom_operations import SESSION
    from tests.unit.test_plugin_dicomedge import OK as EDGE_LINE

    orthanc, nginx = _uid("orthanc"), _uid("www-data")
    if orthanc < 0 or nginx < 0:
        pytest.skip("needs the orthanc and www-data users (make setup installs orthanc and nginx)")
    sink = Sink(SinkConfig(trail=str(tmp_path / "audit.jsonl"), audit_socket="", orthanc_socket="",
                           orthanc_log=str(tmp_path / "orthanc.log"), reader_group="root"))  # fmt: skip
    sink.orthanc_pids.add(10)  # the plugin's messages below come from "the Orthanc server", pid 10
    sink.is_nginx_worker = lambda pid: pid == 11  # and nginx's from a worker, pid 11
    plugin = [
        audit.event(event_id="110106", event_name="Export", action="R", outcome="0", user="radiologist1",
                    role="radiologist", source_ip="198.18.0.1", layer="orthanc-http", method="GET",
                    path="/studies/s1/archive", reason="role radiologist has download", study_uids=["1.2.3", "1.2.4"],
                    count="2"),
        audit.event(event_id="110112", event_name="Query", action="E", outcome="0", user="radiologist1",
                    role="radiologist", source_ip="198.18.0.1", layer="orthanc-http", method="GET",
                    path="/dicom-web/studies?PatientName=X", reason="role radiologist has query"),
        audit.event(event_id="110113", event_name="Security Alert", action="E", outcome="8", user="admin",
                    role="admin", source_ip="198.18.0.1", layer="orthanc-http", method="PUT",
                    path="/modalities/EVIL", reason="route refused for every role"),
        audit.event(event_id="110104", event_name="DICOM Instances Transferred", action="C", outcome="0",
                    user="MODALITY_CT", role="modality", source_ip=None, layer="orthanc-dicom", ae_title="MODALITY_CT",
                    study_uid="1.2.3", series_uid="1.2.3.4", instance_uid="1.2.3.4.5", reason="C-STORE received"),
    ]  # fmt: skip
    for record in plugin:
        sink.datagram(rfc5424.format_record(record, hostname="pacs"), orthanc, 10)
    for status in (200, 401, 403):
        line = {"time": "2026-12-01T10:00:00+00:00", "client": "198.18.0.1", "user": "admin", "method": "GET",
                "path": "/system?x=1", "status": status, "bytes": 10}  # fmt: skip
        sink.datagram(f"<190>Dec  1 10:00:00 pacsguard_http: {json.dumps(line)}".encode(), nginx, 11)
    sink.datagram(f"<190>Dec  1 10:00:00 pacsguard_dicom: {json.dumps(EDGE_LINE)}".encode(), nginx, 11)
    sink.flush_edge(0)
    for line in SESSION:
        sink.orthanc_line(line)
    sink.operations.flush()
    return tmp_path / "audit.jsonl"


def test_every_dicom_export_message_is_valid_against_the_ps3_15_schema(tmp_path: Path) -> None:
    etree = pytest.importorskip("lxml.etree", reason="needs lxml (make setup installs the test extras)")
    schema = etree.RelaxNG(etree.parse(str(SCHEMA)))
    path = _trail_from_every_producer(tmp_path)
    code, out, _ = run("--trail", str(path), "-f", "dicom")
    messages = list(etree.fromstring(out.encode()))
    kinds = {m.find("EventIdentification/EventID").get("csd-code") for m in messages}
    assert code == 0 and {"110100", "110104", "110106", "110112", "110113", "110114"} <= kinds, kinds
    invalid = []
    for message in messages:
        if not schema.validate(message):
            invalid.append(f"{schema.error_log.last_error.message}: {etree.tostring(message)[:200]!r}")
    assert not invalid, invalid[:3]
    query = next(m for m in messages if m.find("ParticipantObjectIdentification[@ParticipantObjectTypeCodeRole='24']")
                 is not None)  # fmt: skip
    asked = base64.b64decode(query.find("ParticipantObjectIdentification/ParticipantObjectQuery").text).decode()
    assert "STUDY" in asked and "PatientName" in asked and "PHI" not in asked  # level and key names, never values
