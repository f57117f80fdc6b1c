"""The host bootstrap: one profile in, a configured PACS host out. EC2 user data and `local up` both run it.

python3 host-bundle.zip install --profile /etc/pacsguard/profile.json     (EC2, systemd services)
pacsguard local up                                                         (same configure(), in a netns)
"""

from __future__ import annotations

import argparse
import dataclasses
import grp
import importlib.resources
import json
import os
import pwd
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orthanc_config import (
    aws_api,
    aws_host,
    break_glass,
    db_app_user,
    host_secrets,
    http_stack,
    identity_keys,
    packages,
    pki,
    pki_lifecycle,
    service_user,
    ssm_agent,
    stack_ca,
    viewer,
)
from orthanc_config.cert_inventory import INVENTORY_FILE, Inventory
from orthanc_config.files import RenderedFile
from orthanc_config.layout import HostLayout
from orthanc_config.machine_issuer import LocalIssuer
from orthanc_config.profile import HostProfile, ProfileError
from orthanc_config.render_dicom_edge import CONNECTION_LOG, DicomEdgePaths, EdgeCertificate, render_dicom_stream
from orthanc_config.render_nftables import render_nftables
from orthanc_config.render_nginx import NginxPaths, render_nginx
from orthanc_config.render_orthanc import OrthancPaths, OrthancSecrets, render_orthanc
from orthanc_config.systemd_units import (
    BREAK_GLASS_TIMER,
    DB_CREDENTIALS_TIMER,
    IDENTITY_KEYS,
    LOG_SHIPPER,
    render_units,
)

PLUGIN_FILES = (
    "pacsguard_plugin.py",
    "pacsguard_dicomlog.py",
    "pacsguard_dicomedge.py",
    "pacsguard_guard.py",
    "pacsguard_csrf.py",
    "pacsguard_rbac.py",
    "pacsguard_identity.py",
    "pacsguard_audit.py",
    "pacsguard_syslog.py",
    "pacsguard_machine.py",
    "pacsguard_emergency.py",
    "pacsguard_lockout.py",
)
RENEW_BEFORE_DAYS = 30

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Configured:
    layout: HostLayout
    secrets: host_secrets.HostSecrets
    files: list[RenderedFile]


def _gid(group: str) -> int:
    return grp.getgrnam(group).gr_gid


def _uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def make_dir(path: Path, mode: int, owner: str = "root", group: str = "root") -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, _uid(owner), _gid(group))
    os.chmod(path, mode)


def prepare_storage(layout: HostLayout) -> None:
    if layout.profile.efs:
        return  # the access point owns the root directory and enforces its user: never chown or chmod it
    make_dir(layout.storage, 0o750, "orthanc", "orthanc")


def issue_server_cert(layout: HostLayout, ca: pki.Issued, addresses: tuple[str, ...]) -> None:
    p = layout.profile
    pki.issue(ca, layout.pki, "server", p.server_names[0], days=p.cert_validity_days, server=True,
              dns_names=p.server_names, addresses=addresses, key_gid=_gid("orthanc"))  # fmt: skip


def ensure_pki(layout: HostLayout, say: Progress, *, database_tls: bool) -> Inventory:
    """The CA, the host's certificates (ECDSA and RSA server, the PACS's outbound client), one certificate per
    modality, and the CRL. Existing certificates are kept until they come within RENEW_BEFORE_DAYS of expiry."""
    p = layout.profile
    ca_cert = layout.ca[0]
    if not ca_cert.exists() or pki.expires_within(ca_cert, RENEW_BEFORE_DAYS):
        say("PKI: creating the certificate authority")
        pki.create_ca(layout.pki, f"PACSGuard CA {p.name}", p.cert_validity_days * 5)
    ca = pki_lifecycle.LocalCa(layout.pki)
    inventory = Inventory.load(layout.pki)
    host_certs = {
        "server": (layout.server, dict(server=True, key_gid=_gid("orthanc"))),
        "server-rsa": (layout.server_rsa, dict(server=True, key_type="rsa")),
        "pacs-client": (layout.relay_client, dict(server=False)),
    }
    for name, ((cert, _key), options) in host_certs.items():
        if not cert.exists() or pki.expires_within(cert, RENEW_BEFORE_DAYS):
            say(f"PKI: issuing the host certificate {name}")
            common = p.dicom_aet if name == "pacs-client" else p.server_names[0]
            sans = {} if name == "pacs-client" else dict(dns_names=p.server_names, addresses=p.server_addresses)
            issued = pki.issue(
                ca.signing_pair(), layout.pki, name, common, days=p.cert_validity_days, **sans, **options
            )
            inventory.add(issued, name, "server" if options["server"] else "client")
        elif not any(r.cert == str(cert) for r in inventory.records):  # issued before the inventory existed
            inventory.add(pki.Issued(cert, _key), name, "server" if options["server"] else "client")
    if database_tls and not layout.database_tls[0].exists():
        make_dir(layout.database_tls_dir, 0o750, "root", "postgres")
        pki.issue(
            ca.signing_pair(),
            layout.database_tls_dir,
            "postgres",
            "localhost",
            days=p.cert_validity_days,
            server=True,
            dns_names=("localhost",),
            addresses=("127.0.0.1",),
            key_gid=_gid("postgres"),
        )
    layout.modality_dir.mkdir(mode=0o700, exist_ok=True)
    for m in p.modalities:
        # Only a modality that never had one: a revoked or expired certificate is replaced by `pki`, not here.
        if not any(r.name == m.aet for r in inventory.records):
            say(f"PKI: issuing the certificate of modality {m.aet}")
            pki_lifecycle.issue_modality(layout, ca, inventory, m.aet)
    if p.modalities and not inventory.find(pki_lifecycle.REVOCATION_PROBE):
        say("PKI: issuing and revoking a probe certificate (verify proves the CRL with it)")
        pki_lifecycle.issue_revocation_probe(layout, ca, inventory)
    inventory.save()
    pki_lifecycle.write_crl(layout, ca, inventory)
    return inventory


def edge_certificates(inventory: Inventory) -> tuple[EdgeCertificate, ...]:
    return tuple(EdgeCertificate(r.name, r.fingerprint) for r in inventory.active() if r.kind == "modality")


def render_edge_nginx(
    layout: HostLayout, inventory: Inventory, gateway_password: str, listen: tuple[str, ...]
) -> list[RenderedFile]:
    """nginx.conf: HTTPS and the DICOM edge. Re-rendered (then reloaded) after every certificate change."""
    server_cert, server_key = layout.server
    dicom = render_dicom_stream(
        layout.profile,
        DicomEdgePaths(
            str(server_cert),
            str(server_key),
            str(layout.server_rsa[0]),
            str(layout.server_rsa[1]),
            str(layout.ca[0]),
            str(layout.crl),
            str(layout.relay_client[0]),
            str(layout.relay_client[1]),
            str(layout.log_dir),
            str(layout.audit_socket),
        ),
        edge_certificates(inventory),
        listen,
    )
    return render_nginx(
        layout.profile,
        NginxPaths(
            str(layout.nginx_dir),
            str(server_cert),
            str(server_key),
            str(layout.nginx_dir / "nginx.pid"),
            str(layout.log_dir),
            str(layout.nginx_temp),
            str(layout.audit_socket),
            str(layout.web_root) if layout.profile.viewer else "",
        ),
        gateway_password,
        listen,
        dicom,
    )


def _issued_by(cert: Path, ca_cert: Path) -> bool:
    return pki.load_cert(cert).issuer == pki.load_cert(ca_cert).subject


def ensure_stack_pki(layout: HostLayout, say: Progress) -> None:
    """EC2: the stack's CA from Secrets Manager; this host's own server certificate issued from it."""
    p = layout.profile
    client = aws_api.Client(p.region)
    doc = stack_ca.load_or_create(client, p.stack_ca_secret, f"PACSGuard CA {p.name}", say)
    ca_cert, _ = layout.ca
    if not ca_cert.exists() or ca_cert.read_text() != doc["ca_cert"]:
        ca_cert.write_text(doc["ca_cert"])
        os.chmod(ca_cert, 0o644)
    server_cert, _ = layout.server
    renew = (
        not server_cert.exists()
        or pki.expires_within(server_cert, RENEW_BEFORE_DAYS)
        or not _issued_by(server_cert, ca_cert)
    )
    addresses = (*p.server_addresses, aws_api.instance_address())
    with stack_ca.CaKey(doc, ca_cert, layout.secrets_dir) as ca:
        doc = stack_ca.issue_modalities(
            client, p.stack_ca_secret, doc, ca, [m.aet for m in p.modalities], p.cert_validity_days, say
        )
        if renew:
            say("PKI: issuing this host's server certificate from the stack CA")
            issue_server_cert(layout, ca, addresses)
        # The DICOM edge's RSA server certificate (TLS 1.2 modalities check it against the host's address too)
        # and the PACS's outbound client certificate, and a CRL (revocation through the stack CA is not built
        # yet: it lists nothing).
        rsa = dict(server=True, key_type="rsa", dns_names=p.server_names, addresses=addresses)
        for name, cert, options in (
            ("server-rsa", layout.server_rsa[0], rsa),
            ("pacs-client", layout.relay_client[0], dict(server=False)),
        ):
            if renew or not cert.exists() or not _issued_by(cert, ca_cert):
                common = p.dicom_aet if name == "pacs-client" else p.server_names[0]
                pki.issue(ca, layout.pki, name, common, days=p.cert_validity_days, **options)
        pki.write_crl(ca, layout.crl, {})
    # Hosts keep the modalities' certificates (public) only; their keys stay in Secrets Manager for the operator.
    layout.modality_dir.mkdir(mode=0o755, exist_ok=True)
    for aet, pair in doc["modalities"].items():
        (layout.modality_dir / f"{aet}.crt").write_text(pair["cert"])


def stack_edge_inventory(layout: HostLayout) -> Inventory:
    """EC2: the modality certificates the stack CA issued (public parts on the host) admitted by the edge."""
    inventory = Inventory(layout.pki / INVENTORY_FILE, [])
    for m in layout.profile.modalities:
        cert = layout.modality_dir / f"{m.aet}.crt"
        if cert.exists():
            inventory.add(pki.Issued(cert, cert.with_suffix(".key")), m.aet, "modality")
    return inventory


def ensure_jwt_keys(layout: HostLayout) -> None:
    """Local mode signs its own identity tokens, as the load balancer does on AWS."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if layout.jwt_private_key.exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    pki.write_key(layout.jwt_private_key, key)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    layout.jwt_public_key.write_bytes(public)
    os.chmod(layout.jwt_public_key, 0o644)


def _as_app_user(profile: HostProfile) -> HostProfile:
    """Orthanc connects as the application role when there is one, never as the master user."""
    if not profile.database.app_user:
        return profile
    return dataclasses.replace(profile, database=dataclasses.replace(profile.database, user=profile.database.app_user))


def plugin_config(layout: HostLayout, roles: dict[str, str]) -> RenderedFile:
    p = layout.profile
    section = {
        "PACSGuard": {
            "PluginDir": str(layout.plugin_dir),
            "Roles": roles,
            "AuditLog": str(layout.audit_log),
            "Identity": p.identity,
            "JwtPublicKeyFile": str(layout.jwt_public_key) if "jwt" in p.identity and not p.jwt_key_url else "",
            "JwtSigner": p.jwt_signer,
            # AWS: the host's identity-key service, the one process allowed out to the key endpoints.
            "JwtKeyUrl": identity_keys.plugin_location(p.jwt_key_url),
            "AuditSocket": str(layout.audit_socket),
            "OrthancLog": str(layout.orthanc_log),
            "SessionTimeoutMinutes": p.session_timeout_minutes,
            # No AlarmLog for the plugin: the audit sink (root) writes the alarm for each emergency record.
            "Emergency": {"WindowFile": str(layout.break_glass_window)},
            "Machine": {
                "Issuer": p.machine_issuer,
                # AWS: the identity-key service (it keeps the pool's JWKS current); local: the local issuer's file.
                "Jwks": (
                    identity_keys.plugin_location(p.machine_jwks) if p.mode == "aws" else str(layout.machine_jwks_file)
                )
                if p.machine_clients
                else "",
                "ResourceServer": p.machine_resource_server,
                "Clients": list(p.machine_clients),
            },
            "DicomEdgeLog": str(layout.log_dir / CONNECTION_LOG),
            "DicomRelayPort": p.dicom_relay_port,
        }
    }
    return RenderedFile(
        str(layout.config_dir / "pacsguard.json"), json.dumps(section, indent=2), 0o640, "root", "orthanc"
    )


def audit_sink_config(layout: HostLayout) -> RenderedFile:
    """What the audit sink (root) reads at start: where the trail and Orthanc's output go, and forwarding."""
    p = layout.profile
    config = {
        "trail": str(layout.audit_log),
        "audit_socket": str(layout.audit_socket),
        "orthanc_socket": str(layout.orthanc_output_socket),
        "orthanc_log": str(layout.orthanc_log),
        "relay_port": str(p.dicom_relay_port),
        "forward": dict(p.audit_forward),
        "orthanc_credentials": str(layout.config_dir / "credentials.json"),
        "alarm_log": str(layout.alarm_log),
    }
    return RenderedFile(str(layout.audit_sink_config), json.dumps(config, indent=2), 0o600, "root", "root")


def install_plugin(layout: HostLayout) -> None:
    """Root-owned and read-only to Orthanc: a compromised orthanc user cannot rewrite its own guard."""
    make_dir(layout.plugin_dir, 0o755)
    # Read through importlib.resources: on EC2 the package is inside host-bundle.zip, not a directory.
    source = importlib.resources.files("orthanc_config") / "plugin"
    for name in PLUGIN_FILES:
        target = layout.plugin_dir / name
        target.write_bytes((source / name).read_bytes())
        os.chown(target, 0, 0)
        os.chmod(target, 0o644)


def configure(
    profile: HostProfile,
    *,
    say: Progress = print,
    install_packages: bool = True,
    listen: tuple[str, ...] = ("0.0.0.0",),  # noqa: S104 (EC2: the security group and nftables decide who reaches it)
) -> Configured:
    """Everything but starting services: packages, users, directories, secrets, PKI, rendered files."""
    layout = HostLayout(profile)
    service_user.ensure(profile, say)  # before the package would create it with another uid
    if install_packages:
        say("Packages: checking the Debian packages of a PACS host")
        packages.install()
    local = profile.mode == "local"
    say("Directories: creating with their owners and modes")
    make_dir(layout.state, 0o755)
    make_dir(layout.secrets_dir, 0o700)
    make_dir(layout.config_dir, 0o750, "root", "orthanc")
    if not local:
        # /etc/pacsguard holds the PKI and the RDS CA bundle Orthanc reads: root-owned, traversable by orthanc only.
        make_dir(layout.host_config_dir, 0o750, "root", "orthanc")
    make_dir(layout.pki, 0o750, "root", "orthanc")
    prepare_storage(layout)
    # The trail and every log are root's: the orthanc user may read them, never rename or rewrite one.
    make_dir(layout.log_dir, 0o750, "root", "orthanc")
    make_dir(layout.run_dir, 0o755)
    make_dir(layout.nginx_dir, 0o700)
    # nginx workers (www-data) buffer large responses here: it must not sit inside the root-only nginx dir.
    make_dir(layout.nginx_temp, 0o700, "www-data", "root")
    layout.jwt_public_key.parent.mkdir(parents=True, exist_ok=True)

    say("Secrets: loading (existing passwords are kept)")
    if local:
        secrets = host_secrets.ensure_local_secrets(
            profile, layout.credentials_file, Path(profile.database.password_source.removeprefix("file:"))
        )
    else:
        secrets = host_secrets.aws_secrets(profile, layout.secrets_dir / "gateway-password", say)
    if local:
        # The sealed break-glass user exists in Orthanc; the plugin admits it only inside an open window.
        sealed = {"password": break_glass.ensure_sealed(layout), "role": "emergency"}
        secrets = dataclasses.replace(secrets, users={**secrets.users, break_glass.BREAK_GLASS_USER: sealed})
    if profile.stack_ca_secret:
        ensure_stack_pki(layout, say)
        inventory = stack_edge_inventory(layout)
    else:
        inventory = ensure_pki(layout, say, database_tls=local)
    if "jwt" in profile.identity and local:
        ensure_jwt_keys(layout)
    if local and profile.machine_clients:
        LocalIssuer(profile.machine_issuer, layout.machine_issuer_key, layout.machine_jwks_file).ensure()
    if identity_keys.needed(profile):
        identity_keys.ensure_user(say)  # before the firewall that names it is loaded

    library_dir = http_stack.prepare(layout.library_dir)
    if library_dir is None:
        say("GDCM: left off (this civetweb build is not the one its stack fix was made for): no JPEG 2000 over HTTP")
    say("Rendering Orthanc, plugin, nginx and firewall configuration")
    server_cert, server_key = layout.server
    files = render_orthanc(
        _as_app_user(profile),
        OrthancPaths(
            str(server_cert),
            str(server_key),
            str(layout.ca[0]),
            str(layout.plugin_dir / PLUGIN_FILES[0]),
            str(library_dir or ""),
        ),
        OrthancSecrets(secrets.db_password, secrets.http_users()),
    )
    files.append(plugin_config(layout, secrets.roles()))
    files.append(audit_sink_config(layout))
    files += render_edge_nginx(layout, inventory, secrets.gateway_password, listen)
    files.append(RenderedFile(str(layout.nft_file), render_nftables(profile), 0o600))
    for f in files:
        f.write()
    install_plugin(layout)
    if profile.viewer:
        say(f"Viewer: OHIF {viewer.OHIF_VERSION} (pinned, hash-checked) at {viewer.VIEWER_PATH}")
        make_dir(layout.web_root, 0o755)
        viewer.ensure(layout.viewer_dir)
    # nginx (root) would create its logs 0644: they name users and paths, so create them 0640 first.
    for log_name in ("nginx-access.jsonl", "auth-failures.jsonl", "nginx-error.log", CONNECTION_LOG, "orthanc.log"):
        log_file = layout.log_dir / log_name
        log_file.touch(exist_ok=True)
        os.chown(log_file, 0, _gid("orthanc"))
        os.chmod(log_file, 0o640)
    # Root alone appends alarms (the audit sink for emergency requests, the break-glass commands): Orthanc reads.
    layout.alarm_log.touch(exist_ok=True)
    os.chown(layout.alarm_log, 0, _gid("orthanc"))
    os.chmod(layout.alarm_log, 0o640)
    return Configured(layout, secrets, files)


def start_system_services(configured: Configured, say: Progress = print) -> None:
    """EC2: systemd units for the firewall, Orthanc and nginx, enabled so they survive a reboot."""
    for unit in render_units(configured.layout):
        unit.write()
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    names = ["pacsguard-firewall", "pacsguard-audit", "pacsguard-orthanc", "pacsguard-nginx"]
    if identity_keys.needed(configured.layout.profile):
        names.insert(1, IDENTITY_KEYS)
    if configured.layout.profile.break_glass_secret:
        names.append(BREAK_GLASS_TIMER)
    if configured.layout.profile.log_groups:
        names.append(LOG_SHIPPER)
    if configured.layout.profile.database.app_user:
        names.append(DB_CREDENTIALS_TIMER)
    for name in names:
        say(f"Services: starting {name}")
        subprocess.run(["systemctl", "enable", "--now", name], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pacsguard-host", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help="configure this host from a profile and start its services")
    inst.add_argument("--profile", required=True, type=Path)
    inst.add_argument("--no-packages", action="store_true", help="skip the apt step")
    keys = sub.add_parser("identity-keys", help="serve the identity keys to the plugin (systemd starts it)")
    keys.add_argument("--alb-key-url", default="")
    keys.add_argument("--jwks-url", default="")
    keys.add_argument("--socket", default=str(identity_keys.SOCKET))
    keys.add_argument("--cache-dir", default=str(identity_keys.CACHE_DIR))
    keys.add_argument("--user", default="")
    sink = sub.add_parser("audit-sink", help="run the audit sink (systemd starts it)")
    sink.add_argument("--config", required=True)
    launch = sub.add_parser("run-orthanc", help="start Orthanc with its output connected to the audit sink")
    launch.add_argument("--config-dir", required=True)
    launch.add_argument("--output-socket", required=True)
    launch.add_argument("--library-dir")
    sync = sub.add_parser("break-glass-sync", help="follow the sealed secret's emergency window tags (timer)")
    sync.add_argument("--profile", required=True, type=Path)
    creds = sub.add_parser("db-credentials", help="follow the application role's rotated secret (timer)")
    creds.add_argument("--profile", required=True, type=Path)
    creds.add_argument("--rotate-now", action="store_true", help="rotate the secret now, not when it is due")
    ship = sub.add_parser("ship-logs", help="follow the host's logs into its CloudWatch log groups")
    ship.add_argument("--profile", required=True, type=Path)
    ship.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "identity-keys":
        return identity_keys.main(
            ["--alb-key-url", args.alb_key_url, "--jwks-url", args.jwks_url, "--socket", args.socket,
             "--cache-dir", args.cache_dir, "--user", args.user]
        )  # fmt: skip
    if args.command == "audit-sink":
        from orthanc_config import audit_sink

        return audit_sink.main(["--config", args.config])
    if args.command == "run-orthanc":
        from orthanc_config import orthanc_launcher

        library = ["--library-dir", args.library_dir] if args.library_dir else []
        return orthanc_launcher.main(["--config-dir", args.config_dir, "--output-socket", args.output_socket, *library])
    if args.command == "ship-logs":
        from orthanc_config import log_shipper

        return log_shipper.main(["--profile", str(args.profile), *(["--once"] if args.once else [])])
    try:
        profile = HostProfile.load(args.profile)
        if args.command == "break-glass-sync":
            is_open = break_glass.sync_window(
                HostLayout(profile), break_glass.secret_tags(profile.break_glass_secret, profile.region)
            )
            print(f"pacsguard-host: emergency window {'open' if is_open else 'closed'}")
            return 0
        if args.command == "db-credentials":
            layout = HostLayout(profile)
            rotated = db_app_user.follow(
                profile,
                layout.config_dir / "credentials.json",
                print,
                lambda: subprocess.run(["systemctl", "restart", "pacsguard-orthanc"], check=True),
                rotate_now=args.rotate_now,
            )
            print(f"pacsguard-host: database credentials {'rotated' if rotated else 'current'}")
            return 0
        if profile.mode == "aws":
            aws_host.remember_endpoint()
            aws_host.prepare(profile, print)
        configured = configure(profile, install_packages=not args.no_packages)
        if profile.mode == "aws":
            start_system_services(configured)
            ssm_agent.ensure(profile, print)
    except (
        ProfileError,
        host_secrets.SecretsError,
        aws_host.AwsHostError,
        break_glass.BreakGlassError,
        stack_ca.StackCaError,
        ssm_agent.SsmAgentError,
        aws_api.AwsError,
        viewer.ViewerError,
        db_app_user.DatabaseUserError,
        OSError,
    ) as exc:
        print(f"pacsguard-host: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
