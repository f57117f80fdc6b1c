"""Query and retrieve latency on a store of a few thousand instances: C-FIND and WADO-RS, hardened vs plain Orthanc
(SQLite) and plain Orthanc on a PostgreSQL index (the hardening's own cost, apart from the database's).

    sudo .venv/bin/python -m benchmarks.query [--instances 2000] [--queries 50] [--requests 1000]

Each C-FIND is what a workstation does: associate, query one patient's studies, release. The API requests
(QIDO-RS, WADO-RS, rendered) go over one kept-alive connection per target (HTTPS with a role user through nginx
and the RBAC/audit filter, or plain Orthanc's HTTP), alternating target by target; the hardened side also asks
nginx's own health answer, which is the TLS and nginx hop without Orthanc. The filter alone (decision and audit
write) is measured in process by benchmarks/audit_sink.py, and its share in the running stack by
benchmarks/api_path.py: the sink takes the orthanc user's records from the Orthanc server's pid only, so another
process of that user cannot time the audit write there.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import ssl
import statistics
import time
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from benchmarks.populate import Stored, populate
from benchmarks.targets import bench_targets
from orthanc_config.render_nginx import HEALTH_PATH

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = ("plain", "plain_pg", "hardened")
API_KINDS = ("qido_rs", "wado_rs", "rendered")


def _find_once(t: dict, patient: str) -> float:
    ae = AE(ae_title=t.get("find_aet", t["aet"]))
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    kwargs: dict[str, Any] = {"ae_title": t["called"]}
    if t.get("find_tls"):
        kwargs["tls_args"] = (t["find_tls"], t["host"])
    q = Dataset()
    q.QueryRetrieveLevel, q.PatientID, q.StudyInstanceUID = "STUDY", patient, ""
    start = time.perf_counter()
    assoc = ae.associate(t["host"], t["port"], **kwargs)
    assert assoc.is_established
    answers = [
        ident
        for status, ident in assoc.send_c_find(q, StudyRootQueryRetrieveInformationModelFind)
        if status and status.Status in (0xFF00, 0xFF01)
    ]
    assoc.release()
    assert len(answers) == 1
    return time.perf_counter() - start


def keep_alive(t: dict) -> tuple[http.client.HTTPConnection, dict[str, str]]:
    """One kept-alive connection as a viewer holds it: HTTPS as a role user through nginx, or Orthanc's HTTP."""
    host = t["http"].split("//")[1]
    if t["http"].startswith("https"):
        user, pw = t["user"]
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, context=ssl.create_default_context(cafile=t["ca"]), timeout=60
        )
        return conn, {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}
    return http.client.HTTPConnection(host, timeout=60), {}


def api_requests(item: Stored) -> dict[str, tuple[str, str]]:
    """The three DICOMweb requests a viewer makes most, for one stored instance: (path, Accept)."""
    patient, study, series, sop = item
    instance = f"/dicom-web/studies/{study}/series/{series}/instances/{sop}"
    return {
        "qido_rs": (f"/dicom-web/studies?PatientID={patient}", "application/dicom+json"),
        "wado_rs": (instance, 'multipart/related; type="application/dicom"'),
        "rendered": (f"{instance}/rendered", "image/jpeg"),
    }


def api_latencies(targets: dict, items: dict[str, list[Stored]], n: int) -> dict[str, dict[str, list[float]]]:
    """Each request kind n times on each target, alternating target and kind request by request on one kept-alive
    connection per target, so the machine's drift falls on both alike. On the hardened side nginx's own health
    answer (no Orthanc, no filter) measures the TLS and nginx hop by itself."""
    conns = {name: keep_alive(targets[name]) for name in TARGETS}
    out: dict[str, dict[str, list[float]]] = {name: {} for name in conns}
    picks = {name: random.sample(items[name], n) for name in conns}
    for i in range(n):
        for name in TARGETS[i % len(TARGETS) :] + TARGETS[: i % len(TARGETS)]:
            conn, auth = conns[name]
            kinds = api_requests(picks[name][i])
            if name == "hardened":
                kinds["nginx_only"] = (HEALTH_PATH, "text/plain")
            for kind, (path, accept) in kinds.items():
                start = time.perf_counter()
                conn.request("GET", path, headers={**auth, "Accept": accept})
                resp = conn.getresponse()
                body = resp.read()
                elapsed = time.perf_counter() - start
                if resp.status != 200 or not body:
                    raise RuntimeError(f"{name} {kind}: HTTP {resp.status}")
                out[name].setdefault(kind, []).append(elapsed)
    for conn, _ in conns.values():
        conn.close()
    return out


def _pct(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=20)
    return {"p50_ms": statistics.median(values) * 1000, "p95_ms": q[-1] * 1000}


def _one_stack(args: argparse.Namespace, studies: list, per_study: int) -> dict[str, Any]:
    """Every target brought up afresh, filled, and measured: C-FIND, then the API requests."""
    run: dict[str, Any] = {"targets": {}}
    with bench_targets(log=lambda m: print(m, flush=True)) as targets:
        stored = {}
        for name in TARGETS:
            t = targets[name]
            start = time.perf_counter()
            stored[name] = populate(t, studies, per_study)
            print(f"{name}: {len(stored[name])} instances stored in {time.perf_counter() - start:.1f}s", flush=True)
            finds = [_find_once(t, random.choice(studies)[0]) for _ in range(args.queries)]  # noqa: S311 (sampling)
            run["targets"][name] = {"c_find": _pct(finds)}
        api = api_latencies(targets, stored, args.requests)
    for name, kinds in api.items():
        for kind, values in kinds.items():
            run["targets"][name][kind] = _pct(values)
    h, p, pg = (run["targets"][t] for t in ("hardened", "plain", "plain_pg"))
    run["api_added_p50_ms"] = {k: h[k]["p50_ms"] - p[k]["p50_ms"] for k in API_KINDS}
    # The hardening's own cost: the same index engine on both sides.
    run["api_added_p50_ms_vs_plain_pg"] = {k: h[k]["p50_ms"] - pg[k]["p50_ms"] for k in API_KINDS}
    return run


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the stacks, each added p50 with its stacks' lowest and highest.

    Two quiet runs of one stack each gave WADO-RS added p50s of 1.8 and 2.7 ms: the stack, brought up again, moves
    the figure more than 1,000 requests on one stack do, so a figure is a median over stacks."""
    targets: dict[str, dict[str, dict[str, float]]] = {}
    for name, kinds in runs[0]["targets"].items():
        targets[name] = {
            kind: {q: statistics.median(r["targets"][name][kind][q] for r in runs) for q in ("p50_ms", "p95_ms")}
            for kind in kinds
        }
    out: dict[str, Any] = {"targets": targets, "stacks": len(runs)}
    for key in ("api_added_p50_ms", "api_added_p50_ms_vs_plain_pg"):
        out[key] = {k: statistics.median(r[key][k] for r in runs) for k in API_KINDS}
        out[key + "_range"] = {k: [min(r[key][k] for r in runs), max(r[key][k] for r in runs)] for k in API_KINDS}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1000, help="API requests of each kind per target")
    parser.add_argument("--stacks", type=int, default=3, help="times every target is brought up afresh and measured")
    args = parser.parse_args()
    if args.stacks < 1 or args.requests < 20 or args.queries < 2:
        parser.error("--stacks must be at least 1, --requests at least 20 and --queries at least 2")
    per_study = 20
    studies = [(f"PAT-{i:04d}", generate_uid(), generate_uid()) for i in range(max(1, args.instances // per_study))]
    load = [os.getloadavg()[0]]
    runs = []
    for i in range(args.stacks):
        print(f"stack {i + 1} of {args.stacks}", flush=True)
        runs.append(_one_stack(args, studies, per_study))
    result: dict[str, Any] = {"instances": len(studies) * per_study, "queries": args.queries}
    result.update(combine(runs))
    result["api_requests_per_kind"] = args.requests
    result["runs"] = runs
    result["load_average_1min"] = [*load, os.getloadavg()[0]]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "query.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["targets"], indent=1))
    nginx = result["targets"]["hardened"]["nginx_only"]["p50_ms"]
    print(
        f"added p50 (ms), median of {args.stacks} stacks: {result['api_added_p50_ms']} (goal <= 2); "
        f"nginx alone {nginx:.2f}"
    )
    print(f"added p50 over plain on PostgreSQL (ms): {result['api_added_p50_ms_vs_plain_pg']}")


if __name__ == "__main__":
    main()
