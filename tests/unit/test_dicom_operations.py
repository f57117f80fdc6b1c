# ruff: noqa: E501  (log lines as Orthanc writes them)
"""Associations and C-FIND/C-GET/C-MOVE from Orthanc 1.10.1's own --verbose-dicom output (lines captured from a
local stack) become one record each, with level and key names, resources, studies, counts and destination."""

from __future__ import annotations

from orthanc_config.dicom_operations import DicomOperations

P = "I1201 22:45:48.208452 "
SESSION = [
    P + "CommandDispatcher.cpp:333] (dicom) Association Received from AET WORKSTATION_1 on IP 127.0.64.2",
    P
    + "CommandDispatcher.cpp:664] (dicom) Association Acknowledged (Max Send PDV: 16370) to AET WORKSTATION_1 on IP 127.0.64.2",
    P + "OrthancFindRequestHandler.cpp:653] (dicom) DICOM C-Find request at level: Study",
    P + "OrthancFindRequestHandler.cpp:659] (dicom)   (0008,0052)  QueryRetrieveLevel = STUDY",
    P + "OrthancFindRequestHandler.cpp:659] (dicom)   (0010,0010)  PatientName = *** POTENTIAL PHI ***",
    P + "OrthancFindRequestHandler.cpp:659] (dicom)   (0008,0020)  StudyDate = ",
    P + 'OrthancGetRequestHandler.cpp:489] (dicom) C-GET-SCU request received from AET "WORKSTATION_1"',
    P + "OrthancGetRequestHandler.cpp:497] (dicom)   (0020,000d)  StudyInstanceUID = *** POTENTIAL PHI ***",
    P
    + 'OrthancGetRequestHandler.cpp:563] (dicom) C-GET: Sending resource 45e4668c-0154e6f3-11fb79d7-1106c223-4aa09333 to modality "WORKSTATION_1"',
    P + "OrthancGetRequestHandler.cpp:286] (dicom) Store SCU RQ: MsgID 1, (CT)",
    P + "OrthancGetRequestHandler.cpp:286] (dicom) Store SCU RQ: MsgID 2, (CT)",
    P + 'OrthancMoveRequestHandler.cpp:326] (dicom) Move-SCU request received for AET "ARCHIVE"',
    P
    + 'OrthancMoveRequestHandler.cpp:73] (dicom) Sending resource 45e4668c-0154e6f3-11fb79d7-1106c223-4aa09333 to modality "ARCHIVE" in synchronous mode',
    "E1201 22:45:48.525639 MoveScp.cpp:237] IMoveRequestHandler Failed: Error in the network protocol",
    P
    + "CommandDispatcher.cpp:929] (dicom) Finishing association with AET WORKSTATION_1 on IP 127.0.64.2: DUL Peer Requested Release",
]


def run(lines: list[str]) -> list[dict]:
    out: list[dict] = []
    ops = DicomOperations(out.append, lambda oid: ["1.2.3"] if oid.startswith("45e4668c") else [])
    for line in lines:
        ops.line(line)
    return out


def test_one_record_per_association_and_operation() -> None:
    accepted, find, get, move = run(SESSION)
    assert (accepted["event_id"], accepted["ae_title"], accepted["edge_address"]) == (
        "110114",
        "WORKSTATION_1",
        "127.0.64.2",
    )
    assert (find["event_id"], find["dicom_operation"], find["query_level"]) == ("110112", "C-FIND", "STUDY")
    assert find["query_keys"] == ["QueryRetrieveLevel", "PatientName", "StudyDate(empty)"]
    assert "POTENTIAL" not in str(find)
    assert (get["event_id"], get["study_uids"], get["count"], get["destination"]) == (
        "110106",
        ["1.2.3"],
        "2",
        "WORKSTATION_1",
    )
    assert (move["dicom_operation"], move["destination"], move["outcome"]) == ("C-MOVE", "ARCHIVE", "4")
    assert move["study_uids"] == ["1.2.3"] and "network protocol" in move["reason"]


def test_an_operation_while_two_associations_are_open_names_both_candidates() -> None:
    other = SESSION[1].replace("WORKSTATION_1", "CT_2").replace("127.0.64.2", "127.0.64.3")
    records = run([SESSION[1], other, *SESSION[2:6], SESSION[-1]])
    find = records[-1]
    assert "ae_title" not in find and find["ae_title_candidates"] == ["CT_2", "WORKSTATION_1"]


def test_lines_not_written_by_orthancs_logger_are_ignored() -> None:
    forged = [line.split("] ", 1)[1] for line in SESSION]  # the messages without Orthanc's own prefix
    assert run(forged) == []


def test_a_refused_association_never_owns_an_operation() -> None:
    refused = SESSION[0].replace("WORKSTATION_1", "INTRUDER")  # received, never acknowledged
    records = run([refused, *SESSION])
    assert all(r.get("ae_title") == "WORKSTATION_1" for r in records)


def test_associations_do_not_outlive_an_orthanc_restart() -> None:
    """kill -9 leaves no 'Finishing association' line: the restart's banner closes what was open."""
    restart = "W1201 22:50:00.000001 main.cpp:2017] Orthanc version: 1.10.1"
    other = SESSION[1].replace("WORKSTATION_1", "CT_2").replace("127.0.64.2", "127.0.64.3")
    records = run([other, restart, *SESSION])
    assert all(r.get("ae_title") == "WORKSTATION_1" for r in records[1:])


def test_an_association_aborted_on_a_dimse_failure_is_closed() -> None:
    """A DIMSE failure ends the association with its own line and no 'Finishing association' (seen on Orthanc
    1.10.1 after an echo-only modality's refused request): it must not stay open and blur the AE title of every
    later operation into a list of candidates."""
    other = SESSION[1].replace("WORKSTATION_1", "ULTRASOUND_1").replace("127.0.64.2", "127.0.64.3")
    aborted = (
        P + "CommandDispatcher.cpp:947] (dicom) DIMSE failure (aborting association with AET ULTRASOUND_1 on IP "
        "127.0.64.3): DIMSE Caller passed in an illegal association"
    )
    records = run([other, aborted, *SESSION])
    assert all(r.get("ae_title") == "WORKSTATION_1" for r in records[1:])


def test_a_peer_abort_closes_the_association() -> None:
    other = SESSION[1].replace("WORKSTATION_1", "CT_2").replace("127.0.64.2", "127.0.64.3")
    aborted = P + "CommandDispatcher.cpp:940] (dicom) Association Aborted with AET CT_2 on IP 127.0.64.3"
    records = run([other, aborted, *SESSION])
    assert all(r.get("ae_title") == "WORKSTATION_1" for r in records[1:])


# Orthanc 1.10.1 logs no line per instance a C-MOVE sends (C-GET logs "Store SCU RQ"): lines captured from a
# local stack moving a 3-instance study to WORKSTATION_1. The record counted 0; the count comes from the index.
MOVE_SESSION = [
    P
    + "CommandDispatcher.cpp:664] (dicom) Association Acknowledged (Max Send PDV: 16370) to AET WORKSTATION_1 on IP 127.0.64.2",
    P + 'OrthancMoveRequestHandler.cpp:326] (dicom) Move-SCU request received for AET "WORKSTATION_1"',
    P + "OrthancMoveRequestHandler.cpp:334] (dicom)   (0008,0052)  QueryRetrieveLevel = STUDY",
    P + "OrthancMoveRequestHandler.cpp:334] (dicom)   (0020,000d)  StudyInstanceUID = *** POTENTIAL PHI ***",
    P
    + 'OrthancMoveRequestHandler.cpp:73] (dicom) Sending resource 041f83dc-c0f64307-327c32c8-c209b93b-6dce99f0 to modality "WORKSTATION_1" in synchronous mode',
    P
    + 'DicomAssociation.cpp:275] (dicom) Opening a DICOM SCU connection without DICOM TLS from AET "PACSGUARD" to AET "WORKSTATION_1" on host 127.0.64.2:4243 (manufacturer: Generic, timeout: 10s)',
    P
    + "CommandDispatcher.cpp:929] (dicom) Finishing association with AET WORKSTATION_1 on IP 127.0.64.2: DUL Peer Requested Release",
]


def test_a_c_move_counts_the_instances_of_what_it_sent() -> None:
    out: list[dict] = []
    ops = DicomOperations(out.append, lambda _oid: ["1.2.9"], lambda oid: 3 if oid.startswith("041f83dc") else 0)
    for line in MOVE_SESSION:
        ops.line(line)
    _accepted, move = out
    assert (move["dicom_operation"], move["study_uids"], move["count"], move["destination"]) == (
        "C-MOVE", ["1.2.9"], "3", "WORKSTATION_1"
    )  # fmt: skip
