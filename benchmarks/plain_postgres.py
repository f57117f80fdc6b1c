"""A PostgreSQL 15 cluster for the "plain Orthanc on PostgreSQL" benchmark target: the hardened stack's index engine
with its durability (Debian's defaults: fsync on, synchronous_commit on, one WAL flush per commit) but none of its
hardening (trust on its Unix socket, as the product reaches its own cluster through one, no connection log).

With it, hardened / plain-PG is the cost of the hardening alone, and plain-PG / plain-SQLite the cost of choosing a
durable, shareable index over Orthanc's embedded SQLite.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from orthanc_config.local_postgres import PG_BIN, SOCKET_DIR_MODE

PORT = 5432
DATABASE = "orthanc"
# Identical to the hardened cluster's settings where durability is concerned, and reached the same way (its Unix
# socket, in a directory postgres owns and the orthanc group enters: local_postgres.SOCKET_DIR_MODE).
CONF = """listen_addresses = ''
port = {port}
unix_socket_directories = '{run}'
unix_socket_permissions = 0777
"""


def _as_postgres(prefix: list[str], *cmd: str) -> list[str]:
    return [*prefix, "runuser", "-u", "postgres", "--", *cmd]


def _run(cmd: list[str], what: str) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f"plain PostgreSQL, {what}: {(res.stderr or res.stdout).strip()[-300:]}")


def connection_uri(run: Path) -> str:
    return f"postgresql://orthanc@/{DATABASE}?host={quote(str(run), safe='')}&port={PORT}"


@contextmanager
def plain_postgres(base: Path, prefix: list[str]) -> Iterator[str]:
    """A cluster under `base`, running in the namespace `prefix` enters, for the length of the block: its URI."""
    data, run = base / "data", base / "run"
    for folder in (data, run):
        folder.mkdir(parents=True, mode=0o700)
    subprocess.run(["chown", "-R", "postgres:postgres", str(base)], check=True)
    subprocess.run(["chgrp", "orthanc", str(run)], check=True)
    run.chmod(SOCKET_DIR_MODE)
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
        yield connection_uri(run)
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
