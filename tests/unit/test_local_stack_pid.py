"""A stopped Orthanc counts as stopped even while it is the caller's unreaped child: a process that ran `up` and
then restarts Orthanc (the benchmarks, the host tests) otherwise waits stop_orthanc's whole 15 s for a zombie."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from orthanc_config.local_stack import _pid_alive


def test_a_child_that_has_exited_is_not_alive(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "60"])
    pid_file = tmp_path / "orthanc.pid"
    pid_file.write_text(f"{child.pid}\n")
    assert _pid_alive(pid_file)
    child.terminate()
    deadline = time.monotonic() + 5
    while _pid_alive(pid_file) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(pid_file), "an exited child (a zombie until reaped) was taken for a running process"
    child.wait()  # already reaped: returns at once


def test_a_running_process_that_is_not_our_child_is_alive(tmp_path: Path) -> None:
    pid_file = tmp_path / "orthanc.pid"
    pid_file.write_text("1\n")
    assert _pid_alive(pid_file)


def test_no_pid_file_is_not_alive(tmp_path: Path) -> None:
    assert not _pid_alive(tmp_path / "missing.pid")
