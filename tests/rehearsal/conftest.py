"""Fixtures of the EC2 rehearsal: the region (moto, PostgreSQL with TLS, AWS's HTTPS endpoints) and instances
booted from the dev stack's own user data and bundle. Needs root; runs in `make test` and `make rehearse`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.synth import Synthesis
from tests.host.conftest import host_prerequisites, service_reachable_dir
from tests.rehearsal.balancer import Balancer
from tests.rehearsal.instance import Instance
from tests.rehearsal.plan_facts import plan_facts
from tests.rehearsal.region import PG_BIN, Region


def rehearsal_prerequisites() -> str | None:
    reason = host_prerequisites()
    if reason:
        return reason
    absent = [tool for tool in ("/usr/bin/python3", "/usr/bin/nsenter", "/usr/bin/unshare", str(PG_BIN / "postgres"))
              if not Path(tool).exists()]  # fmt: skip
    if "overlay" not in Path("/proc/filesystems").read_text():
        absent.append("overlayfs (the instances' root file systems)")
    return f"needs {', '.join(absent)}" if absent else None


class Fleet:
    """Launches instances from the plan's user data; numbers are never reused, like instance ids."""

    def __init__(self, region: Region, base: Path, efs_dir: Path) -> None:
        self.region, self.base, self.efs_dir = region, base, efs_dir
        self.launched: list[Instance] = []

    def launch(self, user_data: str = "", ebs: dict[str, str] | None = None) -> Instance:
        """The plan's user data by default; an instance of another storage mode gets its own (and its volume)."""
        user_data = user_data or self.region.plan["user_data"]
        inst = Instance(self.region, len(self.launched) + 1, self.base, user_data, self.efs_dir, ebs)
        self.launched.append(inst)
        rc = inst.launch()
        if rc != 0:
            tail = inst.boot_log.read_text(errors="replace")[-3000:]
            pytest.fail(f"instance {inst.number}: the user data exited {rc}\n{tail}")
        return inst

    def running(self) -> list[Instance]:
        return [i for i in self.launched if i.running]

    def terminate_all(self) -> None:
        for inst in self.launched:
            inst.terminate()


def modality_certificate(region: Region, out: Path) -> dict[str, str]:
    """The operator's way to a modality certificate: `pacsguard aws modality-cert`, read from Secrets Manager
    (a host has filled the stack CA's secret by then)."""
    aet = region.plan["profile"].modalities[0].aet
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "operator", "AWS_SECRET_ACCESS_KEY": "operator"}
    res = subprocess.run(
        [sys.executable, "-m", "pacsguard.cli", "aws", "modality-cert", aet, "--secret-id",
         region.plan["ca_secret_name"], "--out", str(out), "--region", region.plan["region"],
         "--endpoint-url", region.endpoint_for_tests],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return {"aet": aet, "cert": str(out / f"{aet}.crt"), "key": str(out / f"{aet}.key"), "ca": str(out / "ca.crt")}


@pytest.fixture(scope="session")
def region(dev: Synthesis) -> Iterator[Region]:
    reason = rehearsal_prerequisites()
    if reason:
        pytest.skip(reason)
    base = service_reachable_dir()
    region = Region(base, {})
    try:
        region.plan = plan_facts(dev, base)
        region.start()
        yield region
    finally:
        region.stop()
        if not os.environ.get("PACSGUARD_KEEP_REHEARSAL"):
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def fleet(region: Region) -> Iterator[Fleet]:
    efs = region.base / "efs"
    efs.mkdir()
    # The access point makes every client act as its own POSIX user; a bind mount cannot squash identities,
    # so the emulated file system belongs to the machine's orthanc user, which is what that squashing achieves.
    shutil.chown(efs, "orthanc", "orthanc")
    efs.chmod(0o750)
    fleet = Fleet(region, region.base, efs)
    try:
        yield fleet
    finally:
        fleet.terminate_all()
        (region.base / "fleet.json").write_text(
            json.dumps([{"instance": i.number, "boot_seconds": round(i.boot_seconds, 2)} for i in fleet.launched])
        )


@pytest.fixture(scope="session")
def balancer(region: Region) -> Iterator[Balancer]:
    profile = region.plan["profile"]
    lb = Balancer(region, profile.dicom_port, tuple(m.host for m in profile.modalities))
    try:
        lb.start()
        yield lb
    finally:
        lb.stop()
