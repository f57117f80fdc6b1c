"""`pacsguard emulator`: moto on 127.0.0.1 only; stop ends the process start recorded and nothing else."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from policies.cloud import emulator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(emulator, "STATE_DIR", tmp_path)
    return tmp_path


def test_start_status_stop_on_loopback(state: Path) -> None:
    port = _free_port()
    info = emulator.start(port)
    try:
        assert info["url"] == f"http://127.0.0.1:{port}"
        assert emulator.start(port)["pid"] == info["pid"]  # idempotent
        assert emulator.status(port)["pid"] == info["pid"]
        listeners = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
        line = next(x for x in listeners.splitlines() if f":{port} " in x)
        assert line.split()[3] == f"127.0.0.1:{port}"  # loopback only, never every interface
        env = emulator.environment(port)
        assert env["AWS_ENDPOINT_URL"] == info["url"]
    finally:
        assert emulator.stop(port)
    assert emulator.status(port) is None and not emulator._listening(port)


def test_stop_never_kills_a_process_it_did_not_start(state: Path) -> None:
    port = _free_port()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (state / f"emulator-{port}.json").write_text(json.dumps({"pid": bystander.pid, "port": port}))
        assert emulator.stop(port) is False
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_a_busy_port_is_refused(state: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(emulator.EmulatorError, match="already in use"):
            emulator.start(s.getsockname()[1])
