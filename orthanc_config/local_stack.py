"""`pacsguard local up|status|down`: the whole hardened PACS on this machine, in its own network namespace.

Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking space), never from 10/8, 172.16/12 or 192.168/16,
so the local stack cannot collide with a real network. The firewall lives inside the namespace only.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orthanc_config import local_postgres, netns, viewer
from orthanc_config.bootstrap import Configured, configure
from orthanc_config.cert_inventory import INVENTORY_FILE
from orthanc_config.host_secrets import SecretsError, read_password_source
from orthanc_config.layout import HostLayout
from orthanc_config.local_defaults import DEFAULT_NAME, DEFAULT_STATE, DEFAULT_SUBNET
from orthanc_config.machine_issuer import LOCAL_CLIENTS
from orthanc_config.pki_lifecycle import REVOCATION_PROBE
from orthanc_config.profile import Database, HostProfile, Modality, ProfileError
from orthanc_config.render_dicom_edge import CONNECTION_LOG

SYSTEM_PYTHON = "/usr/bin/python3"  # host code runs under the host's Debian Python, never the venv
NGINX_BIN = "/usr/sbin/nginx"
STATUS_FILE = "status.json"
ADDED_MODALITIES_FILE = "modalities.json"
# Two sample modalities: an acquisition device (echo, store) and a workstation (echo, find, get, move).
SAMPLE_MODALITIES = (("MODALITY_CT", ("echo", "store")), ("WORKSTATION_1", ("echo", "find", "get", "move")))

Progress = Callable[[str], None]


class LocalStackError(Exception):
    """The local stack could not be brought up or inspected; the message says what to do."""


@dataclass(frozen=True)
class LocalOptions:
    name: str = DEFAULT_NAME
    state_dir: Path = DEFAULT_STATE
    subnet: str = DEFAULT_SUBNET
    install_packages: bool = True
    # RFC 5425 forwarding of the audit trail: {"host", "port", "ca", optional "cert", "key", "server_name"}
    audit_forward: tuple[tuple[str, str], ...] = ()

    @property
    def link(self) -> netns.Link:
        return netns.Link.for_name(self.name, self.subnet)


def added_modalities(state_dir: Path) -> tuple[Modality, ...]:
    """Modalities added with `pacsguard pki issue`, after the two samples (their order fixes their edge address)."""
    path = state_dir / ADDED_MODALITIES_FILE
    if not path.exists():
        return ()
    return tuple(Modality(m["aet"], m["host"], m["port"], tuple(m["rights"])) for m in json.loads(path.read_text()))


def local_profile(opts: LocalOptions) -> HostProfile:
    link, state = opts.link, opts.state_dir
    net = f"{opts.subnet}/24"
    samples = tuple(Modality(aet, link.host_addresses[0], 11112, rights) for aet, rights in SAMPLE_MODALITIES)
    return HostProfile(
        name=f"pacsguard-{opts.name}",
        mode="local",
        server_names=("localhost", f"{opts.name}.pacsguard.test"),
        server_addresses=(link.ns_address, "127.0.0.1"),
        https_cidrs=(net,),
        modality_cidrs=(net,),
        # Every modality is bound to the machine's first address on the link (DicomCheckModalityHost).
        modalities=samples + added_modalities(state),
        # The index over the cluster's Unix socket (local_postgres): no TCP listener, no network path to it.
        database=Database(
            host=f"{state}/{local_postgres.SOCKET_DIR}",
            port=5432,
            name="orthanc",
            user="orthanc",
            password_source=f"file:{state}/secrets/db-password",
        ),
        identity="basic+jwt",
        jwt_public_key_file=f"{state}/jwt-public.pem",
        machine_issuer=f"https://{link.ns_address}/pacsguard-issuer",
        machine_jwks=f"{state}/machine-jwks.json",
        machine_clients=tuple(LOCAL_CLIENTS),
        config_dir=f"{state}/orthanc",
        pki_dir=f"{state}/pki",
        state_dir=str(state),
        storage_dir=f"{state}/storage",
        log_dir=f"{state}/log",
        audit_forward=dict(opts.audit_forward),
    )


def _pid_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    # A process that started Orthanc itself (`up`, then a restart in the same benchmark or test) holds it as a
    # child: once it exits it stays a zombie, which kill(0) still finds, until reaped here.
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:  # not our child: kill(0) found it running
        return True


def _wait_port(host: str, port: int, timeout: float, what: str, alive: Callable[[], bool] = lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise LocalStackError(f"{what} exited during start-up; see its log in the state dir")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise LocalStackError(f"{what} did not open {host}:{port} within {timeout:.0f}s; see the logs in the state dir")


def _https_get(url: str, ca: Path, user: str, password: str, timeout: float = 5) -> int:
    import base64

    ctx = ssl.create_default_context(cafile=str(ca))
    if not url.startswith("https://"):
        raise ValueError(f"refusing a non-HTTPS URL: {url}")
    req = urllib.request.Request(  # noqa: S310 (checked above: https only)
        url, headers={"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:  # noqa: S310 (https only)
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def spawn_orthanc(prefix: list[str], config_dir: Path, output_socket: Path, library_dir: Path | None = None) -> int:
    """Start an Orthanc process as user orthanc, its stdout and stderr connected to the audit sink; its pid.

    Through the launcher, as on EC2: the process that connects the sink's output socket then becomes Orthanc, so
    the sink knows the server's pid and takes the orthanc user's records from that process only (`ip netns exec`
    replaces itself, so the pid is the same). `library_dir` holds the deeper-stack civetweb GDCM needs."""
    import orthanc_config

    source = str(Path(orthanc_config.__file__).resolve().parent.parent)
    command = [*prefix, SYSTEM_PYTHON, "-m", "orthanc_config.orthanc_launcher", "--config-dir", str(config_dir),
               "--output-socket", str(output_socket)]  # fmt: skip
    if library_dir is not None:
        command += ["--library-dir", str(library_dir)]
    # A clean environment: libpq would otherwise look for root's client certificate in $HOME. The launcher drops
    # PYTHONPATH before it becomes Orthanc.
    env = {"HOME": "/var/lib/orthanc", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "PYTHONPATH": source, "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True, env=env, cwd="/")
    return proc.pid


def _start_orthanc(layout: HostLayout, prefix: list[str]) -> None:
    pid = spawn_orthanc(prefix, layout.config_dir, layout.orthanc_output_socket, layout.library_dir)
    (layout.state / "orthanc.pid").write_text(f"{pid}\n")


def _start_audit_sink(layout: HostLayout, prefix: list[str]) -> None:
    """The audit sink under the host's Debian Python, as on EC2; Orthanc and nginx need its sockets."""
    import orthanc_config

    source = str(Path(orthanc_config.__file__).resolve().parent.parent)
    layout.audit_socket.unlink(missing_ok=True)
    with open(layout.log_dir / "audit-sink.log", "ab") as log:
        proc = subprocess.Popen(
            [*prefix, SYSTEM_PYTHON, "-m", "orthanc_config.audit_sink", "--config", str(layout.audit_sink_config)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, cwd="/",
            env={"PYTHONPATH": source, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                 "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
    (layout.state / "audit-sink.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 10
    while not (layout.audit_socket.exists() and layout.orthanc_output_socket.exists()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise LocalStackError(f"the audit sink did not start; see {layout.log_dir}/audit-sink.log")
        time.sleep(0.05)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def is_up(opts: LocalOptions) -> bool:
    layout = HostLayout(local_profile(opts))
    return (
        netns.exists(opts.name)
        and _pid_alive(layout.state / "orthanc.pid")
        and _pid_alive(layout.state / "audit-sink.pid")
        and _pid_alive(layout.nginx_dir / "nginx.pid")
        and (layout.database_data / "postmaster.pid").exists()
    )


def up(opts: LocalOptions, say: Progress = print) -> dict:
    """Bring the stack up (or confirm it is up). Idempotent: secrets, PKI and data are kept."""
    if os.geteuid() != 0:
        raise LocalStackError(
            "pacsguard local up needs root: it creates a network namespace, service users and a firewall"
        )
    if is_up(opts):
        say("Already running: nothing to do")
        return status(opts)
    _check_reachable_by_services(opts.state_dir)
    profile = local_profile(opts)
    link = opts.link
    if netns.exists(opts.name):
        say("Found a half-started stack: stopping its processes first")
        _stop_processes(opts)
    try:
        return _bring_up(opts, profile, say)
    except (
        netns.NetnsError,
        local_postgres.PostgresError,
        SecretsError,
        ProfileError,
        viewer.ViewerError,
        subprocess.CalledProcessError,
        LocalStackError,
    ) as exc:
        # Nothing stays half-started: stop what this run started; keys, passwords and images are kept.
        say("Failed: stopping what was started (state is kept)")
        _stop_processes(opts)
        netns.delete(link)
        detail = (
            exc.stderr.decode(errors="replace").strip()
            if isinstance(exc, subprocess.CalledProcessError) and exc.stderr
            else ""
        )
        raise LocalStackError(f"{exc}{': ' + detail if detail else ''}") from None


def _check_reachable_by_services(state_dir: Path) -> None:
    """orthanc and postgres run as their own users: every folder above the state must let them through."""
    for parent in state_dir.resolve().parents:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise LocalStackError(
                f"--state-dir {state_dir}: {parent} is mode {parent.stat().st_mode & 0o777:04o}, so the orthanc and "
                "postgres users cannot reach the state; choose a folder under /var/lib or /srv"
            )


def link_addresses(opts: LocalOptions) -> tuple[str, ...]:
    """Where nginx listens: the namespace's address on the link, and its loopback."""
    return (opts.link.ns_address, "127.0.0.1")


def _bring_up(opts: LocalOptions, profile: HostProfile, say: Progress) -> dict:
    link = opts.link
    configured = configure(profile, say=say, install_packages=opts.install_packages, listen=link_addresses(opts))
    layout = configured.layout
    say(f"Network: namespace {opts.name}, {link.ns_address} <-> {link.host_addresses[0]} on {link.host_if}")
    netns.create(link)
    prefix = netns.exec_prefix(opts.name)
    say("Firewall: loading nftables rules inside the namespace")
    subprocess.run([*prefix, "nft", "-f", str(layout.nft_file)], check=True, capture_output=True)
    say("PostgreSQL: private cluster, reachable through its Unix socket only")
    local_postgres.initialise(layout)
    local_postgres.configure(layout)
    local_postgres.start(layout, prefix)
    local_postgres.ensure_database(layout, prefix, read_password_source(profile.database.password_source))
    say("Audit sink: the hash-chained trail, written by root only")
    _start_audit_sink(layout, prefix)
    say("Orthanc: starting as user orthanc with DICOM TLS and the RBAC/audit plugin")
    _start_orthanc(layout, prefix)
    say(f"nginx: HTTPS on {profile.https_port}, DICOM TLS on {profile.dicom_port}")
    res = subprocess.run(
        [*prefix, NGINX_BIN, "-c", str(layout.nginx_dir / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise LocalStackError(f"nginx did not start: {res.stderr.strip()}")
    say("Waiting for the DICOM and HTTPS ports")
    _wait_port(
        link.ns_address,
        profile.dicom_port,
        30,
        "Orthanc (DICOM TLS)",
        lambda: _pid_alive(layout.state / "orthanc.pid"),
    )
    _wait_port(link.ns_address, profile.https_port, 10, "nginx (HTTPS)")
    _wait_healthy(configured, link.ns_address)
    doc = _write_status(opts, configured)
    say("Up")
    return doc


def _nginx_workers(master: int) -> dict[int, str]:
    """The master's children and their titles ("nginx: worker process [is shutting down]")."""
    workers = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == master:
                workers[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    return workers


def reload_nginx(opts: LocalOptions, timeout: float = 10) -> None:
    """Re-read nginx.conf, certificates and the CRL, and return once new connections meet the new configuration
    (new workers up, the old ones closed to new connections); open connections finish on the old one."""
    layout = HostLayout(local_profile(opts))
    master = int((layout.nginx_dir / "nginx.pid").read_text().split()[0])
    before = set(_nginx_workers(master))
    res = subprocess.run(
        [*netns.exec_prefix(opts.name), NGINX_BIN, "-c", str(layout.nginx_dir / "nginx.conf"), "-s", "reload"],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise LocalStackError(f"nginx did not reload: {res.stderr.strip()}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = _nginx_workers(master)
        fresh = set(workers) - before
        draining = all(pid not in workers or "shutting down" in workers[pid] for pid in before)
        if fresh and draining:
            return
        time.sleep(0.02)
    raise LocalStackError(f"nginx kept its old configuration; see {layout.log_dir}/nginx-error.log")


def stop_orthanc(opts: LocalOptions) -> None:
    """Stop Orthanc alone (TERM, and wait for it), leaving PostgreSQL and nginx running."""
    import signal

    pid_file = HostLayout(local_profile(opts)).state / "orthanc.pid"
    if _pid_alive(pid_file):
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _pid_alive(pid_file) and time.monotonic() < deadline:
            time.sleep(0.05)


def restart_orthanc(opts: LocalOptions, say: Progress = print) -> None:
    """Restart Orthanc alone (after a configuration change), and wait until it answers through nginx again."""
    layout = HostLayout(local_profile(opts))
    pid_file = layout.state / "orthanc.pid"
    stop_orthanc(opts)
    say("Orthanc: restarting")
    _start_orthanc(layout, netns.exec_prefix(opts.name))
    link = opts.link
    _wait_port(link.ns_address, layout.profile.dicom_port, 30, "Orthanc (DICOM TLS)", lambda: _pid_alive(pid_file))
    users = json.loads(layout.credentials_file.read_text())["users"]
    deadline = time.monotonic() + 20
    while _https_get(f"https://{link.ns_address}/system", layout.ca[0], "admin", users["admin"]["password"]) != 200:
        if time.monotonic() > deadline:
            raise LocalStackError("Orthanc did not come back after a restart")
        time.sleep(0.1)


def _wait_healthy(configured: Configured, address: str) -> None:
    layout = configured.layout
    admin = configured.secrets.users["admin"]["password"]
    deadline = time.monotonic() + 20
    code = 0
    while time.monotonic() < deadline:
        try:
            code = _https_get(f"https://{address}/system", layout.ca[0], "admin", admin, timeout=2)
            if code == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    else:
        raise LocalStackError(
            f"Orthanc did not answer through nginx (last HTTP status {code}); see {layout.log_dir}/orthanc.log"
        )
    # The audit route exists only when the RBAC/audit plugin loaded: without it the stack must not count as up.
    code = _https_get(f"https://{address}/pacsguard/audit", layout.ca[0], "admin", admin, timeout=5)
    if code != 200:
        raise LocalStackError(
            f"the PACSGuard RBAC/audit plugin is not active (HTTP {code}); see {layout.log_dir}/orthanc.log"
        )


def _write_status(opts: LocalOptions, configured: Configured) -> dict:
    doc = status_document(opts)
    (opts.state_dir / STATUS_FILE).write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def status_document(opts: LocalOptions) -> dict:
    """Derived from the profile every time, so an older status file never hides a field."""
    layout = HostLayout(local_profile(opts))
    profile, link = layout.profile, opts.link
    doc = {
        "name": opts.name,
        "https_url": f"https://{link.ns_address}/",
        "viewer_url": f"https://{link.ns_address}{viewer.VIEWER_PATH}" if profile.viewer else None,
        "dicom": {"host": link.ns_address, "port": profile.dicom_port, "called_aet": profile.dicom_aet},
        "ca_cert": str(layout.ca[0]),
        "ca_key": str(layout.ca[1]),  # root only: lets verify issue an expired certificate to probe with
        "modalities": [
            {
                "aet": m.aet,
                "cert": str(layout.modality_dir / f"{m.aet}.crt"),
                "key": str(layout.modality_dir / f"{m.aet}.key"),
                "rights": list(m.rights),
                "bound_address": m.host,
            }
            for m in profile.modalities
        ],
        "credentials_file": str(layout.credentials_file),
        "netns": opts.name,
        "audit_log": str(layout.audit_log),
        "audit_socket": str(layout.audit_socket),
        "auth_failure_log": str(layout.log_dir / "auth-failures.jsonl"),
        "jwt_signing_key": str(layout.jwt_private_key),
        "session_timeout_minutes": profile.session_timeout_minutes,
        "break_glass": {  # root only: the posture probes open a window, use it, let it expire and close it
            "user": "break-glass",
            "sealed_credential": str(layout.break_glass_credential),
            "window_file": str(layout.break_glass_window),
            "alarm_log": str(layout.alarm_log),
        },
        "machine_issuer": {
            "issuer": profile.machine_issuer,
            "signing_key": str(layout.machine_issuer_key),  # root only: the posture probes mint tokens with it
            "resource_server": profile.machine_resource_server,
            "clients": dict(LOCAL_CLIENTS),
        },
        "source_addresses": {"bound": link.host_addresses[0], "unbound": link.host_addresses[1]},
        "orthanc_http_port": profile.orthanc_http_port,
        # The DICOM edge: Orthanc's own DICOM port and the relays live on the namespace's loopback only.
        "orthanc_dicom_port": profile.orthanc_dicom_port,
        "dicom_relay_port": profile.dicom_relay_port,
        "dicom_connection_log": str(layout.log_dir / CONNECTION_LOG),
        "crl": str(layout.crl),
        "pki_inventory": str(layout.pki / INVENTORY_FILE),
        "revoked_probe": {
            "aet": profile.modalities[0].aet,
            "cert": str(layout.probe_dir / f"{REVOCATION_PROBE}.crt"),
            "key": str(layout.probe_dir / f"{REVOCATION_PROBE}.key"),
        },
        "edge_addresses": {m.aet: profile.edge_address(m.aet) for m in profile.modalities},
        "database_port": profile.database.port,
        # The index's only way in: the posture probes check that nothing listens on the port and who may enter.
        "database_socket_dir": profile.database.host,
        "state_dir": str(opts.state_dir),
        "config_dir": str(layout.config_dir),
        "firewall": str(layout.nft_file),
        "orthanc_config": str(layout.config_dir / "orthanc.json"),
        "orthanc_credentials": str(layout.config_dir / "credentials.json"),
        "nginx_config": str(layout.nginx_dir / "nginx.conf"),
        "pki_dir": str(layout.pki),
        "orthanc_version": profile.orthanc_version,
        "host_backend": "local://",
    }
    return doc


def status(opts: LocalOptions) -> dict:
    if not is_up(opts):
        raise LocalStackError(f"no local stack named {opts.name!r} is running; start it with `pacsguard local up`")
    return status_document(opts)


def _stop_processes(opts: LocalOptions) -> None:
    layout = HostLayout(local_profile(opts))
    if netns.exists(opts.name):
        prefix = netns.exec_prefix(opts.name)
        subprocess.run(
            [*prefix, NGINX_BIN, "-c", str(layout.nginx_dir / "nginx.conf"), "-s", "quit"],
            capture_output=True,
            check=False,
        )
        local_postgres.stop(layout, prefix)
        netns.kill_all(opts.name)
    for pid_file in (layout.state / "orthanc.pid", layout.nginx_dir / "nginx.pid", layout.state / "audit-sink.pid"):
        pid_file.unlink(missing_ok=True)


def down(opts: LocalOptions, purge: bool = False, say: Progress = print) -> None:
    """Stop everything the stack started and remove its namespace; with purge, its state too."""
    if os.geteuid() != 0:
        raise LocalStackError("pacsguard local down needs root")
    say("Stopping nginx, Orthanc and PostgreSQL")
    _stop_processes(opts)
    say(f"Removing namespace {opts.name} and its link")
    netns.delete(opts.link)
    (opts.state_dir / STATUS_FILE).unlink(missing_ok=True)
    if purge and opts.state_dir.exists():
        import shutil

        say(f"Purging {opts.state_dir}")
        shutil.rmtree(opts.state_dir)
    say("Down")


def connection_help(doc: dict) -> list[str]:
    m, d, ca = doc["modalities"][0], doc["dicom"], doc["ca_cert"]
    tls = f"+tls {m['key']} {m['cert']} +cf {ca}"
    dicom = f"-aet {m['aet']} -aec {d['called_aet']} {tls} {d['host']} {d['port']}"
    return [
        f"HTTPS:  curl --cacert {ca} -u admin:PASSWORD {doc['https_url']}system",
        f"        (passwords: sudo jq .users {doc['credentials_file']})",
        f"DICOM:  echoscu {dicom}",
        f"        storescu {dicom} FILE.dcm",
        f"Audit:  sudo tail -f {doc['audit_log']}",
        "Stop:   pacsguard local down  (--purge also deletes images, keys and passwords)",
    ]
