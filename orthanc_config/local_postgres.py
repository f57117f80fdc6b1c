"""A private PostgreSQL 15 cluster for the local stack: TLS only, loopback of its namespace only."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from orthanc_config.layout import HostLayout

PG_BIN = Path("/usr/lib/postgresql/15/bin")


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


def configure(layout: HostLayout) -> None:
    data = layout.database_data
    cert, key = layout.database_tls
    run_dir = layout.state / "postgres-run"
    run_dir.mkdir(exist_ok=True)
    subprocess.run(["chown", "postgres:postgres", str(run_dir)], check=True)
    db = layout.profile.database
    conf = f"""# PACSGuard: TLS only, loopback only, no statements (patient names) in the log.
listen_addresses = '127.0.0.1'
port = {db.port}
unix_socket_directories = '{run_dir}'
unix_socket_permissions = 0700
ssl = on
ssl_cert_file = '{cert}'
ssl_key_file = '{key}'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
log_statement = 'none'
log_min_error_statement = 'panic'
log_connections = on
"""
    (data / "pacsguard.conf").write_text(conf)
    hba = f"""# PACSGuard: the superuser over the socket (peer), Orthanc over TLS with a password, nothing else.
local all postgres peer
hostssl {db.name} {db.user} 127.0.0.1/32 scram-sha-256
"""
    (data / "pg_hba.conf").write_text(hba)
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
        str(layout.state / "postgres-run"),
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
