"""Orthanc's refusal log lines become audit records; nothing else does."""

from __future__ import annotations

import threading
import time
from pathlib import Path

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


def test_follower_reads_new_lines_and_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "orthanc.log"
    log.write_text("Rejected association for remote AET OLD on IP 1.1.1.1\n")  # before start: not replayed
    seen: list[dict] = []
    stop = threading.Event()
    t = threading.Thread(target=dicomlog.follow, args=(str(log), seen.append, stop, 0.01), daemon=True)
    t.start()
    time.sleep(0.05)
    with log.open("a") as fh:
        fh.write("Rejected association for remote AET NEW on IP 198.18.0.1\n")
    _wait(lambda: len(seen) == 1)
    log.unlink()
    log.write_text("Rejected association for remote AET ROTATED on IP 198.18.0.1\n")
    _wait(lambda: len(seen) == 2)
    stop.set()
    t.join(1)
    assert [r["ae_title"] for r in seen] == ["NEW", "ROTATED"]


def _wait(cond, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cond()
