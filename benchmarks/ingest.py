"""C-STORE ingest with a C sender: DCMTK storescu over mutual TLS, 1, 4 and 8 parallel associations, CT slices and
multi-frame instances, to the hardened stack (through nginx's DICOM TLS edge), plain Orthanc over its own mutual
DICOM TLS (SQLite index), plain Orthanc without TLS, plain Orthanc on a PostgreSQL index and DCMTK storescp over
TLS (the ceiling), in one run.

    sudo .venv/bin/python -m benchmarks.ingest [--ct 400] [--multiframe 16] [--frames 16] [--rounds 5]

Every run sends new instances (fresh UIDs). Within a round, the targets get the same workload back to back, in an
order that rotates from round to round, so drift in the machine (other work on its 2 cores) hits every target
alike; a ratio is the median of the rounds' ratios, and the rounds' range is kept beside it (two rounds of 96
slices once gave 0.45 and 0.83 for the same ratio on a quiet machine: the defaults are sized so that one run's
figure does not depend on which round the machine was busy in).
Baselines: the goal (hardened >= 0.9 x plain at 8 associations) is judged against plain_tls, plain Orthanc (SQLite,
no plugin) with Orthanc's own mutual DICOM TLS, because issue 18 sends storescu "over mutual TLS" to plain Orthanc
too. plain (no TLS at all, what an out-of-the-box Orthanc gives) is kept beside it: hardened / plain is the whole
price including the TLS a modality should never go without. plain Orthanc on PostgreSQL (no TLS, no plugin, no
nginx, the product's index settings) separates the hardening's cost (hardened / plain_pg) from the database's
(plain_pg / plain); storescp (which only writes files) says what the wire and the sender reach.
Writes benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.instances import write_series
from benchmarks.populate import SCRATCH
from benchmarks.targets import bench_targets
from orthanc_config.orthanc_launcher import DICOM_SOCKET_ENV

RESULTS = Path(__file__).resolve().parent / "results"
PARALLEL = (1, 4, 8)
TARGETS = ("hardened", "plain_tls", "plain", "plain_pg", "storescp_tls")
GOAL_BASELINE = "plain_tls"  # issue 18 sends over mutual TLS to plain Orthanc too
GOAL_TO_PLAIN = 0.9  # hardened / plain_tls at 8 associations
GOAL_TO_CEILING = 0.5  # both Orthancs within 2x of storescp
RATIOS = {
    "hardened_to_plain_tls": ("hardened", "plain_tls"),
    "hardened_to_plain": ("hardened", "plain"),
    "plain_tls_to_plain": ("plain_tls", "plain"),
    "hardened_to_plain_pg": ("hardened", "plain_pg"),
    "plain_pg_to_plain": ("plain_pg", "plain"),
    "hardened_to_ceiling": ("hardened", "storescp_tls"),
    "plain_to_ceiling": ("plain", "storescp_tls"),
    "plain_tls_to_ceiling": ("plain_tls", "storescp_tls"),
}


def sender_version() -> str:
    res = subprocess.run(["storescu", "--version"], capture_output=True, text=True)
    first = (res.stdout or res.stderr).splitlines()
    return first[0].strip().strip("$").replace("dcmtk: ", "DCMTK ").strip() if first else "storescu"


def machine() -> dict[str, Any]:
    model = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "load_average_1min": os.getloadavg()[0],
    }


def store(target: dict, host: str, port: int, files: list[Path], parallel: int) -> float:
    """Seconds for `parallel` storescu processes (one association each) to store their share of `files`."""
    shares = [files[i::parallel] for i in range(parallel)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            ["storescu", *target["dcmtk"], host, str(port), *map(str, share)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **DICOM_SOCKET_ENV},  # the sender without Nagle's delay, as a tuned modality
        )
        for share in shares
    ]
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=900)
        if p.returncode or b"E: " in err:
            errors.append(err.decode(errors="replace")[-400:])
    seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"storescu failed: {errors[0]}")
    return seconds


NAGLE_PROBE = """ip link set lo up
storescp -od "$1/out" 11112 2>/dev/null & P=$!
while ! echoscu 127.0.0.1 11112 2>/dev/null; do sleep 0.05; done
s=$(date +%s.%N); storescu 127.0.0.1 11112 "$1"/ct/*.dcm; e=$(date +%s.%N)
kill $P; wait $P; echo "$s $e"
"""


def nagle_probe(scratch: Path, count: int = 40) -> dict[str, float]:
    """One association, no TLS, DCMTK to DCMTK in a throw-away network namespace of its own (loopback only):
    instances/s with Debian's default (Nagle on) and with TCP_NODELAY=1 on both ends. This is why the product
    starts Orthanc with TCP_NODELAY=1."""
    write_series(scratch / "nagle" / "ct", count)
    (scratch / "nagle" / "out").mkdir()
    out = {}
    for label, env in (("nagle_on", {}), ("tcp_nodelay", DICOM_SOCKET_ENV)):
        res = subprocess.run(
            ["unshare", "-n", "sh", "-c", NAGLE_PROBE, "probe", str(scratch / "nagle")],
            capture_output=True, text=True, timeout=300, env={**os.environ, **env}, check=True,
        )  # fmt: skip
        start, end = map(float, res.stdout.split()[-2:])
        out[label] = count / (end - start)
    shutil.rmtree(scratch / "nagle")
    return out


def stored_files(folder: Path) -> int:
    return sum(1 for f in folder.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ct", type=int, default=400, help="CT slices (512x512, 0.5 MB) per run")
    parser.add_argument("--multiframe", type=int, default=16, help="multi-frame instances per run")
    parser.add_argument("--frames", type=int, default=16, help="frames (512x512) per multi-frame instance")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parallel", type=int, nargs="+", default=list(PARALLEL))
    args = parser.parse_args(argv)
    fewest = min(args.ct, args.multiframe)
    if fewest < max(args.parallel):
        # an association without an instance would make storescu fail, and the figure would name more
        # associations than ever sent anything
        parser.error(
            f"{fewest} instances cannot keep {max(args.parallel)} associations busy: "
            "give --ct and --multiframe at least as many instances as the largest --parallel"
        )
    workloads = {"ct": (args.ct, 1), "multiframe": (args.multiframe, args.frames)}
    result: dict[str, Any] = {
        "sender": sender_version() + " (storescu, one process per association, mutual TLS where the target has it)",
        "machine_before": machine(),
        "rounds": args.rounds,
        "goal_baseline": GOAL_BASELINE,
        "workloads": {k: {"instances": n, "frames": f} for k, (n, f) in workloads.items()},
        "runs": [],
    }
    print(f"sender: {result['sender']}\nmachine: {result['machine_before']}", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="pacsguard-ingest-", dir=SCRATCH))
    sent: dict[str, int] = {t: 0 for t in TARGETS}
    try:
        result["nagle_probe_instances_per_s"] = nagle_probe(scratch)
        print(f"one association, DCMTK to DCMTK: {result['nagle_probe_instances_per_s']}", flush=True)
        with bench_targets(log=lambda m: print(m, flush=True)) as targets:
            endpoints = {t: (targets[t]["host"], targets[t]["port"]) for t in TARGETS}
            for r in range(args.rounds):
                for parallel in args.parallel:
                    for kind, (count, frames) in workloads.items():
                        order = TARGETS[r % len(TARGETS) :] + TARGETS[: r % len(TARGETS)]
                        for name in order:
                            folder = scratch / f"{name}-{kind}-{parallel}-{r}"
                            mb = write_series(folder, count, frames)
                            files = sorted(folder.iterdir())
                            seconds = store(targets[name], *endpoints[name], files, parallel)
                            shutil.rmtree(folder)
                            sent[name] += count
                            run = {"round": r, "target": name, "kind": kind, "parallel": parallel, "seconds": seconds,
                                   "instances": count, "mb": mb}  # fmt: skip
                            result["runs"].append(run)
                            print(
                                f"round {r + 1} {kind:10} x{parallel} {name:12} {count / seconds:7.1f} inst/s "
                                f"{mb / seconds:6.1f} MB/s",
                                flush=True,
                            )
            # storescu can exit 0 after a refused C-STORE: every instance sent must be on the target's disk.
            landed = {t: stored_files(targets[t]["storage"]) for t in TARGETS}
            short = {t: (landed[t], sent[t]) for t in TARGETS if landed[t] < sent[t]}
            if short:
                raise RuntimeError(f"instances missing (stored, sent): {short}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result["machine_after"] = machine()
    result["summary"] = summarise(result["runs"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    for row in result["summary"]:
        print(
            f"{row['kind']:10} x{row['parallel']}: "
            + "  ".join(f"{t} {row['targets'][t]['instances_per_s']:.1f}/s" for t in TARGETS)
            + f"  hardened/plain_tls {row['hardened_to_plain_tls']:.2f} (the goal's)"
            + f" hardened/plain {row['hardened_to_plain']:.2f} hardened/plain_pg {row['hardened_to_plain_pg']:.2f}"
            + f" hardened/ceiling {row['hardened_to_ceiling']:.2f}"
        )


def summarise(runs: list[dict]) -> list[dict]:
    """Per workload and parallelism: each target's rate over all rounds, and the median of per-round ratios."""
    out = []
    for kind in dict.fromkeys(r["kind"] for r in runs):
        for parallel in dict.fromkeys(r["parallel"] for r in runs):
            sel = [r for r in runs if r["kind"] == kind and r["parallel"] == parallel]
            if not sel:
                continue
            per: dict[str, Any] = {}
            for t in TARGETS:
                mine = [r for r in sel if r["target"] == t]
                secs = sum(r["seconds"] for r in mine)
                per[t] = {
                    "instances_per_s": sum(r["instances"] for r in mine) / secs,
                    "mb_per_s": sum(r["mb"] for r in mine) / secs,
                    "round_seconds": [r["seconds"] for r in mine],
                }

            def per_round(a: str, b: str, sel: list[dict] = sel) -> list[float]:
                rounds = sorted({r["round"] for r in sel})
                rate = {(r["round"], r["target"]): r["instances"] / r["seconds"] for r in sel}
                return [rate[(n, a)] / rate[(n, b)] for n in rounds]

            row: dict[str, Any] = {"kind": kind, "parallel": parallel, "targets": per}
            for key, (a, b) in RATIOS.items():
                rounds = per_round(a, b)
                row[key] = statistics.median(rounds)
                row[f"{key}_range"] = [min(rounds), max(rounds)]
            out.append(row)
    return out


if __name__ == "__main__":
    main()
