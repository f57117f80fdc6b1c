"""Orthanc's refusal log lines become audit records; nothing else does."""

from __future__ import annotations

import pacsguard_dicomlog as dicomlog
import pytest

LINES = {
    "W1129 12:58:18.397765 CommandDispatcher.cpp:617] Rejected association for remote AET INTRUDER on IP 198.18.0.1": (
        "110113",
        "INTRUDER",
        "198.18.0.1",
    ),
    "W1129 12:58:18.479511 CommandDispatcher.cpp:602] Rejected association, "
    "because of a bad called AET in the request (WRONG)": (
        "110113",
        None,
        None,
    ),
    "E1129 12:58:18.558536 CommandDispatcher.cpp:284] Receiving Association failed: TLS error: wrong version number": (
        "110113",
        None,
        None,
    ),
    "W1129 12:58:18.686871 main.cpp:340] DICOM authorization rejected for AET MODALITY_CT on IP 198.18.0.1: The DICOM "
    'command Find is not allowed for this modality according to configuration option "DicomModalities"': (
        "110112",
        "MODALITY_CT",
        "198.18.0.1",
    ),
}


@pytest.mark.parametrize("line", list(LINES))
def test_refusals_are_parsed(line: str) -> None:
    event_id, aet, ip = LINES[line]
    rec = dicomlog.parse(line)
    assert rec is not None
    assert (rec["event_id"], rec["ae_title"], rec["source_ip"], rec["outcome"]) == (event_id, aet, ip, "4")


@pytest.mark.parametrize(
    "line",
    ["W1129 12:56:14.732039 main.cpp:921] Orthanc has started", "I1129 Received instance from CT1", ""],
)
def test_other_lines_are_ignored(line: str) -> None:
    assert dicomlog.parse(line) is None


FORGED = [
    "Rejected association for remote AET INNOCENT on IP 198.18.0.7",  # what `echo >> orthanc.log` wrote
    "W1129 12:58:18.397765 HttpServer.cpp:1] GET /x Rejected association for remote AET INNOCENT on IP 198.18.0.7",
    "W1129 12:58:18.397765 main.cpp:1] Rejected association for remote AET INNOCENT on IP 198.18.0.7 (forged)",
]


@pytest.mark.parametrize("line", FORGED)
def test_a_refusal_message_not_written_whole_by_orthancs_logger_is_ignored(line: str) -> None:
    assert dicomlog.parse(line) is None
