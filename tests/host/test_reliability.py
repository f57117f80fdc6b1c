"""Reliability under load and faults: nothing acknowledged is ever lost, failures are visible to the sender.

All traffic goes to the test stack's own namespace address. Timing figures are printed, never asserted."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest
from pynetdicom.sop_class import CTImageStorage

from benchmarks.instances import instance
from orthanc_config.local_stack import restart_orthanc
from pacsguard.posture.clients import associate, https, modality_ctx

pytestmark = pytest.mark.host


def _pixel_md5(ds: pydicom.Dataset) -> str:
    return hashlib.md5(ds.PixelData).hexdigest()  # noqa: S324 (integrity fingerprint)


def _polite(stack: dict, *args, **kwargs):
    """HTTPS that backs off on 429: read-back verification must not trip the rate limit it is not testing."""
    for attempt in range(50):
        answer = https(stack, *args, **kwargs)
        if answer[0] != 429:
            return answer
        time.sleep(0.1 * (1 + attempt % 5))
    return answer


def _stored_pixel_md5(stack: dict, sop_uid: str) -> str | None:
    code, body, _ = _polite(stack, "POST", "/tools/lookup", "admin", body=sop_uid.encode())
    hits = [r["ID"] for r in json.loads(body) if r["Type"] == "Instance"] if code == 200 else []
    if not hits:
        return None
    code, data, _ = _polite(stack, "GET", f"/instances/{hits[0]}/file", "radiologist1")
    import io

    return _pixel_md5(pydicom.dcmread(io.BytesIO(data))) if code == 200 else None


def _send(stack: dict, datasets: list, acked: list | None = None) -> list[float]:
    """One association; C-STORE each instance, recording acknowledged UIDs and per-store latency."""
    aet = stack["modalities"][0]["aet"]
    assoc = associate(stack, aet=aet, ctx=modality_ctx(stack, aet), contexts=(CTImageStorage,))
    assert assoc.is_established
    latencies = []
    try:
        for ds in datasets:
            start = time.perf_counter()
            status = assoc.send_c_store(ds)
            if not status or status.Status != 0:
                break
            latencies.append(time.perf_counter() - start)
            if acked is not None:
                acked.append(ds)
    finally:
        if assoc.is_established:
            assoc.release()
    return latencies


@pytest.mark.parametrize("modalities", [8, 16])
def test_concurrent_modalities_lose_nothing(stack: dict, modalities: int) -> None:
    per_modality = 4
    batches = [[instance("CT") for _ in range(per_modality)] for _ in range(modalities)]
    with ThreadPoolExecutor(max_workers=modalities) as pool:
        results = list(pool.map(lambda b: _send(stack, b), batches))
    latencies = [x for r in results for x in r]
    assert len(latencies) == modalities * per_modality, "some C-STORE failed"
    for ds in (ds for b in batches for ds in b):
        assert _stored_pixel_md5(stack, ds.SOPInstanceUID) == _pixel_md5(ds), ds.SOPInstanceUID
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"\n{modalities} concurrent modalities: {len(latencies)} stores, p95 C-STORE latency {p95 * 1000:.0f} ms")


def test_kill_9_during_ingest_loses_no_acknowledged_instance(stack: dict) -> None:
    datasets = [instance("CT") for _ in range(40)]
    acked: list = []
    sender = threading.Thread(target=lambda: _try(lambda: _send(stack, datasets, acked)))
    sender.start()
    deadline = time.monotonic() + 30
    while len(acked) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = int((Path(stack["state_dir"]) / "orthanc.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    sender.join(30)
    assert 8 <= len(acked) < len(datasets), f"{len(acked)} acknowledged: the kill did not land mid-ingest"
    restart_orthanc(stack["_options"], say=lambda _m: None)
    for ds in acked:
        assert _stored_pixel_md5(stack, ds.SOPInstanceUID) == _pixel_md5(ds), (
            f"acknowledged {ds.SOPInstanceUID} lost or damaged"
        )


def test_database_restart_during_ingest_fails_visibly_and_recovers(stack: dict) -> None:
    from orthanc_config import local_postgres
    from orthanc_config.layout import HostLayout
    from orthanc_config.local_stack import local_profile

    opts = stack["_options"]
    layout = HostLayout(local_profile(opts))
    datasets = [instance("CT") for _ in range(40)]
    acked: list = []
    errors: list = []
    sender = threading.Thread(target=lambda: _try(lambda: _send(stack, datasets, acked), errors))
    sender.start()
    while len(acked) < 5 and sender.is_alive():
        time.sleep(0.01)
    prefix = ["ip", "netns", "exec", opts.name]
    log = layout.state / "postgres-log" / "postgres.log"
    # -l: the new postmaster must not inherit our pipes, or this call would wait for it forever.
    pg_ctl = [
        str(local_postgres.PG_BIN / "pg_ctl"),
        "-D",
        str(layout.database_data),
        "-l",
        str(log),
        "-m",
        "fast",
        "-w",
        "restart",
    ]
    subprocess.run([*prefix, "runuser", "-u", "postgres", "--", *pg_ctl], check=True, capture_output=True, timeout=60)
    sender.join(60)
    # Every acknowledged store survived; the rest were refused or aborted where the sender could see it.
    for ds in acked:
        assert _stored_pixel_md5(stack, ds.SOPInstanceUID) == _pixel_md5(ds)
    unacked = [ds for ds in datasets if ds not in acked]
    for ds in unacked:
        assert _stored_pixel_md5(stack, ds.SOPInstanceUID) in (None, _pixel_md5(ds))  # never a damaged copy
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _try(lambda: _send(stack, [instance("CT")])):
            break
        time.sleep(1)
    else:
        pytest.fail("Orthanc did not recover after the database restart")


def _try(fn, errors: list | None = None):
    try:
        return fn()
    except Exception as exc:  # the sender's failure is the point of these tests
        if errors is not None:
            errors.append(exc)
        return None
