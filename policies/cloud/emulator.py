"""A local AWS emulator (moto in server mode) on 127.0.0.1, started and stopped by `pacsguard emulator`.

`stop` ends only the process `start` recorded, and only if it still is that moto server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_PORT = 4566
STATE_DIR = Path(os.environ.get("PACSGUARD_STATE", Path.home() / ".pacsguard"))


class EmulatorError(Exception):
    pass


def _state_file(port: int) -> Path:
    return STATE_DIR / f"emulator-{port}.json"


def environment(port: int) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }


def _is_ours(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return "moto" in cmdline


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def status(port: int = DEFAULT_PORT) -> dict | None:
    path = _state_file(port)
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    if not _is_ours(info["pid"]):
        path.unlink(missing_ok=True)
        return None
    return info


def start(port: int = DEFAULT_PORT) -> dict:
    running = status(port)
    if running:
        return running
    if _listening(port):
        raise EmulatorError(f"127.0.0.1:{port} is already in use by another program: choose --port")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log = open(STATE_DIR / f"emulator-{port}.log", "ab")  # noqa: SIM115 (handed to the server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
    )  # fmt: skip
    log.close()
    deadline = time.monotonic() + 15
    while not _listening(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise EmulatorError(f"moto did not start on 127.0.0.1:{port}; see {STATE_DIR}/emulator-{port}.log")
        time.sleep(0.05)
    info = {"pid": proc.pid, "port": port, "url": f"http://127.0.0.1:{port}"}
    _state_file(port).write_text(json.dumps(info))
    return info


def stop(port: int = DEFAULT_PORT) -> bool:
    info = status(port)
    if not info:
        return False
    os.killpg(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _is_ours(info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _is_ours(info["pid"]):
        os.killpg(info["pid"], signal.SIGKILL)
    _state_file(port).unlink(missing_ok=True)
    return True
