"""A real local stack for the host tests: its own namespace, subnet and state, torn down afterwards."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from orthanc_config.local_stack import LocalOptions, down, up
from orthanc_config.packages import missing

# PACSGUARD_TEST_SLOT (1-9) moves every test stack to its own names and subnets, so two checkouts on one
# machine (or a developer's demo beside the tests) never share a namespace. Slot 0 keeps the plain names.
SLOT = int(os.environ.get("PACSGUARD_TEST_SLOT", "0"))


def slot_name(base: str) -> str:
    return f"{base}{SLOT}" if SLOT else base


def slot_subnet(octet: int) -> str:
    """198.18.<octet>.0 in slot 0; slots 1-9 take 198.19.<slot*25 + octet % 25>.0."""
    return f"198.18.{octet}.0" if not SLOT else f"198.19.{SLOT * 25 + octet % 25}.0"


TEST_NAME = slot_name("pgtest")
TEST_SUBNET = slot_subnet(7)


def host_prerequisites() -> str | None:
    """Why the host tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, service users, nftables)"
    absent = [tool for tool in ("ip", "nft", "nginx", "storescu", "runuser", "setpriv") if shutil.which(tool) is None]
    if not Path("/usr/sbin/Orthanc").exists():
        absent.append("Orthanc")
    absent += missing(("orthanc-python", "orthanc-postgresql", "postgresql-15", "libnginx-mod-stream"))
    return f"needs {', '.join(absent)} (run make setup)" if absent else None


def service_reachable_dir() -> Path:
    """A temporary folder the orthanc and postgres users can traverse (pytest's own tmp root is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="pacsguard-test-", dir="/var/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    reason = host_prerequisites()
    if reason:
        pytest.skip(reason)
    state = service_reachable_dir()
    opts = LocalOptions(name=TEST_NAME, state_dir=state / "state", subnet=TEST_SUBNET, install_packages=False)
    doc = up(opts, say=lambda _m: None)
    doc["_options"] = opts
    doc["_users"] = json.loads(Path(doc["credentials_file"]).read_text())["users"]
    try:
        yield doc
    finally:
        down(opts, purge=True, say=lambda _m: None)
        shutil.rmtree(state, ignore_errors=True)
