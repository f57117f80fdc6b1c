"""A PostgreSQL 15 cluster for the "plain Orthanc on PostgreSQL" benchmark target: the hardened stack's index engine
with its durability (Debian's defaults: fsync on, synchronous_commit on, one WAL flush per commit) but none of its
hardening (no TLS, trust on the loopback of the benchmark's own namespace, no connection log).

With it, hardened / plain-PG is the cost of the hardening alone, and plain-PG / plain-SQLite the cost of choosing a
durable, shareable index over Orthanc's embedded SQLite.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orthanc_config.local_postgres import PG_BIN

PORT = 5432
DATABASE = "orthanc"
# Identical to the hardened cluster's settings where durability is concerned: only what keeps the cluster private
# to this namespace's loopback is set here.
CONF = """listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{run}'
unix_socket_permissions = 0700
"""


def _as_postgres(prefix: list[str], *cmd: str) -> list[str]:
    return [*prefix, "runuser", "-u", "postgres", "--", *cmd]


def _run(cmd: list[str], what: str) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f"plain PostgreSQL, {what}: {(res.stderr or res.stdout).strip()[-300:]}")


def connection_uri() -> str:
    return f"postgresql://orthanc@127.0.0.1:{PORT}/{DATABASE}?sslmode=disable"


@contextmanager
def plain_postgres(base: Path, prefix: list[str]) -> Iterator[str]:
    """A cluster under `base`, running in the namespace `prefix` enters, for the length of the block: its URI."""
    data, run = base / "data", base / "run"
    for folder in (data, run):
        folder.mkdir(parents=True, mode=0o700)
    subprocess.run(["chown", "-R", "postgres:postgres", str(base)], check=True)
    base.chmod(0o755)
    _run(_as_postgres([], str(PG_BIN / "initdb"), "-D", str(data), "-E", "UTF8", "--auth=trust", "-U", "postgres",
                      "--no-instructions"), "initdb")  # fmt: skip
    with (data / "postgresql.conf").open("a") as fh:
        fh.write(CONF.format(port=PORT, run=run))
    _run(_as_postgres(prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "postgres.log"), "-w",
                      "-t", "30", "start"), "start")  # fmt: skip
    try:
        psql = _as_postgres(prefix, str(PG_BIN / "psql"), "-h", str(run), "-p", str(PORT), "-U", "postgres", "-tAqc")
        _run([*psql, "CREATE ROLE orthanc LOGIN"], "role")
        _run([*psql, f"CREATE DATABASE {DATABASE} OWNER orthanc"], "database")
        yield connection_uri()
    finally:
        subprocess.run(_as_postgres(prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"),
                       capture_output=True, check=False)  # fmt: skip


def wal_flushes(base: Path, prefix: list[str]) -> int | None:
    """The cluster's count of WAL flushes to disk (pg_stat_wal.wal_sync), None when it cannot be read."""
    res = subprocess.run(
        _as_postgres(prefix, str(PG_BIN / "psql"), "-h", str(base / "run"), "-p", str(PORT), "-U", "postgres",
                     "-tAc", "SELECT wal_sync FROM pg_stat_wal"),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    out = res.stdout.strip()
    return int(out) if res.returncode == 0 and out.isdigit() else None
