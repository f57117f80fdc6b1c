"""Ingest and query as the archive grows: both targets filled step by step to each size (small generated instances,
DCMTK storescu over 8 associations, loopback and the project's namespaces only); at each size the step's ingest
rate, then C-FIND, QIDO-RS and WADO-RS latency, hardened vs plain.

    sudo .venv/bin/python -m benchmarks.scale [--sizes 1000 10000] [--max-minutes 20]

100,000 instances: `--sizes 1000 10000 100000 --output scale_100k.json` (`make bench-scale`), run apart from
`make bench` because filling it takes most of an hour on a 2-core machine. Growth stops at the first size that would
start after --max-minutes (recorded as `stopped_at`), and before a step whose files would leave less than 2 GB free.
Each step is sent in chunks of CHUNK instances, so the sender's scratch files stay bounded; each step records its
wall time and the disk every archive (files and index) takes. Writes benchmarks/results/scale.json (or --output).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from pydicom.uid import generate_uid

from benchmarks.populate import Stored, populate
from benchmarks.query import _find_once, _pct, keep_alive
from benchmarks.targets import bench_targets

RESULTS = Path(__file__).resolve().parent / "results"
PER_STUDY = 50
INSTANCE_KB = 20  # an XS instance on disk, with its index rows and slack
FREE_FLOOR_BYTES = 2 * 1024**3
TARGETS = ("plain", "hardened")
CHUNK = 10_000  # instances generated and sent at a time: ~100 MB of scratch files


def disk_bytes(folder: Path) -> int:
    """Bytes of every file under `folder` (the archive's files, or a PostgreSQL cluster's data directory)."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def archive_bytes(t: dict) -> dict[str, int]:
    """What the archive takes on disk: its files, and for the hardened stack its PostgreSQL cluster (the index)."""
    out = {"files": disk_bytes(Path(t["storage"]))}
    if "state_dir" in t:
        out["index"] = disk_bytes(Path(t["state_dir"]) / "postgres")
    return out


def fill(t: dict, studies: list[tuple[str, str, str]]) -> list[Stored]:
    per_chunk = max(1, CHUNK // PER_STUDY)
    stored: list[Stored] = []
    for i in range(0, len(studies), per_chunk):
        stored += populate(t, studies[i : i + per_chunk], PER_STUDY)
    return stored


def _latencies(t: dict, stored: list[Stored], n: int) -> dict[str, dict[str, float]]:
    conn, auth = keep_alive(t)
    out: dict[str, list[float]] = {"qido_rs": [], "wado_rs": []}
    for patient, study, series, sop in random.sample(stored, n):
        for kind, path, accept in (
            ("qido_rs", f"/dicom-web/studies?PatientID={patient}", "application/dicom+json"),
            ("wado_rs", f"/dicom-web/studies/{study}/series/{series}/instances/{sop}",
             'multipart/related; type="application/dicom"'),
        ):  # fmt: skip
            start = time.perf_counter()
            conn.request("GET", path, headers={**auth, "Accept": accept})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200 or not body:
                raise RuntimeError(f"{kind}: HTTP {resp.status}")
            out[kind].append(time.perf_counter() - start)
    conn.close()
    return {k: _pct(v) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--max-minutes", type=float, default=20)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--output", default="scale.json", help="file name under benchmarks/results/")
    args = parser.parse_args()
    began = time.monotonic()
    result: dict[str, Any] = {"per_study": PER_STUDY, "steps": [], "load_average_1min": [os.getloadavg()[0]]}
    stored: dict[str, list[Stored]] = {t: [] for t in TARGETS}
    with bench_targets(log=lambda m: print(m, flush=True)) as targets:
        size = 0
        for goal in sorted(args.sizes):
            if time.monotonic() - began > args.max_minutes * 60:
                result["stopped_at"] = {"size": size, "reason": f"--max-minutes {args.max_minutes} reached"}
                break
            grow = goal - size
            if (
                shutil.disk_usage(targets["plain"]["storage"]).free - grow * INSTANCE_KB * 1024 * len(TARGETS)
                < FREE_FLOOR_BYTES
            ):
                result["stopped_at"] = {"size": size, "reason": "not enough free disk for the next step"}
                break
            studies = [(f"SCALE-{size + i:07d}", generate_uid(), generate_uid()) for i in range(0, grow, PER_STUDY)]
            step: dict[str, Any] = {"instances": goal, "targets": {}}
            for name in TARGETS if len(result["steps"]) % 2 == 0 else TARGETS[::-1]:
                t = targets[name]
                start = time.perf_counter()
                stored[name] += fill(t, studies)
                seconds = time.perf_counter() - start  # includes writing the files, alike for both targets
                finds = [_find_once(t, random.choice(stored[name])[0]) for _ in range(args.queries)]  # noqa: S311
                step["targets"][name] = {
                    "ingest_instances_per_s": grow / seconds,
                    "fill_seconds": seconds,
                    "disk_bytes": archive_bytes(t),
                    "c_find": _pct(finds),
                    **_latencies(t, stored[name], args.queries),
                }
                print(f"{goal} instances, {name}: {json.dumps(step['targets'][name])}", flush=True)
            result["steps"].append(step)
            size = goal
    result["minutes"] = (time.monotonic() - began) / 60
    result["load_average_1min"].append(os.getloadavg()[0])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
