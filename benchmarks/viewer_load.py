"""A viewer's load of one study, hardened vs plain Orthanc (SQLite, and on a PostgreSQL index) in one run: the
study list, the series metadata, then every frame, 6 requests in parallel (a browser's connections per host over
HTTP/1.1).

    sudo .venv/bin/python -m benchmarks.viewer_load [--instances 500] [--rounds 7]

Hardened: HTTPS through nginx as a radiologist (Basic sign-in, per-user rate limits, the RBAC/audit plugin
deciding and recording every request). Plain: Orthanc's own HTTP, no authentication, no plugin but DICOMweb.
Plain on PostgreSQL: the same with orthanc-postgresql as the index (hardened / plain_pg is the hardening's own cost).
Rounds rotate the order of the targets. Every status is counted: the goal is no 429 at all.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydicom.uid import generate_uid

from benchmarks.populate import populate
from benchmarks.query import keep_alive
from benchmarks.targets import bench_targets

RESULTS = Path(__file__).resolve().parent / "results"
PARALLEL = 6
GOAL_RATIO = 0.8
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'  # what OHIF asks for


def _get_all(t: dict, requests: list[tuple[str, str]], parallel: int) -> Counter:
    def worker(chunk: list[tuple[str, str]]) -> Counter:
        conn, auth = keep_alive(t)
        seen: Counter = Counter()
        for path, accept in chunk:
            conn.request("GET", path, headers={**auth, "Accept": accept})
            resp = conn.getresponse()
            resp.read()
            seen[resp.status] += 1
            if resp.will_close:
                conn.close()
                conn, auth = keep_alive(t)
        conn.close()
        return seen

    with ThreadPoolExecutor(parallel) as pool:
        return sum(pool.map(worker, [requests[i::parallel] for i in range(parallel)]), Counter())


def load_study(t: dict, patient: str, study: str, series: str, sops: list[str]) -> tuple[float, Counter]:
    """Seconds from the study list to the last frame, and every status seen on the way."""
    base = f"/dicom-web/studies/{study}/series/{series}"
    start = time.perf_counter()
    statuses = _get_all(t, [(f"/dicom-web/studies?PatientID={patient}", "application/dicom+json")], 1)
    statuses += _get_all(t, [(f"{base}/metadata", "application/dicom+json")], 1)
    frames = [(f"{base}/instances/{sop}/frames/1", FRAME_ACCEPT) for sop in sops]
    statuses += _get_all(t, frames, PARALLEL)
    return time.perf_counter() - start, statuses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    patient, study, series = "VIEWER-BENCH", generate_uid(), generate_uid()
    result: dict[str, Any] = {"instances": args.instances, "parallel": PARALLEL, "rounds": args.rounds, "targets": {}}
    with bench_targets(log=lambda m: print(m, flush=True)) as targets:
        names = ("plain", "plain_pg", "hardened")
        sops: dict[str, list[str]] = {}
        for name in names:
            start = time.perf_counter()
            stored = populate(targets[name], [(patient, study, series)], args.instances, kind="CT")
            sops[name] = [sop for *_, sop in stored]
            print(f"{name}: {len(stored)} CT slices stored in {time.perf_counter() - start:.1f}s", flush=True)
        times: dict[str, list[float]] = {n: [] for n in names}
        statuses: dict[str, Counter] = {n: Counter() for n in names}
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                seconds, seen = load_study(targets[name], patient, study, series, sops[name])
                times[name].append(seconds)
                statuses[name] += seen
                print(f"round {r + 1} {name}: {seconds:.2f}s {dict(seen)}", flush=True)
    for name in names:
        median = statistics.median(times[name])
        result["targets"][name] = {
            "seconds_median": median,
            "seconds": times[name],
            "requests_per_s": (args.instances + 2) / median,
            "statuses": {str(k): v for k, v in sorted(statuses[name].items())},
            "rate_limited": statuses[name].get(429, 0),
        }
    # Throughput relative to plain: plain's time over hardened's (1.0 = as fast, the goal is at least 0.8).
    ratio = result["targets"]["plain"]["seconds_median"] / result["targets"]["hardened"]["seconds_median"]
    result["ratio_hardened_to_plain"] = ratio
    result["ratio_hardened_to_plain_pg"] = (
        result["targets"]["plain_pg"]["seconds_median"] / result["targets"]["hardened"]["seconds_median"]
    )
    result["goal_ratio"] = GOAL_RATIO
    result["goal_met"] = ratio >= GOAL_RATIO and result["targets"]["hardened"]["rate_limited"] == 0
    # Other work on the machine skews both targets: the 1-minute load average when the rounds ended says how much.
    result["load_average_1min"] = os.getloadavg()[0]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "viewer_load.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"hardened/plain {ratio:.2f} (goal {GOAL_RATIO}); 429s: {result['targets']['hardened']['rate_limited']}")
    print(f"hardened/plain on PostgreSQL {result['ratio_hardened_to_plain_pg']:.2f}")


if __name__ == "__main__":
    main()
