"""The EC2 rehearsal, in the order an operator lives it: one instance boots from the dev plan's user data and
bundle under Debian's system Python; a second joins behind the load-balancing hop; one modality certificate works
against both; the database's master secret rotates; an instance is replaced and the images and the CA stay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orthanc_config.userdata import BUNDLE_PATH, PROFILE_PATH
from pacsguard.posture.dicom_files import unique_ct
from tests.rehearsal.balancer import VIP, Balancer
from tests.rehearsal.conftest import Fleet
from tests.rehearsal.instance import Instance
from tests.rehearsal.region import Region

pytestmark = pytest.mark.host

CA = "/etc/pacsguard/pki/ca.crt"
RDS_CA = "/etc/pacsguard/rds-global-bundle.pem"
AUDIT_LOG = "/var/log/pacsguard/audit.jsonl"


@pytest.fixture(scope="module")
def first(fleet: Fleet) -> Instance:
    return fleet.launch()


@pytest.fixture(scope="module")
def modality(region: Region, first: Instance, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The operator's way to a modality certificate: `pacsguard aws modality-cert`, read from Secrets Manager."""
    aet = region.plan["profile"].modalities[0].aet
    out = tmp_path_factory.mktemp("modality")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "operator", "AWS_SECRET_ACCESS_KEY": "operator"}
    res = subprocess.run(
        [sys.executable, "-m", "pacsguard.cli", "aws", "modality-cert", aet, "--secret-id",
         region.plan["ca_secret_name"], "--out", str(out), "--region", region.plan["region"],
         "--endpoint-url", region.endpoint_for_tests],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return {"aet": aet, "cert": str(out / f"{aet}.crt"), "key": str(out / f"{aet}.key"), "ca": str(out / "ca.crt")}


def dicom(balancer: Balancer, modality: dict[str, str], address: str, tool: str = "echoscu", *files: str) -> int:
    res = balancer.in_modality_network(
        tool, "-aet", modality["aet"], "-aec", "PACSGUARD", "+tls", modality["key"], modality["cert"],
        "+cf", modality["ca"], address, str(balancer.port), *files, capture_output=True, text=True,
    )  # fmt: skip
    return res.returncode


def stored_instances(region: Region) -> int:
    """Counted in the shared index itself (Orthanc's PostgreSQL schema: resourceType 3 is an instance)."""
    return int(region.psql("SELECT count(*) FROM resources WHERE resourcetype = 3"))


def test_the_user_data_boots_a_serving_host(first: Instance) -> None:
    """Defect 1 too: the plugin is installed from inside host-bundle.zip, or the host never answers (exit 2)."""
    assert first.health() == "401"  # nginx answers; identity is the load balancer's JWT
    assert first.read("/var/lib/pacsguard/plugin/pacsguard_plugin.py")


def test_orthanc_runs_as_orthanc_and_reads_its_certificates_and_the_rds_ca(first: Instance) -> None:
    """Defect 3: /etc/pacsguard was root 0750, so Orthanc could not read its certificate or the RDS CA."""
    for path in ("/etc/pacsguard/pki/server.crt", "/etc/pacsguard/pki/server.key", RDS_CA):
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
    assert first.health() == "401"


def test_the_hosts_keep_no_modality_key_and_no_ca_key(first: Instance) -> None:
    listing = first.run("find", "/etc/pacsguard", "/var/lib/pacsguard", "-name", "*.key", capture_output=True,
                        text=True).stdout.split()  # fmt: skip
    # The host's own keys only (the DICOM edge adds its RSA server key and the PACS's outbound client key).
    own = {f"/etc/pacsguard/pki/{name}.key" for name in ("server", "server-rsa", "pacs-client")}
    assert set(listing) == own


def test_the_ssm_agent_is_installed_from_aws_package_and_running(first: Instance) -> None:
    """Defect 8: Debian's AMI has no SSM agent, so Session Manager (and verify through it) could not reach hosts."""
    res = first.run("dpkg-query", "-W", "-f=${Status}", "amazon-ssm-agent", capture_output=True, text=True)
    assert res.stdout == "install ok installed"
    assert first.run("systemctl", "is-active", "amazon-ssm-agent", capture_output=True, check=False).returncode == 0


def test_balancer_health_checks_from_its_own_subnet_reach_the_host(first: Instance, balancer: Balancer) -> None:
    balancer.register(first.address)
    assert balancer.wait_healthy(first.address)[first.address] == "healthy"


def test_one_modality_certificate_works_against_both_instances(
    fleet: Fleet, first: Instance, balancer: Balancer, modality: dict[str, str], tmp_path: Path
) -> None:
    """Defect 4: each host minted its own CA, so a modality was trusted by one host behind the NLB only."""
    second = fleet.launch()
    balancer.register(second.address)
    balancer.wait_healthy(first.address, second.address)
    assert first.read(CA) == second.read(CA) == Path(modality["ca"]).read_text()
    for inst in (first, second):
        assert dicom(balancer, modality, inst.address) == 0, f"instance {inst.number} refused the modality"
    before = stored_instances(fleet.region)
    for i in range(4):  # round robin: both instances take stores through the listener address
        path, _ = unique_ct(tmp_path, f"ct{i}.dcm")
        assert dicom(balancer, modality, VIP, "storescu", str(path)) == 0
    assert stored_instances(fleet.region) == before + 4


def store_until_accepted(balancer: Balancer, modality: dict[str, str], address: str, path: Path) -> bool:
    """A store, retried while the host reconnects to its database (no timing is asserted)."""
    for _ in range(60):
        if dicom(balancer, modality, address, "storescu", str(path)) == 0:
            return True
        time.sleep(0.5)
    return False


def test_host_nginx_and_audit_logs_reach_the_stacks_log_groups(fleet: Fleet, first: Instance) -> None:
    """Defect 9: nothing shipped the logs the stack's alarms watch. Each file's lines arrive, in order."""

    def arrived(kind: str, path: str) -> tuple[list[str], list[str]]:
        expected = [line for line in first.read(path).splitlines() if line.strip()]
        wanted = set(expected)  # a group gathers several files: keep this file's lines
        return expected, [m for m in fleet.region.log_messages(kind, first.instance_id) if m in wanted]

    for kind, path in (("orthanc-audit", AUDIT_LOG), ("nginx", "/var/log/pacsguard/nginx-access.jsonl")):
        deadline = time.monotonic() + 30  # the shipper polls every 2 s: wait for the content, assert no timing
        while (pair := arrived(kind, path))[0] != pair[1] and time.monotonic() < deadline:
            time.sleep(0.5)
        expected, got = pair
        assert expected and got == expected, f"{kind}: {len(got)} of {len(expected)} lines of {path} shipped"


def test_orthanc_survives_master_secret_rotation_and_a_database_failover(
    fleet: Fleet, first: Instance, balancer: Balancer, modality: dict[str, str], tmp_path: Path
) -> None:
    """Defect 7: Orthanc connected as the master user with the password read at boot; RDS rotates it weekly."""
    region = fleet.region
    query = "SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity WHERE application_name <> 'psql'"
    sessions = region.psql(query + " AND datname = current_database()")
    assert sessions == "orthanc_app", f"Orthanc connects as {sessions!r}, not its least-privilege role"
    assert region.psql("SELECT rolsuper FROM pg_roles WHERE rolname = 'orthanc_app'") == "f"
    region.rotate_master_secret()
    first.run("systemctl", "restart", "pacsguard-orthanc")  # a reboot, or systemd restarting a crashed Orthanc
    first.wait_healthy(time.monotonic() + 60)
    region.fail_over_database()
    before = stored_instances(region)
    for i, inst in enumerate(fleet.running()):
        path, _ = unique_ct(tmp_path, f"after-failover-{i}.dcm")
        assert store_until_accepted(balancer, modality, inst.address, path), f"instance {inst.number} lost its index"
    assert stored_instances(region) == before + len(fleet.running())


def test_replacing_an_instance_keeps_the_images_and_the_ca(
    fleet: Fleet, first: Instance, balancer: Balancer, modality: dict[str, str], tmp_path: Path
) -> None:
    """Terminate an instance; its replacement (new namespace, same user data) serves the same images and CA."""
    # The last store's audit record is written just before the instance goes away; it must still reach CloudWatch.
    path, _ = unique_ct(tmp_path, "last-before-termination.dcm")
    assert dicom(balancer, modality, first.address, "storescu", str(path)) == 0
    audit_lines = [line for line in first.read(AUDIT_LOG).splitlines() if line.strip()]
    ca_before, images_before = first.read(CA), stored_instances(fleet.region)
    files_before = sorted(p.name for p in fleet.efs_dir.rglob("*") if p.is_file())
    balancer.deregister(first.address)
    first.terminate()
    shipped = fleet.region.log_messages("orthanc-audit", first.instance_id)
    # Every line the host held was shipped (the sink may add a record after the read, e.g. a DICOM connection
    # waiting to be joined to Orthanc's refusal).
    assert shipped[: len(audit_lines)] == audit_lines, "the audit trail did not leave the host before it was terminated"
    replacement = fleet.launch()
    balancer.register(replacement.address)
    balancer.wait_healthy(replacement.address)
    assert replacement.read(CA) == ca_before
    assert stored_instances(fleet.region) == images_before
    assert sorted(p.name for p in fleet.efs_dir.rglob("*") if p.is_file()) == files_before
    assert dicom(balancer, modality, replacement.address) == 0
    path, _ = unique_ct(tmp_path, "after.dcm")
    assert dicom(balancer, modality, replacement.address, "storescu", str(path)) == 0
