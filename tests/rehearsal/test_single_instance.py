"""One instance booted from the dev stack's user data and bundle, under Debian's system Python, serves DICOM TLS
and HTTPS, and survives the remediation the docs recommend (running the bootstrap again)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orthanc_config import netns
from orthanc_config.userdata import BUNDLE_PATH, PROFILE_PATH
from tests.host.conftest import slot_name
from tests.rehearsal.conftest import Fleet
from tests.rehearsal.instance import Instance
from tests.rehearsal.region import Region, ip

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def first(fleet: Fleet) -> Instance:
    return fleet.launched[0] if fleet.launched else fleet.launch()


@pytest.fixture(scope="module")
def modality_ns(region: Region, first: Instance) -> str:
    """The dev stack's modality CT_DEV at its own address (10.60.10.21), on the VPC's network."""
    ns = slot_name("rhmod")
    if netns.exists(ns):
        netns.kill_all(ns)
        ip("netns", "del", ns)
    ip("netns", "add", ns)
    region.attach(ns, slot_name("rhvmod"))
    modality = region.plan["profile"].modalities[0]
    ip("-n", ns, "link", "set", "lo", "up")
    ip("-n", ns, "addr", "add", f"{modality.host}/24", "dev", "eth0")
    ip("-n", ns, "route", "add", "10.40.0.0/16", "dev", "eth0")
    first.run("ip", "route", "add", "10.60.0.0/16", "dev", "eth0")
    yield ns
    netns.kill_all(ns)
    ip("netns", "del", ns)


def _copy_out(inst: Instance, path: str, dest: Path) -> Path:
    dest.write_text(inst.read(path))
    return dest


def test_the_user_data_boots_a_serving_host(first: Instance, region: Region) -> None:
    """HTTPS answers through nginx from the VPC (identity is the load balancer's JWT: no token, 401)."""
    ca = _copy_out(first, "/etc/pacsguard/pki/ca.crt", region.base / "host-ca.crt")
    probe = (
        "import ssl, urllib.request, urllib.error\n"
        f"ctx = ssl.create_default_context(cafile='{ca}')\n"
        "ctx.check_hostname = False\n"
        f"try:\n    urllib.request.urlopen('https://{first.address}/system', context=ctx, timeout=5)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code)\n"
    )
    res = subprocess.run([*netns.exec_prefix(region.ns), "/usr/bin/python3", "-c", probe], capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert res.stdout.strip() == "401", res.stderr


def test_a_modality_stores_over_dicom_tls(first: Instance, region: Region, modality_ns: str, tmp_path: Path) -> None:
    aet = region.plan["profile"].modalities[0].aet
    ca = _copy_out(first, "/etc/pacsguard/pki/ca.crt", tmp_path / "ca.crt")
    cert = _copy_out(first, f"/etc/pacsguard/pki/modalities/{aet}.crt", tmp_path / "m.crt")
    key = _copy_out(first, f"/etc/pacsguard/pki/modalities/{aet}.key", tmp_path / "m.key")
    res = subprocess.run(
        [*netns.exec_prefix(modality_ns), "echoscu", "-aet", aet, "-aec", "PACSGUARD", "+tls", str(key), str(cert),
         "+cf", str(ca), first.address, "2762"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr


def test_orthanc_runs_as_orthanc_and_reads_its_certificates_and_the_rds_ca(first: Instance) -> None:
    """Defect 3: /etc/pacsguard was root 0750, so Orthanc could not read its certificate or the RDS CA."""
    for path in (
        "/etc/pacsguard/pki/server.crt",
        "/etc/pacsguard/pki/server.key",
        "/etc/pacsguard/rds-global-bundle.pem",
    ):
        res = first.run("runuser", "-u", "orthanc", "--", "head", "-c1", path, capture_output=True, check=False)
        assert res.returncode == 0, f"orthanc cannot read {path}: {res.stderr!r}"
    pid = first.read("/run/systemd-standin/pacsguard-orthanc.service.pid").strip()
    owner = first.run("ps", "-o", "user=,comm=", "-p", pid, capture_output=True, text=True).stdout.split()
    assert owner == ["orthanc", "Orthanc"]


def test_running_the_bootstrap_again_succeeds(first: Instance) -> None:
    """Defect 2: the documented remediation (a second run) crashed on cryptography 38's missing attribute."""
    res = first.run("python3", BUNDLE_PATH, "install", "--profile", PROFILE_PATH, capture_output=True, text=True,
                    check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
