"""Where the hardened stack's time goes: CPU milliseconds per instance of every process in its namespace (Orthanc,
PostgreSQL, the audit sink, nginx), grouped by program, plus `perf` samples of Orthanc itself (the plugin's Python,
TLS, the index client, the kernel), while DCMTK storescu stores CT slices (1 and 8 associations) and while a
viewer loads those slices (benchmarks.viewer_load's requests, 6 in parallel).

    sudo .venv/bin/python -m benchmarks.stack_profile [--instances 200] [--parallel 1 8]

Wall time per instance minus the CPU time every process spent is time spent waiting (disk flushes, round trips)
or, on this shared 2-core machine, waiting for a core. Writes benchmarks/results/stack_profile.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import plain_postgres
from benchmarks.instances import write_series
from benchmarks.populate import SCRATCH, send_files
from benchmarks.targets import bench_targets

RESULTS = Path(__file__).resolve().parent / "results"
TICK = os.sysconf("SC_CLK_TCK")


def namespace_pids(netns: str) -> list[int]:
    res = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    return [int(p) for p in res.stdout.split()]


def cpu_by_program(pids: list[int]) -> Counter:
    """CPU seconds (user + system, threads included) per program name."""
    out: Counter = Counter()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        name = _program(stat[stat.index("(") + 1 : stat.rindex(")")], cmdline)
        out[name] += (int(fields[11]) + int(fields[12])) / TICK
    return out


def psql(t: dict, sql: str) -> str | None:
    """One statement as the hardened cluster's superuser (peer, over its socket); None when it failed."""
    res = subprocess.run(
        ["ip", "netns", "exec", t["netns"], "runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql",
         "-h", f"{t['state_dir']}/postgres-run", "-p", str(t["database_port"]), "-U", "postgres", "-d", "postgres",
         "-tAc", sql],
        capture_output=True, text=True,
    )  # fmt: skip
    return res.stdout.strip() if res.returncode == 0 else None


def wal_flushes(t: dict) -> int | None:
    """PostgreSQL's count of WAL flushes to disk (each durable commit waits for one, shared by concurrent ones);
    None for a target without a PostgreSQL index."""
    if "index" in t:  # plain Orthanc on its own cluster
        return plain_postgres.wal_flushes(t["index"], ["ip", "netns", "exec", t["netns"]])
    if "database_port" not in t:
        return None
    out = psql(t, "SELECT wal_sync FROM pg_stat_wal")
    return int(out) if out and out.isdigit() else None


def without_durable_commit(t: dict, folder: Path, count: int) -> dict | None:
    """A measurement, never the product's setting: the same single-association ingest with PostgreSQL's
    synchronous_commit off (a crash could then lose index entries of instances the modality saw acknowledged).
    The difference is what the durable commit of each instance costs."""
    if psql(t, "ALTER SYSTEM SET synchronous_commit = off") is None or psql(t, "SELECT pg_reload_conf()") is None:
        return None
    try:
        return profile_ingest(t, folder, count, 1, sample=False)
    finally:
        psql(t, "ALTER SYSTEM RESET synchronous_commit")
        psql(t, "SELECT pg_reload_conf()")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _program(comm: str, cmdline: list[bytes]) -> str:
    text = b" ".join(cmdline).decode(errors="replace")
    if "audit_sink" in text or "audit-sink" in text:
        return "audit sink (python)"
    if comm.startswith("postgres") or "postgres" in text.split(" ", 1)[0]:
        return "postgresql"
    if comm.startswith("nginx"):
        return "nginx"
    if comm == "Orthanc":
        return "orthanc (incl. plugin)"
    return comm


def perf_top(pid: int, seconds: float, out: Path) -> list[str]:
    """The hottest shared objects and symbols of one process over `seconds` (empty when perf cannot attach)."""
    data = out / "perf.data"
    rec = subprocess.run(
        ["perf", "record", "-q", "-F", "499", "-g", "-p", str(pid), "-o", str(data), "--", "sleep", str(seconds)],
        capture_output=True, text=True,
    )  # fmt: skip
    if rec.returncode:
        return [f"perf record failed: {rec.stderr.strip()[-200:]}"]
    rep = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none", "--sort", "dso",
         "--percent-limit", "2"],
        capture_output=True, text=True,
    )  # fmt: skip
    return [ln.strip() for ln in rep.stdout.splitlines() if ln.strip() and not ln.startswith("#") and "%" in ln][:12]


def _sample(pid: int | None, scratch: Path, into: list[str]) -> None:
    if pid and shutil.which("perf"):
        into.extend(perf_top(pid, 3, scratch))


def profile_viewer(t: dict, scratch: Path, count: int) -> dict:
    """The same accounting for a viewer's load of one study of `count` CT slices (either target)."""
    netns = t["netns"]
    orthanc = next((p for p in namespace_pids(netns) if _comm(p) == "Orthanc"), None)
    from pydicom.uid import generate_uid

    from benchmarks.populate import populate
    from benchmarks.viewer_load import load_study

    patient, study, series = "PROFILE-VIEWER", generate_uid(), generate_uid()
    sops = [sop for *_, sop in populate(t, [(patient, study, series)], count, kind="CT")]
    load_study(t, patient, study, series, sops)  # warm: the first load reads files from disk
    before = cpu_by_program(namespace_pids(netns))
    hot: list[str] = []
    sampler = threading.Thread(target=_sample, args=(orthanc, scratch, hot))
    sampler.start()
    seconds, statuses = load_study(t, patient, study, series, sops)
    sampler.join()
    after = cpu_by_program(namespace_pids(netns))
    requests = count + 2
    return {
        "requests": requests,
        "statuses": {str(k): v for k, v in statuses.items()},
        "wall_ms_per_request": round(seconds / requests * 1000, 2),
        "cpu_ms_per_request": dict(
            sorted(
                ((k, round((after[k] - before.get(k, 0)) / requests * 1000, 2)) for k in after), key=lambda kv: -kv[1]
            )
        ),
        "orthanc_perf_top_dso": hot,
    }


def profile_ingest(t: dict, folder: Path, count: int, parallel: int, sample: bool = True) -> dict:
    """CPU per program, WAL flushes (hardened) and Orthanc's perf samples while `count` CT slices are stored."""
    netns = t["netns"]
    orthanc = next((p for p in namespace_pids(netns) if _comm(p) == "Orthanc"), None)
    write_series(folder, count)
    files = sorted(folder.iterdir())
    before = cpu_by_program(namespace_pids(netns))
    flushes = wal_flushes(t)
    hot: list[str] = []
    sampler = threading.Thread(target=_sample, args=(orthanc if sample else None, folder.parent, hot))
    start = time.perf_counter()
    sampler.start()  # perf samples Orthanc for the run's first 3 seconds
    send_files(t, files, parallel)
    wall = time.perf_counter() - start
    sampler.join()
    after = cpu_by_program(namespace_pids(netns))
    shutil.rmtree(folder)
    cpu = {k: round((after[k] - before.get(k, 0)) / count * 1000, 2) for k in after}
    return {
        "parallel": parallel,
        "wall_ms_per_instance": round(wall / count * 1000, 2),
        "cpu_ms_per_instance": dict(sorted(cpu.items(), key=lambda kv: -kv[1])),
        "wal_flushes_per_instance": _per(wal_flushes(t), flushes, count) if flushes is not None else None,
        "orthanc_perf_top_dso": hot,
    }


def _per(after: int | None, before: int | None, count: int) -> float | None:
    return None if after is None or before is None else round((after - before) / count, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    result: dict[str, Any] = {"instances": args.instances, "runs": []}
    scratch = Path(tempfile.mkdtemp(prefix="pacsguard-profile-", dir=SCRATCH))
    try:
        with bench_targets(log=lambda m: print(m, flush=True)) as targets:
            t = targets["hardened"]
            for parallel in args.parallel:
                run = profile_ingest(t, scratch / f"x{parallel}", args.instances, parallel)
                result["runs"].append(run)
                print(json.dumps(run, indent=1), flush=True)
            result["plain_runs"] = [
                profile_ingest(targets["plain"], scratch / "plain", args.instances, args.parallel[0], sample=False)
            ]
            # The same Orthanc on the product's index engine, without TLS, plugin or nginx.
            result["plain_pg_runs"] = [
                profile_ingest(targets["plain_pg"], scratch / "plain_pg", args.instances, p, sample=False)
                for p in args.parallel
            ]
            result["hardened_without_durable_commit"] = without_durable_commit(t, scratch / "async", args.instances)
            result["viewer"] = profile_viewer(t, scratch, args.instances)
            result["viewer_plain"] = profile_viewer(targets["plain"], scratch, args.instances)
            result["viewer_plain_pg"] = profile_viewer(targets["plain_pg"], scratch, args.instances)
            print(json.dumps({k: result[k] for k in ("viewer", "viewer_plain", "viewer_plain_pg")}, indent=1))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result["load_average_1min"] = os.getloadavg()[0]
    (RESULTS / "stack_profile.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
