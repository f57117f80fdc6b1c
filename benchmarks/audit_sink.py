"""The cost of an audited request: one record handed to the audit sink and acknowledged as stored, sequentially.

.venv/bin/python -m benchmarks.audit_sink      (writes benchmarks/results/audit_sink.json)
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "audit_sink.json"
RECORDS = 2000


def main() -> None:
    sys.path.insert(0, str(ROOT / "orthanc_config" / "plugin"))
    import getpass

    import pacsguard_audit as audit

    from orthanc_config.audit_sink import Sink, SinkConfig

    work = Path(tempfile.mkdtemp(prefix="pacsguard-sink-bench-"))
    try:
        config = SinkConfig(
            trail=str(work / "audit.jsonl"), audit_socket=str(work / "audit.sock"),
            orthanc_socket=str(work / "orthanc.sock"), orthanc_log=str(work / "orthanc.log"),
            reader_group="root", plugin_user=getpass.getuser(),
        )  # fmt: skip
        sink, stop, ready = Sink(config), threading.Event(), threading.Event()
        server = threading.Thread(target=sink.serve, args=(stop, ready), daemon=True)
        server.start()
        ready.wait(5)
        log = audit.AuditLog(config.trail, config.audit_socket)
        record = audit.event(event_id="110103", event_name="DICOM Instances Accessed", action="R", outcome="0",
                             user="radiologist1", role="radiologist", source_ip="198.18.0.1", layer="orthanc-http",
                             method="GET", path="/studies/x")  # fmt: skip
        latencies = []
        for _ in range(RECORDS):
            start = time.perf_counter()
            log.write(record)
            latencies.append(time.perf_counter() - start)
        stop.set()
        server.join(5)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    latencies.sort()
    result = {
        "records": RECORDS,
        "median_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(latencies[int(RECORDS * 0.95)] * 1000, 2),
        "per_second_sequential": round(RECORDS / sum(latencies)),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
