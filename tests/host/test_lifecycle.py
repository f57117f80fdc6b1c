"""`local up` is idempotent and keeps secrets; `local down` leaves no process, namespace or listener."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orthanc_config import netns
from orthanc_config.local_stack import LocalOptions, LocalStackError, down, is_up, status, up
from tests.host.conftest import host_prerequisites, service_reachable_dir, slot_name, slot_subnet

pytestmark = pytest.mark.host


@pytest.fixture
def cycle_options() -> Iterator[LocalOptions]:
    reason = host_prerequisites()
    if reason:
        pytest.skip(reason)
    base = service_reachable_dir()
    yield LocalOptions(
        name=slot_name("pgcycle"), state_dir=base / "state", subnet=slot_subnet(8), install_packages=False
    )
    shutil.rmtree(base, ignore_errors=True)


def test_unreachable_state_dir_is_refused_before_anything_starts(tmp_path: Path) -> None:
    reason = host_prerequisites()
    if reason:
        pytest.skip(reason)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    opts = LocalOptions(
        name=slot_name("pgbad"), state_dir=private / "state", subnet=slot_subnet(9), install_packages=False
    )
    with pytest.raises(LocalStackError, match="cannot reach the state"):
        up(opts, say=lambda _m: None)
    assert not netns.exists(slot_name("pgbad")) and not (private / "state").exists()


def _processes_under(path: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(path) in line and "pytest" not in line]


def test_up_twice_then_down_leaves_nothing(cycle_options: LocalOptions) -> None:
    opts = cycle_options
    try:
        doc = up(opts, say=lambda _m: None)
        passwords = json.loads(Path(doc["credentials_file"]).read_text())
        start = time.monotonic()
        again = up(opts, say=lambda _m: None)
        assert time.monotonic() - start < 5  # already running: nothing restarted
        assert again == doc == status(opts)
        assert json.loads(Path(doc["credentials_file"]).read_text()) == passwords
    finally:
        down(opts, say=lambda _m: None)
    assert not netns.exists(opts.name)
    assert not is_up(opts)
    assert _processes_under(opts.state_dir) == []
    # No probe by connection here: with the link gone, traffic to that address would leave the machine.
    assert subprocess.run(["ip", "link", "show", opts.link.host_if], capture_output=True).returncode != 0
    routes = subprocess.run(["ip", "route", "show"], capture_output=True, text=True).stdout
    assert f"{opts.subnet}/24" not in routes
    listeners = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
    assert opts.link.ns_address not in listeners
    with pytest.raises(LocalStackError, match="no local stack"):
        status(opts)
    assert opts.state_dir.exists()  # without --purge the images and keys stay
    down(opts, purge=True, say=lambda _m: None)
    assert not opts.state_dir.exists()


def test_restart_keeps_stored_data_and_passwords(cycle_options: LocalOptions, tmp_path: Path) -> None:
    from pacsguard.posture.clients import https
    from pacsguard.posture.dicom_files import unique_ct

    opts = cycle_options
    try:
        doc = up(opts, say=lambda _m: None)
        doc["_users"] = json.loads(Path(doc["credentials_file"]).read_text())["users"]
        path, _ = unique_ct(tmp_path)
        assert https(doc, "POST", "/instances", "technologist1", body=path.read_bytes())[0] == 200
        down(opts, say=lambda _m: None)
        doc2 = up(opts, say=lambda _m: None)
        doc2["_users"] = doc["_users"]
        code, body, _ = https(doc2, "GET", "/instances", "admin")
        assert code == 200 and len(json.loads(body)) == 1
    finally:
        down(opts, purge=True, say=lambda _m: None)
