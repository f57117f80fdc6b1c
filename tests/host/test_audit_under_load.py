"""The audit trail under parallel load: every request nginx answers is in the trail, none dropped on the way.

nginx hands its access lines to the audit sink as datagrams and never waits for them: one that does not fit in the
sink's queue is lost. A viewer opens 6 connections per user, a reading room many users at once.
"""

from __future__ import annotations

import base64
import http.client
import ssl
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from pacsguard.posture.clients import audit_lines, tls_context

pytestmark = pytest.mark.host

PARALLEL = 32  # connections at once: within nginx's 64 per user (render_nginx.CONNECTIONS_PER_CLIENT)
PER_CONNECTION = 25  # 800 requests in all: within the per-user burst of 2,000


def _requests(stack: dict, path: str, count: int) -> list[int]:
    url = urlsplit(stack["https_url"])
    password = stack["_users"]["radiologist1"]["password"]
    auth = "Basic " + base64.b64encode(f"radiologist1:{password}".encode()).decode()
    context: ssl.SSLContext = tls_context(stack["ca_cert"])
    conn = http.client.HTTPSConnection(url.hostname or "", url.port or 443, context=context, timeout=30)
    statuses = []
    try:
        for _ in range(count):
            conn.request("GET", path, headers={"Authorization": auth})
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        conn.close()
    return statuses


def test_every_request_of_a_parallel_burst_reaches_the_trail(stack: dict) -> None:
    path = f"/studies/{uuid.uuid4().hex}"  # an id no study has: Orthanc answers 404 at once, the fastest request
    with ThreadPoolExecutor(PARALLEL) as pool:
        statuses = [
            s for batch in pool.map(lambda _: _requests(stack, path, PER_CONNECTION), range(PARALLEL)) for s in batch
        ]
    assert statuses.count(404) == PARALLEL * PER_CONNECTION, sorted(set(statuses))
    deadline = time.monotonic() + 10  # nginx's lines are not waited for: give the sink time to drain its queue
    while True:
        records = [r for r in audit_lines(stack) if r.get("path") == path]
        if sum(r["layer"] == "nginx-http" for r in records) >= len(statuses) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    nginx = [r for r in records if r["layer"] == "nginx-http"]
    plugin = [r for r in records if r["layer"] == "orthanc-http"]
    assert len(plugin) == len(statuses)  # fail-closed: a request is served only once its record is stored
    assert len(nginx) == len(statuses), f"{len(statuses) - len(nginx)} of nginx's access lines never reached the trail"
