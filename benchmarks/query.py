"""Query and retrieve latency on a store of a few thousand instances: C-FIND and WADO-RS, hardened vs plain.

    sudo .venv/bin/python -m benchmarks.query [--instances 2000] [--queries 50]

Each C-FIND is what a workstation does: associate, query one patient's studies, release. Each WADO-RS
retrieves one instance over a kept-alive connection (HTTPS with a role user through nginx, or plain HTTP).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import random
import ssl
import statistics
import time
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelFind

from benchmarks.instances import instance
from benchmarks.targets import bench_targets

RESULTS = Path(__file__).resolve().parent / "results"


def _populate(
    t: dict, studies: list[tuple[str, str, str]], per_study: int, kind: str = "XS"
) -> list[tuple[str, str, str, str]]:
    ae = AE(ae_title=t["aet"])
    ae.add_requested_context(CTImageStorage)
    kwargs: dict[str, Any] = {"ae_title": t["called"]}
    if t.get("tls"):
        kwargs["tls_args"] = (t["tls"], t["host"])
    assoc = ae.associate(t["host"], t["port"], **kwargs)
    assert assoc.is_established
    stored = []
    for patient, study, series in studies:
        for _ in range(per_study):
            ds = instance(kind, study, series, patient_id=patient)
            assert assoc.send_c_store(ds).Status == 0
            stored.append((patient, study, series, ds.SOPInstanceUID))
    assoc.release()
    return stored


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


def _wado(t: dict, items: list[tuple[str, str, str, str]], n: int) -> list[float]:
    host = t["http"].split("//")[1]
    if t["http"].startswith("https"):
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, context=ssl.create_default_context(cafile=t["ca"]), timeout=30
        )
        user, pw = t["user"]
        headers = {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}
    else:
        conn, headers = http.client.HTTPConnection(host, timeout=30), {}
    headers["Accept"] = 'multipart/related; type="application/dicom"'
    out = []
    for _, study, series, sop in random.sample(items, n):
        start = time.perf_counter()
        conn.request("GET", f"/dicom-web/studies/{study}/series/{series}/instances/{sop}", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200 and body, resp.status
        out.append(time.perf_counter() - start)
    conn.close()
    return out


def _pct(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=20)
    return {"p50_ms": statistics.median(values) * 1000, "p95_ms": q[-1] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    per_study = 20
    studies = [(f"PAT-{i:04d}", generate_uid(), generate_uid()) for i in range(max(1, args.instances // per_study))]
    result: dict[str, Any] = {"instances": len(studies) * per_study, "queries": args.queries, "targets": {}}
    with bench_targets(log=lambda m: print(m, flush=True)) as targets:
        for name in ("plain", "hardened"):
            t = targets[name]
            start = time.perf_counter()
            stored = _populate(t, studies, per_study)
            print(f"{name}: {len(stored)} instances stored in {time.perf_counter() - start:.1f}s", flush=True)
            finds = [_find_once(t, random.choice(studies)[0]) for _ in range(args.queries)]  # noqa: S311 (sampling)
            wado = _wado(t, stored, args.queries)
            result["targets"][name] = {"c_find": _pct(finds), "wado_rs": _pct(wado)}
            print(
                f"{name}: C-FIND {result['targets'][name]['c_find']}  WADO-RS {result['targets'][name]['wado_rs']}",
                flush=True,
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "query.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
