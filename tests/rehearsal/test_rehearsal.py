"""The EC2 rehearsal, in the order an operator lives it: one instance boots from the dev plan's user data and
bundle under Debian's system Python; a second joins behind the load-balancing hop; one modality certificate works
against both; the database's master secret rotates; an instance is replaced and the images and the CA stay."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from orthanc_config import db_app_user
from orthanc_config.userdata import BUNDLE_PATH, PROFILE_PATH
from pacsguard.posture.dicom_files import unique_ct
from tests.rehearsal import verifier
from tests.rehearsal.balancer import VIP, Balancer
from tests.rehearsal.conftest import Fleet, modality_certificate
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
    return modality_certificate(region, tmp_path_factory.mktemp("modality"))


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


def test_running_the_bootstrap_again_succeeds(fleet: Fleet, first: Instance) -> None:
    """Defect 2: the documented remediation (a second run) crashed on cryptography 38's missing attribute.
    Defect 5: a run must leave the EFS root alone (the access point owns it): any chown or chmod, even to the same
    owner and mode, moves its status-change time."""
    efs_root = fleet.efs_dir.stat()
    res = first.run("python3", BUNDLE_PATH, "install", "--profile", PROFILE_PATH, capture_output=True, text=True,
                    check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert first.health() == "401"
    after = fleet.efs_dir.stat()
    assert (after.st_uid, after.st_gid, after.st_mode) == (efs_root.st_uid, efs_root.st_gid, efs_root.st_mode)
    assert after.st_ctime_ns == efs_root.st_ctime_ns, "the bootstrap changed the EFS root's owner or mode"


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


def _as(first: Instance, user: str, code: str) -> subprocess.CompletedProcess:
    return first.run(
        "setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "/usr/bin/python3", "-c", code,
        check=False, capture_output=True, text=True,
    )  # fmt: skip


def test_sign_in_keys_come_only_through_the_key_service(first: Instance, region: Region) -> None:
    """hosts.package_egress: closed used to break every sign-in, because Orthanc fetched the ALB's key itself over
    the package window. Now Orthanc cannot reach the key endpoint at all (host firewall), the identity-key service's
    user can, and the key the plugin verifies the ALB's header with comes through the service's socket."""
    from urllib.parse import urlsplit

    from orthanc_config import identity_keys

    host = urlsplit(region.plan["profile"].jwt_key_url).hostname
    connect = f"import socket; socket.create_connection(({host!r}, 443), timeout=10).close()"
    refused = _as(first, "orthanc", connect)
    assert refused.returncode != 0 and "Connection refused" in refused.stderr, refused.stderr[-500:]
    allowed = _as(first, identity_keys.USER, connect)
    assert allowed.returncode == 0, allowed.stderr[-500:]
    ask = (
        "import socket; s = socket.socket(socket.AF_UNIX); "
        f"s.connect({str(identity_keys.SOCKET)!r}); s.sendall(b'alb {region.alb_kid}\\n'); "
        "print(s.makefile('rb').read().decode())"
    )
    answer = _as(first, "orthanc", ask)
    assert answer.stdout.startswith("ok\n-----BEGIN PUBLIC KEY-----"), answer.stdout + answer.stderr[-500:]


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


# What verify cannot prove against a rehearsed instance, and why (the probe's skip message must say so).
EXPECTED_SKIPS = {
    "test_token_times_are_bounded[no iat]": "carries no iat",  # the ALB signs exp only; the other cases bound it
    "test_a_sign_in_older_than_the_timeout_is_refused": "ALB's session timeout",  # no auth_time in its header
    "test_a_revoked_certificate_is_refused_on_the_crl": "revoked_probe",  # stack-CA revocation is not built yet
    # Emergency access on AWS is a sealed Secrets Manager secret whose tags open the window: not rehearsed yet.
    "test_break_glass_": "break_glass",
    "test_open_window_": "break_glass",
    "test_an_expired_window_": "break_glass",
    "test_a_window_longer_": "break_glass",
    # An AWS host's index is RDS over TLS: there is no local PostgreSQL socket directory to check.
    "test_only_postgres_and_the_orthanc_group_reach_the_database_socket": "database_socket_dir",
    # The dev stack's modalities may store and find, none may C-GET (stacks/Pulumi.dev.yaml).
    "test_a_c_get_is_an_export_naming_its_study_count_and_destination": "get right",
}
# Found by this rehearsal, not fixed here (the file belongs to another change): nginx's access record of a request
# the ALB signed in names no user ($remote_user only), so the trail's nginx layer cannot say who asked.
KNOWN_DEFECTS: dict[str, str] = {}  # probe -> the failure it is known to give (none today)


def test_pacsguard_verify_passes_against_each_instance(
    fleet: Fleet, first: Instance, balancer: Balancer, tmp_path: Path
) -> None:
    """The wire/host layer against each rehearsed EC2 host: the verifier plays the ALB (its signed identity header),
    reaches the host from the site network, and checks the host inside its own namespaces."""
    operator = verifier.operator_files(fleet.region, tmp_path / "operator")
    running = fleet.running()
    assert len(running) == 2
    for inst in running:
        target_file = tmp_path / f"target-{inst.number}.json"
        target_file.write_text(json.dumps(verifier.target(fleet.region, inst, operator), indent=2))
        report = tmp_path / f"verify-{inst.number}.json"
        res = verifier.verify(balancer, target_file, report)
        assert report.exists(), res.stderr[-3000:]
        findings = json.loads(report.read_text())["findings"]
        bad = [f for f in findings if f["status"] in ("fail", "error") and f["resource"] not in KNOWN_DEFECTS]
        assert not bad, f"instance {inst.number}: {[(f['resource'], f['message'][:300]) for f in bad]}"
        for probe, text in KNOWN_DEFECTS.items():
            (known,) = [f for f in findings if f["resource"] == probe]
            assert known["status"] == "fail" and text in known["message"], known
        unexplained = [
            (f["resource"], f["message"])
            for f in findings
            if f["status"] == "skipped"
            and not any(f["resource"].startswith(p) and text in f["message"] for p, text in EXPECTED_SKIPS.items())
        ]
        assert not unexplained, f"instance {inst.number}: skips without their prerequisite: {unexplained}"
        assert sum(f["status"] == "pass" for f in findings) >= 100


MUTATIONS = {  # the host's identity check, broken the two ways the ALB probes exist to catch
    "signature not verified": ("        key.verify(der, ", "        (lambda *a: None)(der, "),
    "signer not pinned": ('    if signer and header.get("signer") != signer:', "    if False:"),
}


def test_the_load_balancer_probes_fail_against_a_host_that_trusts_any_header(
    fleet: Fleet, first: Instance, balancer: Balancer, tmp_path: Path
) -> None:
    """Mutation: the rehearsed host's installed identity check loses its signature check and its signer pin; the
    probes of forged and foreign load-balancer headers must then fail."""
    plugin = "/var/lib/pacsguard/plugin/pacsguard_identity.py"
    original = first.read(plugin)
    mutated = original
    for old, new in MUTATIONS.values():
        assert old in mutated, f"the mutation point {old!r} moved"
        mutated = mutated.replace(old, new)
    operator = verifier.operator_files(fleet.region, tmp_path / "operator")
    target_file = tmp_path / "target.json"
    target_file.write_text(json.dumps(verifier.target(fleet.region, first, operator)))
    try:
        first.run("sh", "-c", f"cat > {plugin}", input=mutated, text=True)
        first.run("systemctl", "restart", "pacsguard-orthanc")
        first.wait_healthy(time.monotonic() + 60)
        rows = verifier.probes(balancer, target_file, tmp_path / "results.jsonl", "load_balancer_header")
    finally:
        first.run("sh", "-c", f"cat > {plugin}", input=original, text=True)
        first.run("systemctl", "restart", "pacsguard-orthanc")
        first.wait_healthy(time.monotonic() + 60)
    outcome = {r["probe"]: r["status"] for r in rows}
    assert outcome == {
        "test_a_load_balancer_header_it_cannot_trust_is_refused[signed by another key]": "fail",
        "test_a_load_balancer_header_it_cannot_trust_is_refused[another load balancer of the region]": "fail",
        "test_a_load_balancer_header_it_cannot_trust_is_refused[unknown key id]": "pass",
        "test_a_load_balancer_header_it_cannot_trust_is_refused[unsigned]": "pass",
    }


def store_until_accepted(balancer: Balancer, modality: dict[str, str], address: str, path: Path) -> bool:
    """A store, retried while the host reconnects to its database (no timing is asserted)."""
    for _ in range(60):
        if dicom(balancer, modality, address, "storescu", str(path)) == 0:
            return True
        time.sleep(0.5)
    return False


def test_two_new_hosts_preparing_the_application_role_at_once_both_succeed(region: Region) -> None:
    """Issue 12: two brand-new hosts both ran CREATE ROLE; the second failed on the duplicate role name and its
    bootstrap stopped. Here one host is mid-way (lock taken, role created, not committed) while the other runs the
    bootstrap's role SQL; it must wait its turn and succeed."""
    role = f"race_app_{int(time.time())}"
    first_host = region.psql_session("-X", "-q", "-v", "ON_ERROR_STOP=1")
    assert first_host.stdin is not None
    first_host.stdin.write(f"BEGIN;\nSELECT pg_advisory_xact_lock({db_app_user.ROLE_LOCK_KEY});\n"
                           f"CREATE ROLE {role} LOGIN;\n")  # fmt: skip
    first_host.stdin.flush()
    mid_way = f"SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE ROLE {role}%' AND state <> 'active'"  # noqa: S608
    region.wait_for_sql(mid_way)
    second_host = region.psql_session("-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "pw=race-password-0123456789",
                                      "-f", "-")  # fmt: skip
    assert second_host.stdin is not None
    second_host.stdin.write(db_app_user.role_sql(role, region.plan["db_name"]))
    second_host.stdin.close()
    # The second host is waiting (on the lock, or on the role name the first one has not committed yet).
    region.wait_for_sql("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    first_host.stdin.write("COMMIT;\n")
    first_host.stdin.close()
    assert first_host.wait(timeout=30) == 0, first_host.stderr.read() if first_host.stderr else ""
    assert second_host.wait(timeout=30) == 0, second_host.stderr.read() if second_host.stderr else ""
    assert region.psql(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}'") == "t"  # noqa: S608


def test_host_nginx_and_audit_logs_reach_the_stacks_log_groups(fleet: Fleet, first: Instance) -> None:
    """Defect 9: nothing shipped the logs the stack's alarms watch. Every line a file holds now arrives, in order
    (Orthanc's own log, the host group's, keeps growing: its later lines are not waited for)."""
    files = (("orthanc-audit", AUDIT_LOG), ("nginx", "/var/log/pacsguard/nginx-access.jsonl"),
             ("host", "/var/log/pacsguard/orthanc.log"))  # fmt: skip
    for kind, path in files:
        expected = [line for line in first.read(path).splitlines() if line.strip()]
        wanted = set(expected)  # a group gathers several files: keep this file's lines

        def shipped(kind: str = kind, wanted: set[str] = wanted) -> list[str]:
            return [m for m in fleet.region.log_messages(kind, first.instance_id) if m in wanted]

        deadline = time.monotonic() + 30  # the shipper polls every 2 s: wait for the content, assert no timing
        while (got := shipped())[: len(expected)] != expected and time.monotonic() < deadline:
            time.sleep(0.5)
        assert expected and got[: len(expected)] == expected, (
            f"{kind}: {len(got)} of {len(expected)} lines of {path} shipped"
        )


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


def test_orthanc_follows_the_rotation_of_its_own_database_secret(
    fleet: Fleet, balancer: Balancer, modality: dict[str, str], tmp_path: Path
) -> None:
    """Issue 12: the application role's password was read once at boot; once its secret rotated, the next reconnect
    (a failover) failed to log in. Each host's timer follows the secret and restarts Orthanc with it."""
    region = fleet.region
    new = region.rotate_app_secret()
    for inst in fleet.running():  # what each host's pacsguard-db-credentials.timer runs
        res = inst.run("python3", BUNDLE_PATH, "db-credentials", "--profile", PROFILE_PATH, capture_output=True,
                       text=True, check=False)  # fmt: skip
        assert res.returncode == 0 and "rotated" in res.stdout, res.stdout + res.stderr
        inst.wait_healthy(time.monotonic() + 60)
        again = inst.run("python3", BUNDLE_PATH, "db-credentials", "--profile", PROFILE_PATH, capture_output=True,
                         text=True, check=False)  # fmt: skip
        assert "credentials current" in again.stdout, again.stdout + again.stderr
        assert new not in inst.read("/etc/orthanc-pacsguard/orthanc.json")  # only the 0640 credentials file holds it
    region.fail_over_database()  # every session drops: Orthanc must log in again, with the rotated password
    before = stored_instances(region)
    for i, inst in enumerate(fleet.running()):
        path, _ = unique_ct(tmp_path, f"after-app-rotation-{i}.dcm")
        assert store_until_accepted(balancer, modality, inst.address, path), f"instance {inst.number} lost its index"
    assert stored_instances(region) == before + len(fleet.running())
    assert region.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'orthanc_app'") != "0"


def test_a_host_rotates_the_application_secret_and_every_host_keeps_serving(
    fleet: Fleet, balancer: Balancer, modality: dict[str, str], tmp_path: Path
) -> None:
    """Issue 12, defect 7: nothing rotated the application role's own secret. A host's credentials timer rotates it
    when due (here an operator's `--rotate-now` over SSM, the same step); the other host keeps serving on its open
    sessions, follows at its next timer run, and after a failover every host logs in with the new password."""
    region = fleet.region
    one, other = fleet.running()[:2]
    app_secret = region.client("secretsmanager")

    def app_password() -> str:
        return json.loads(app_secret.get_secret_value(SecretId=region.plan["db_app_secret_name"])["SecretString"])[
            "password"
        ]

    before = app_password()
    step = ("python3", BUNDLE_PATH, "db-credentials", "--profile", PROFILE_PATH)
    res = one.run(*step, "--rotate-now", capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "rotated" in res.stdout, res.stdout + res.stderr
    new = app_password()
    assert new != before
    one.wait_healthy(time.monotonic() + 60)
    stored = stored_instances(region)
    for i, inst in enumerate((other, one)):  # the host that has not followed yet still serves on its sessions
        path, _ = unique_ct(tmp_path, f"during-rotation-{i}.dcm")
        assert store_until_accepted(balancer, modality, inst.address, path), f"instance {inst.number} stopped"
    res = other.run(*step, capture_output=True, text=True, check=False)  # its timer's next run
    assert res.returncode == 0 and "credentials rotated" in res.stdout, res.stdout + res.stderr
    other.wait_healthy(time.monotonic() + 60)
    again = one.run(*step, capture_output=True, text=True, check=False)
    assert "credentials current" in again.stdout, again.stdout + again.stderr  # not due again: a fresh version
    assert app_password() == new
    region.fail_over_database()
    for i, inst in enumerate((one, other)):
        path, _ = unique_ct(tmp_path, f"after-host-rotation-{i}.dcm")
        assert store_until_accepted(balancer, modality, inst.address, path), f"instance {inst.number} lost its index"
    assert stored_instances(region) == stored + 4


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
