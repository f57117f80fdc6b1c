"""The hardened stack's index path, variant by variant, on one local stack: what each change to the connection
between Orthanc and PostgreSQL, or to PostgreSQL's durable settings, does to C-STORE ingest (1 and 8 associations).

    sudo .venv/bin/python -m benchmarks.index_path [--instances 100] [--rounds 3]

Variants (each round runs them all, in an order that rotates, on the same stack; Orthanc restarts for each):
- product: what the local stack ships (the cluster's Unix-domain socket, SCRAM, one index connection);
- loopback_tls: the same role and password over loopback TCP with TLS verify-full, as the local stack had before
  (the cluster listens on 127.0.0.1 for this measurement only);
- wal_tuned: the product's connection, PostgreSQL with the durable WAL settings in WAL_CANDIDATE;
- connections_4: the product's connection with IndexConnectionsCount 4 (orthanc-postgresql 4.0 reads it).

Per run: instances/s, WAL flushes, SQL statements (pg_stat_statements, the orthanc role's only) and CPU ms of Orthanc
and PostgreSQL per instance, and every refused store. Plus one SQL round trip over each connection (pgbench,
`SELECT 1`, the orthanc role, as the orthanc user). Writes benchmarks/results/index_path.json; the stack is gone
afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from benchmarks import stack_profile
from benchmarks.ingest import machine, store
from benchmarks.instances import write_series
from benchmarks.populate import SCRATCH
from benchmarks.slot import slot_name, slot_subnet
from orthanc_config import local_postgres
from orthanc_config.layout import HostLayout
from orthanc_config.local_postgres import PG_BIN
from orthanc_config.local_stack import LocalOptions, down, local_profile, restart_orthanc, up
from orthanc_config.render_orthanc import connection_uri

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("product", "loopback_tls", "wal_tuned", "connections_4")
# Durable candidates (full_page_writes, fsync and synchronous_commit stay on): WAL written with O_DSYNC instead of
# write + fdatasync (pg_test_fsync's faster method for one 8 kB write here), and full-page images compressed.
WAL_CANDIDATE = {"wal_sync_method": "open_datasync", "wal_compression": "lz4"}
# For the measurement only: statement counts, and the TLS listener the loopback_tls variant needs.
MEASUREMENT_ONLY = "shared_preload_libraries = 'pg_stat_statements'\nlisten_addresses = '127.0.0.1'\n"
LOOPBACK_TLS_HBA = "hostssl orthanc orthanc 127.0.0.1/32 scram-sha-256\n"


class Stack:
    """One hardened local stack with the measuring hooks: pg_stat_statements, and a loopback TLS listener."""

    def __init__(self, base: Path) -> None:
        self.opts = LocalOptions(name=slot_name("pgidx"), state_dir=base / "stack", subnet=slot_subnet(14),
                                 install_packages=False)  # fmt: skip
        self.doc = up(self.opts, say=lambda _m: None)
        self.layout = HostLayout(local_profile(self.opts))
        self.prefix = ["ip", "netns", "exec", self.opts.name]
        self.target = {"netns": self.opts.name, "state_dir": self.doc["state_dir"],
                       "database_port": self.doc["database_port"]}  # fmt: skip
        self.credentials = self.layout.config_dir / "credentials.json"
        self.shipped = json.loads(self.credentials.read_text())
        self.run_dir = local_postgres.socket_dir(self.layout)
        data = self.layout.database_data
        with (data / "pacsguard.conf").open("a") as fh:
            fh.write(MEASUREMENT_ONLY)
        with (data / "pg_hba.conf").open("a") as fh:
            fh.write(LOOPBACK_TLS_HBA)
        self.restart_postgres()
        self.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        uri = self.shipped["PostgreSQL"]["ConnectionUri"]
        self.password = unquote(re.match(r"postgresql://[^:]+:([^@]+)@", uri).group(1))  # type: ignore[union-attr]
        profile = self.layout.profile
        tcp = dataclasses.replace(profile.database, host="127.0.0.1", ca_file=str(self.layout.ca[0]))
        self.tls_uri = connection_uri(dataclasses.replace(profile, database=tcp), self.password)

    def psql(self, sql: str) -> str:
        out = stack_profile.psql(self.target, sql)
        if out is None:
            raise RuntimeError(f"psql failed: {sql}")
        return out

    def restart_postgres(self) -> None:
        log = self.layout.state / "postgres-log" / "postgres.log"
        res = subprocess.run([*self.prefix, "runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D",
                              str(self.layout.database_data), "-l", str(log), "-m", "fast", "-w", "restart"],
                             capture_output=True, text=True)  # fmt: skip
        if res.returncode:
            raise RuntimeError(f"PostgreSQL did not restart: {res.stderr.strip()}")

    def apply(self, variant: str) -> None:
        wal = WAL_CANDIDATE if variant == "wal_tuned" else dict.fromkeys(WAL_CANDIDATE)
        for name, value in wal.items():
            self.psql(f"ALTER SYSTEM SET {name} = '{value}'" if value else f"ALTER SYSTEM RESET {name}")
        self.restart_postgres()
        pg = dict(self.shipped["PostgreSQL"])
        if variant == "loopback_tls":
            pg["ConnectionUri"] = self.tls_uri
        if variant == "connections_4":
            pg["IndexConnectionsCount"] = 4
        self.credentials.write_text(json.dumps({**self.shipped, "PostgreSQL": pg}))
        restart_orthanc(self.opts, say=lambda _m: None)

    def statements(self) -> int:
        return int(self.psql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                             "WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = 'orthanc')"))  # fmt: skip

    def cpu(self) -> tuple[float, float]:
        c = stack_profile.cpu_by_program(stack_profile.namespace_pids(self.opts.name))
        return c["orthanc (incl. plugin)"], c["postgresql"]

    def round_trip_ms(self, scratch: Path) -> dict[str, float]:
        """One `SELECT 1` over each connection, pgbench's average over 3 s (the password in its environment)."""
        script = scratch / "select1.sql"
        script.write_text("SELECT 1;\n")
        script.chmod(0o644)
        out = {}
        ca = self.layout.ca[0]
        for name, conninfo in (
            ("tls", f"host=127.0.0.1 sslmode=verify-full sslrootcert={ca} hostaddr=127.0.0.1"),
            ("unix_socket", f"host={self.run_dir}"),
        ):
            res = subprocess.run(
                [*self.prefix, "runuser", "-u", "orthanc", "--", "env", f"PGPASSWORD={self.password}",
                 str(PG_BIN / "pgbench"), "-n", "-f", str(script), "-c", "1", "-T", "3",
                 f"{conninfo} port={self.doc['database_port']} user=orthanc dbname=orthanc"],
                capture_output=True, text=True,
            )  # fmt: skip
            found = re.search(r"latency average = ([0-9.]+) ms", res.stdout)
            if not found:
                raise RuntimeError(f"pgbench over {name}: {(res.stderr or res.stdout).strip()[-300:]}")
            out[name] = float(found.group(1))
        return out

    def statements_per_request(self, scratch: Path, n: int = 40) -> dict[str, float]:
        """SQL statements the index runs per QIDO-RS, WADO-RS and rendered request (the product's connection):
        times the round trip above, what a faster connection could save per request."""
        from benchmarks.populate import populate
        from benchmarks.query import api_requests, keep_alive

        m = next(x for x in self.doc["modalities"] if "store" in x["rights"])
        sender = {"dcmtk": ["+tls", m["key"], m["cert"], "+cf", self.doc["ca_cert"], "-aet", m["aet"], "-aec",
                            self.doc["dicom"]["called_aet"]],
                  "host": self.doc["dicom"]["host"], "port": self.doc["dicom"]["port"]}  # fmt: skip
        from pydicom.uid import generate_uid

        item = populate(sender, [("INDEX-PATH", generate_uid(), generate_uid())], 1, kind="CT")[0]
        users = json.loads(Path(self.doc["credentials_file"]).read_text())["users"]
        t = {"http": self.doc["https_url"].rstrip("/"), "ca": self.doc["ca_cert"],
             "user": ("radiologist1", users["radiologist1"]["password"])}  # fmt: skip
        conn, headers = keep_alive(t)
        out = {}
        for kind, (path, accept) in api_requests(item).items():
            before = self.statements()
            for _ in range(n):
                conn.request("GET", path, headers={**headers, "Accept": accept})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{kind}: HTTP {resp.status}")
            out[kind] = round((self.statements() - before) / n, 1)
        conn.close()
        return out

    def close(self) -> None:
        down(self.opts, purge=True, say=lambda _m: None)


def ingest_run(stack: Stack, folder: Path, count: int, parallel: int) -> dict[str, Any]:
    write_series(folder, count)
    files = sorted(folder.iterdir())
    m = stack.doc["modalities"][0]
    target = {"dcmtk": ["+tls", m["key"], m["cert"], "+cf", stack.doc["ca_cert"], "-aet", m["aet"], "-aec",
                        stack.doc["dicom"]["called_aet"]]}  # fmt: skip
    flushes, statements, cpu = stack_profile.wal_flushes(stack.target), stack.statements(), stack.cpu()
    refused = ""
    start = time.perf_counter()
    try:
        store(target, stack.doc["dicom"]["host"], stack.doc["dicom"]["port"], files, parallel)
    except RuntimeError as exc:  # a refused store is a finding of this variant, not the end of the benchmark
        refused = str(exc)[-300:]
    seconds = time.perf_counter() - start
    shutil.rmtree(folder)
    after = stack_profile.wal_flushes(stack.target)
    cpu_after = stack.cpu()
    return {
        "parallel": parallel,
        "instances_per_s": round(count / seconds, 1),
        "wal_flushes_per_instance": round((after - flushes) / count, 2) if after is not None and flushes else None,
        "statements_per_instance": round((stack.statements() - statements) / count, 1),
        "cpu_ms_per_instance": {
            "orthanc": round((cpu_after[0] - cpu[0]) / count * 1000, 2),
            "postgresql": round((cpu_after[1] - cpu[1]) / count * 1000, 2),
        },
        "refused": refused,
    }


def summarise(runs: list[dict]) -> dict[str, Any]:
    """Per variant and association count: median rate, and the median of each round's ratio to the product."""
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        for parallel in sorted({r["parallel"] for r in runs}):
            mine = {r["round"]: r for r in runs if r["variant"] == variant and r["parallel"] == parallel}
            base = {r["round"]: r for r in runs if r["variant"] == "product" and r["parallel"] == parallel}
            out[f"{variant} x{parallel}"] = {
                "instances_per_s": statistics.median(r["instances_per_s"] for r in mine.values()),
                "round_ratios": sorted(round(mine[n]["instances_per_s"] / base[n]["instances_per_s"], 2)
                                       for n in mine),
                "to_product": round(statistics.median(
                    mine[n]["instances_per_s"] / base[n]["instances_per_s"] for n in mine), 2),
                "wal_flushes_per_instance": statistics.median(
                    r["wal_flushes_per_instance"] or 0 for r in mine.values()),
                "statements_per_instance": statistics.median(r["statements_per_instance"] for r in mine.values()),
                "cpu_ms_per_instance": {k: statistics.median(r["cpu_ms_per_instance"][k] for r in mine.values())
                                        for k in ("orthanc", "postgresql")},
                "refused_runs": sum(1 for r in mine.values() if r["refused"]),
            }  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=100, help="CT slices per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    result: dict[str, Any] = {"instances": args.instances, "rounds": args.rounds, "wal_candidate": WAL_CANDIDATE,
                              "machine_before": machine(), "runs": []}  # fmt: skip
    base = Path(tempfile.mkdtemp(prefix="pacsguard-index-", dir="/var/tmp"))
    base.chmod(0o755)
    scratch = Path(tempfile.mkdtemp(prefix="pacsguard-index-", dir=SCRATCH))
    stack = None
    try:
        stack = Stack(base)
        result["round_trip_ms"] = stack.round_trip_ms(base)
        print(f"one SQL round trip (ms): {result['round_trip_ms']}", flush=True)
        for r in range(args.rounds):
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
            for variant in order:
                stack.apply(variant)
                for parallel in args.parallel:
                    run = ingest_run(stack, scratch / f"{variant}-{parallel}-{r}", args.instances, parallel)
                    result["runs"].append({"round": r, "variant": variant, **run})
                    print(f"round {r + 1} {variant:14} x{parallel} {json.dumps(run)}", flush=True)
        stack.apply("product")
        result["statements_per_request"] = stack.statements_per_request(scratch)
        print(f"SQL statements per API request: {result['statements_per_request']}", flush=True)
    finally:
        if stack:
            stack.close()
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    result["machine_after"] = machine()
    result["summary"] = summarise(result["runs"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "index_path.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
