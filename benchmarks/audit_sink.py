"""The cost of an audited request: one record handed to the audit sink and acknowledged as stored, sequentially;
and the whole request filter (identity, RBAC decision, audit write) as Orthanc calls it for a WADO-RS request.

.venv/bin/python -m benchmarks.audit_sink      (writes benchmarks/results/audit_sink.json)
"""

from __future__ import annotations

import base64
import getpass
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "audit_sink.json"
RECORDS = 2000
WADO = "/dicom-web/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5"


@contextmanager
def running_sink() -> Iterator[object]:
    """A real audit sink (hash chain, acknowledgements) on sockets in a temporary directory; yields its config."""
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
        yield config
        stop.set()
        server.join(5)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _timed(call: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return sorted(out)


def _summary(latencies: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(latencies) * 1000, 3),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000, 3),
        "per_second_sequential": round(len(latencies) / sum(latencies)),
    }


def main() -> None:
    sys.path.insert(0, str(ROOT / "orthanc_config" / "plugin"))
    import pacsguard_audit as audit
    import pacsguard_guard as guard

    with running_sink() as config:
        log = audit.AuditLog(config.trail, config.audit_socket)
        record = audit.event(event_id="110103", event_name="DICOM Instances Accessed", action="R", outcome="0",
                             user="radiologist1", role="radiologist", source_ip="198.18.0.1", layer="orthanc-http",
                             method="GET", path="/studies/x")  # fmt: skip
        writes = _timed(lambda: log.write(record), RECORDS)
        g = guard.Guard(guard.GuardSettings(roles={"radiologist1": "radiologist"}, audit_log=config.trail,
                                            audit_socket=config.audit_socket))  # fmt: skip
        headers = {"authorization": "Basic " + base64.b64encode(b"radiologist1:x").decode(), "x-real-ip": "198.18.0.9"}
        assert g.http("GET", WADO, "127.0.0.1", headers), "the filter refused the benchmark's own request"
        filters = _timed(lambda: g.http("GET", WADO, "127.0.0.1", headers), RECORDS)
        decisions = _timed(lambda: guard.rbac.decide("radiologist", "GET", WADO), RECORDS)
    result = {
        "records": RECORDS,
        **_summary(writes),
        "filter": {"path": "WADO-RS instance, Basic radiologist", **_summary(filters)},
        "decision_only": _summary(decisions),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
