"""A private PostgreSQL 15 cluster for the local stack: no TCP listener at all; Orthanc and the superuser reach it
through its Unix-domain socket, in a directory only postgres and the orthanc group can enter.

Why not loopback TCP with TLS, as before issue 18: an SQL round trip over the socket takes about half as long and
no TLS CPU in either process, and Orthanc 1.10 with orthanc-postgresql 4.0 runs dozens of statements per API request
and about ten per stored instance, one round trip each (benchmarks.index_path measures both ways side by side;
docs/performance.md). No network path is left to encrypt or to firewall: a host's processes reach the socket only
through the directory's permissions."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from orthanc_config.layout import HostLayout

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SOCKET_DIR = "postgres-run"  # under the state folder
# The socket directory: postgres owns it, the orthanc group may enter it, nobody else. The socket file itself is
# left open (0777) because postgres, not being in the orthanc group, cannot give it that group: the directory is
# the gate (PostgreSQL's documentation offers a restricted socket directory as the way to limit who connects).
SOCKET_DIR_MODE = 0o750


class PostgresError(Exception):
    pass


def _run(cmd: list[str], what: str) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise PostgresError(f"{what}: {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout


def _as_postgres(netns: list[str], *cmd: str) -> list[str]:
    return [*netns, "runuser", "-u", "postgres", "--", *cmd]


def initialise(layout: HostLayout) -> None:
    data = layout.database_data
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    subprocess.run(["chown", "postgres:postgres", str(data)], check=True)
    _run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-E",
            "UTF8",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--no-instructions",
        ],
        "initdb",
    )


def socket_dir(layout: HostLayout) -> Path:
    return layout.state / SOCKET_DIR


def postgres_conf(layout: HostLayout) -> str:
    cert, key = layout.database_tls
    return f"""# PACSGuard: no TCP listener (the Unix socket only), no statements (patient names) in the log.
listen_addresses = ''
port = {layout.profile.database.port}
unix_socket_directories = '{socket_dir(layout)}'
unix_socket_permissions = 0777
ssl = on
ssl_cert_file = '{cert}'
ssl_key_file = '{key}'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
log_statement = 'none'
log_min_error_statement = 'panic'
log_connections = on
"""


def pg_hba(layout: HostLayout) -> str:
    db = layout.profile.database
    return f"""# PACSGuard: the superuser as itself (peer), Orthanc's role with its password, both over the socket only.
local all postgres peer
local {db.name} {db.user} scram-sha-256
"""


def configure(layout: HostLayout) -> None:
    data = layout.database_data
    run_dir = socket_dir(layout)
    run_dir.mkdir(exist_ok=True)
    subprocess.run(["chown", "postgres:orthanc", str(run_dir)], check=True)
    run_dir.chmod(SOCKET_DIR_MODE)
    (data / "pacsguard.conf").write_text(postgres_conf(layout))
    (data / "pg_hba.conf").write_text(pg_hba(layout))
    main = data / "postgresql.conf"
    text = main.read_text()
    if "include = 'pacsguard.conf'" not in text:
        main.write_text(text + "\ninclude = 'pacsguard.conf'\n")
    subprocess.run(
        ["chown", "postgres:postgres", str(main), str(data / "pacsguard.conf"), str(data / "pg_hba.conf")],
        check=True,
    )


def start(layout: HostLayout, netns: list[str]) -> None:
    log_dir = layout.state / "postgres-log"
    log_dir.mkdir(mode=0o700, exist_ok=True)
    subprocess.run(["chown", "postgres:postgres", str(log_dir)], check=True)
    log = log_dir / "postgres.log"
    _run(
        _as_postgres(
            netns,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(layout.database_data),
            "-l",
            str(log),
            "-w",
            "-t",
            "30",
            "start",
        ),
        "pg_ctl start",
    )


def ensure_database(layout: HostLayout, netns: list[str], password: str) -> None:
    """The orthanc role and database, created once; the password is (re)set from the host's secret."""
    db = layout.profile.database
    base = _as_postgres(
        netns,
        str(PG_BIN / "psql"),
        "-h",
        str(socket_dir(layout)),
        "-p",
        str(db.port),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-tAq",
    )

    def psql(sql: str, **variables: str) -> str:
        # SQL and values go on stdin as psql variables: no password in argv (world-readable in /proc).
        script = ""
        for name, value in variables.items():
            if not re.fullmatch(r"[A-Za-z0-9_.\-]+", value):
                raise PostgresError(f"refusing to pass {name}: unexpected characters")
            script += f"\\set {name} {value}\n"
        res = subprocess.run(base, input=script + sql, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise PostgresError(f"psql: {res.stderr.strip()}")
        return res.stdout.strip()

    if not psql("SELECT 1 FROM pg_roles WHERE rolname = :'role';\n", role=db.user):
        psql(f'CREATE ROLE "{db.user}" LOGIN;\n')
    psql(f"ALTER ROLE \"{db.user}\" PASSWORD :'pw';\n", pw=password)
    if not psql("SELECT 1 FROM pg_database WHERE datname = :'db';\n", db=db.name):
        psql(f'CREATE DATABASE "{db.name}" OWNER "{db.user}";\n')


def stop(layout: HostLayout, netns: list[str]) -> None:
    if (layout.database_data / "postmaster.pid").exists():
        subprocess.run(
            _as_postgres(netns, str(PG_BIN / "pg_ctl"), "-D", str(layout.database_data), "-m", "fast", "-w", "stop"),
            capture_output=True,
            check=False,
        )
