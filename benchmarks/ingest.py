"""C-STORE ingest: the hardened local stack vs plain Orthanc, with DCMTK storescp over TLS as the wire's ceiling.

    sudo .venv/bin/python -m benchmarks.ingest [--instances 60] [--rounds 3]

Same machine, same instances, interleaved round by round (the order rotates each round) so drift in the
machine hits every target alike. Plain Orthanc (no TLS, SQLite, no plugin) and storescp run in a namespace of
their own: Orthanc cannot bind to one address, so it is never started in the machine's own namespace.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from benchmarks.instances import batch, size_mb
from benchmarks.targets import bench_targets

RESULTS = Path(__file__).resolve().parent / "results"


def send(targets: dict, name: str, instances: list) -> float:
    t = targets[name]
    ae = AE(ae_title=t["aet"])
    ae.add_requested_context(CTImageStorage)
    ae.maximum_pdu_size = 0
    kwargs = {"ae_title": t["called"]}
    if t.get("tls"):
        kwargs["tls_args"] = (t["tls"], t["host"])
    start = time.perf_counter()
    assoc = ae.associate(t["host"], t["port"], **kwargs)
    assert assoc.is_established, f"{name}: association refused"
    for ds in instances:
        status = assoc.send_c_store(ds)
        assert status and status.Status == 0, f"{name}: C-STORE failed ({status})"
    assoc.release()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with bench_targets(log=lambda m: print(m, flush=True)) as targets:
        order = list(targets)
        seconds: dict[str, list[float]] = {k: [] for k in order}
        sizes: dict[str, float] = {k: 0.0 for k in order}
        counts: dict[str, int] = {k: 0 for k in order}
        for r in range(args.rounds):
            rotated = order[r % len(order) :] + order[: r % len(order)]
            for name in rotated:
                instances = batch(args.instances)  # fresh UIDs: every store is a new instance
                seconds[name].append(send(targets, name, instances))
                sizes[name] += sum(size_mb(ds) for ds in instances)
                counts[name] += len(instances)
                print(f"round {r + 1}: {name:13} {len(instances)} instances in {seconds[name][-1]:.2f}s", flush=True)
        result: dict[str, Any] = {"instances_per_round": args.instances, "rounds": args.rounds, "targets": {}}
        for name in order:
            total = sum(seconds[name])
            result["targets"][name] = {
                "instances_per_s": counts[name] / total,
                "mb_per_s": sizes[name] / total,
                "round_seconds": seconds[name],
                "median_round_s": statistics.median(seconds[name]),
            }
        t = result["targets"]
        result["ratio_hardened_to_plain"] = t["hardened"]["instances_per_s"] / t["plain"]["instances_per_s"]
        result["ratio_hardened_to_ceiling"] = t["hardened"]["instances_per_s"] / t["storescp_tls"]["instances_per_s"]
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
        for name in order:
            print(f"{name:13} {t[name]['instances_per_s']:7.1f} inst/s {t[name]['mb_per_s']:7.1f} MB/s")
        print(
            f"hardened/plain = {result['ratio_hardened_to_plain']:.2f} (goal >= 0.8); "
            f"hardened/ceiling = {result['ratio_hardened_to_ceiling']:.2f}"
        )


if __name__ == "__main__":
    main()
