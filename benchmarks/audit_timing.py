"""How long `pacsguard audit` takes on a fixture account holding a whole prod stack (moto on loopback).

.venv/bin/python -m benchmarks.audit_timing
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(runs: int = 3) -> None:
    from policies.cloud.api import AwsApi
    from policies.cloud.audit import run_audit
    from policies.cloud.context import CloudContext
    from tests.audit.account import ACCOUNT, REGION, STACK
    from tests.audit.emulated import emulated_prod_account

    times, calls, findings = [], 0, 0
    with emulated_prod_account() as (url, _ids):
        for _ in range(runs):
            api = AwsApi(region=REGION, endpoint_url=url, account_id=ACCOUNT)
            start = time.perf_counter()
            result = run_audit(CloudContext(api=api, stack=STACK))
            times.append(time.perf_counter() - start)
            calls, findings = len(api.calls), len(result)
    load = os.getloadavg()[0]
    doc = {
        "audit_median_s": statistics.median(times),
        "runs": times,
        "distinct_operations": calls,
        "findings": findings,
        "load_average_1min": round(load, 2),  # the machine is shared: a loaded one stretches every figure
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit_timing.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(
        f"audit of a whole prod stack on moto: {doc['audit_median_s']:.2f}s median "
        f"({findings} findings, {calls} operations)"
    )


if __name__ == "__main__":
    main()
