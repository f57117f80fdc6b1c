"""How long `pacsguard audit` takes on a fixture account holding a whole prod stack (moto on loopback).

.venv/bin/python -m benchmarks.audit_timing
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(runs: int = 3) -> None:
    from moto.server import ThreadedMotoServer

    from policies.cloud.api import AwsApi
    from policies.cloud.audit import run_audit
    from policies.cloud.context import CloudContext
    from tests.audit.account import ACCOUNT, REGION, STACK, build
    from tests.audit.conftest import Clients

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        build(Clients(url))
        times, calls, findings = [], 0, 0
        for _ in range(runs):
            api = AwsApi(region=REGION, endpoint_url=url, account_id=ACCOUNT)
            start = time.perf_counter()
            result = run_audit(CloudContext(api=api, stack=STACK))
            times.append(time.perf_counter() - start)
            calls, findings = len(api.calls), len(result)
    finally:
        server.stop()
    doc = {
        "audit_median_s": statistics.median(times),
        "runs": times,
        "distinct_operations": calls,
        "findings": findings,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit_timing.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(
        f"audit of a whole prod stack on moto: {doc['audit_median_s']:.2f}s median "
        f"({findings} findings, {calls} operations)"
    )


if __name__ == "__main__":
    main()
