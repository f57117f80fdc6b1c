"""Only the intended ports are reachable from outside the host's namespace."""

from __future__ import annotations

import pytest

from pacsguard.posture.clients import reachable

pytestmark = pytest.mark.host


def test_https_and_dicom_are_reachable(stack: dict) -> None:
    host = stack["dicom"]["host"]
    assert reachable(host, 443) and reachable(host, stack["dicom"]["port"])


def test_orthanc_http_port_and_postgres_are_not(stack: dict) -> None:
    host = stack["dicom"]["host"]
    assert not reachable(host, stack["orthanc_http_port"], timeout=0.5)
    assert not reachable(host, stack["database_port"], timeout=0.5)


def test_secrets_are_not_world_readable(stack: dict) -> None:
    import os
    from pathlib import Path

    creds = Path(stack["credentials_file"])
    assert creds.stat().st_mode & 0o077 == 0
    orthanc_creds = Path(stack["config_dir"]) / "credentials.json"
    st = orthanc_creds.stat()
    assert st.st_mode & 0o007 == 0 and st.st_uid == 0
    for m in stack["modalities"]:
        assert os.stat(m["key"]).st_mode & 0o077 == 0


def test_orthanc_runs_as_its_own_user(stack: dict) -> None:
    import pwd
    import subprocess
    from pathlib import Path

    pids = subprocess.run(["ip", "netns", "pids", stack["netns"]], capture_output=True, text=True).stdout.split()
    owners = {}
    for pid in pids:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            uid = int(next(line for line in status if line.startswith("Uid:")).split()[1])
        except OSError:
            continue
        owners.setdefault(comm, set()).add(pwd.getpwuid(uid).pw_name)
    assert owners["Orthanc"] == {"orthanc"}
    assert "root" not in owners.get("postgres", {"postgres"})
