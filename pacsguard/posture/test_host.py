"""The host itself, with testinfra: packages, the service user, the firewall, file modes, configuration."""

from __future__ import annotations

import json
import stat

import pytest
import testinfra

from pacsguard.posture.conftest import in_netns, need

control = pytest.mark.control
DEFAULT_PASSWORDS = {"orthanc", "admin", "password", "changeme", "my_password", "secret", ""}
SECRET_MARKERS = ("PRIVATE KEY", '"Password"', '"password"', "RegisteredUsers")


@control("HOST-PACKAGES")
def test_pacs_packages_and_version(host, target: dict) -> None:
    for pkg in ("orthanc", "orthanc-python", "nginx-light", "libnginx-mod-stream", "nftables"):
        assert host.package(pkg).is_installed, f"{pkg} is not installed"
    installed = host.package("orthanc").version
    assert installed.startswith(target.get("orthanc_version", "")), (
        f"orthanc {installed}, profile targets {target.get('orthanc_version')}"
    )


@control("HOST-SERVICE-USER")
def test_orthanc_runs_as_its_own_user(host) -> None:
    procs = host.process.filter(comm="Orthanc")
    assert procs, "no Orthanc process"
    assert {p.user for p in procs} == {"orthanc"}, f"Orthanc runs as {[p.user for p in procs]}"


@control("HOST-FIREWALL")
def test_firewall_drops_by_default_and_admits_neither_8042_nor_5432(host, target: dict) -> None:
    ruleset = host.run(in_netns(target, "nft list ruleset")).stdout
    assert "hook input priority filter; policy drop;" in ruleset or "policy drop" in ruleset, "input policy is not drop"
    # Inbound only: a host whose database is elsewhere (RDS) has an egress rule to 5432, which admits nothing.
    accepts = [line for line in _input_chains(ruleset) if "accept" in line and "dport" in line]
    assert not [a for a in accepts if "8042" in a or "5432" in a], accepts


def _input_chains(ruleset: str) -> list[str]:
    """The rule lines of every chain hooked on input (nft prints a chain's rules between its braces)."""
    lines, inside, out = ruleset.splitlines(), False, []
    for i, line in enumerate(lines):
        if line.strip().startswith("chain "):
            inside = i + 1 < len(lines) and "hook input" in lines[i + 1]
        elif inside and line.strip() == "}":
            inside = False
        elif inside:
            out.append(line)
    return out


@control("PACS-DICOM-EXPOSURE")
def test_dicom_port_admitted_only_from_modality_networks(host, target: dict) -> None:
    ruleset = host.run(in_netns(target, "nft list ruleset")).stdout
    rules = [line for line in ruleset.splitlines() if f"dport {target['dicom']['port']}" in line and "accept" in line]
    assert rules and all("saddr" in r for r in rules), f"DICOM port accepted from anywhere: {rules}"
    assert not [r for r in rules if "0.0.0.0/0" in r or "::/0" in r]


def _mode(host, path: str) -> tuple[int, str, str]:
    f = host.file(path)
    assert f.exists, f"{path} is missing"
    return f.mode, f.user, f.group


@control("HOST-FILE-PERMISSIONS")
def test_credentials_keys_and_audit_trail_modes(host, target: dict) -> None:
    host_files = {
        need(target, "orthanc_credentials"): (0o640, "root", "orthanc"),
        need(target, "audit_log"): (0o640, "root", "orthanc"),
    }
    # The users' credentials, the CA key and the modality keys: the host's own on a local stack; on an EC2 host
    # they are the operator's copies (the host keeps neither CA nor modality keys), checked where they are.
    keys = {
        need(target, "credentials_file"): (0o600, "root", None),
        need(target, "ca_key"): (0o600, "root", None),
        **{m["key"]: (0o600, "root", None) for m in target["modalities"]},
    }
    keys_host = testinfra.get_host("local://") if target.get("operator_files_local") else host
    wrong = []
    for on, path, (mode, user, group) in [
        *((host, p, e) for p, e in host_files.items()),
        *((keys_host, p, e) for p, e in keys.items()),
    ]:
        got_mode, got_user, got_group = _mode(on, path)
        if got_mode & 0o007 or got_mode > mode or got_user != user or (group and got_group != group):
            wrong.append(f"{path}: {oct(got_mode)} {got_user}:{got_group}")
    assert not wrong, wrong


@control("HOST-FILE-PERMISSIONS")
def test_only_postgres_and_the_orthanc_group_reach_the_database_socket(host, target: dict) -> None:
    """The socket's directory is the index's only way in (the socket file is open): postgres's, entered by the
    orthanc group, by nobody else."""
    path = need(target, "database_socket_dir")
    mode, user, group = _mode(host, path)
    assert (user, group) == ("postgres", "orthanc") and not mode & 0o027, f"{path}: {oct(mode)} {user}:{group}"


@control("HOST-FILE-PERMISSIONS")
def test_no_secret_in_a_world_readable_file(host, target: dict) -> None:
    roots = {target[k] for k in ("pki_dir", "config_dir") if k in target}
    leaks = []
    for root in roots:
        for path in host.run(f"find {root} -type f -perm -o+r").stdout.split():
            content = host.file(path).content_string
            if any(m in content for m in SECRET_MARKERS):
                leaks.append(path)
    assert not leaks, f"world-readable secrets: {leaks}"


@control("PACS-NO-DEFAULT-CREDENTIALS")
def test_no_orthanc_user_has_a_default_or_short_password(host, target: dict) -> None:
    users = json.loads(host.file(need(target, "orthanc_credentials")).content_string).get("RegisteredUsers", {})
    weak = [u for u, pw in users.items() if pw in DEFAULT_PASSWORDS or pw == u or len(pw) < 16]
    assert not weak, f"users with default or short passwords: {weak}"


@control("PACS-AE-ALLOWLIST")
def test_rendered_orthanc_keeps_every_always_allow_off(host, target: dict) -> None:
    cfg = json.loads(host.file(need(target, "orthanc_config")).content_string)
    on = [k for k, v in cfg.items() if k.startswith("DicomAlwaysAllow") and v]
    assert not on, f"Orthanc admits any AE for: {on}"
    assert cfg.get("DicomCheckModalityHost") and cfg.get("DicomCheckCalledAet")


@control("PACS-DANGEROUS-FEATURES")
def test_rendered_orthanc_keeps_dangerous_features_off(host, target: dict) -> None:
    cfg = json.loads(host.file(need(target, "orthanc_config")).content_string)
    on = [
        k
        for k in (
            "WebDavEnabled",
            "WebDavUploadAllowed",
            "ExecuteLuaEnabled",
            "RestApiWriteToFileSystemEnabled",
            "HttpDescribeErrors",
        )
        if cfg.get(k)
    ]
    assert not on, f"enabled: {on}"


@control("PACS-HTTP-HARDENING")
def test_nginx_serves_only_tls_1_2_and_1_3(host, target: dict) -> None:
    conf = host.file(need(target, "nginx_config")).content_string
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf and "server_tokens off;" in conf
    assert stat.S_IMODE(host.file(need(target, "nginx_config")).mode) & 0o077 == 0


@control("HOST-FIREWALL")
def test_only_expected_sockets_listen(host, target: dict) -> None:
    """Every listener is one the PACS needs; a database on the host listens on its Unix socket only (or, on a host
    that names no socket, on loopback only)."""
    lines = host.run(in_netns(target, "ss -Hltn")).stdout.splitlines()
    listeners = {line.split()[3] for line in lines if line.strip()}
    expected_ports = {
        "443",
        str(target["dicom"]["port"]),
        str(target.get("orthanc_http_port", 8042)),
        str(target.get("database_port", 5432)),
    }
    # Behind the DICOM edge: Orthanc's plain DICOM port (nftables admits only nginx) and nginx's relays.
    inner = {str(target[k]) for k in ("orthanc_dicom_port", "dicom_relay_port") if k in target}
    unexpected = [addr for addr in listeners if addr.rsplit(":", 1)[1] not in expected_ports | inner]
    assert not unexpected, f"unexpected listeners: {unexpected}"
    relays = [a for a in listeners if a.rsplit(":", 1)[1] == str(target.get("dicom_relay_port"))]
    assert all(a.startswith("127.") for a in relays), f"DICOM relays off loopback: {relays}"
    database = [addr for addr in listeners if addr.endswith(f":{target.get('database_port', 5432)}")]
    if target.get("database_remote"):  # RDS: nothing on the host listens on the database port
        assert not database, f"a database listens on the host: {database}"
        return
    if target.get("database_socket_dir"):  # the index over a Unix socket: no TCP path to the database at all
        assert not database, f"the database also listens on TCP: {database}"
        return
    assert database and all(a.startswith(("127.0.0.1:", "[::1]:")) for a in database), (
        f"PostgreSQL listens on {database}"
    )
