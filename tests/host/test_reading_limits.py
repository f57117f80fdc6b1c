"""Rate limits that fit reading: keyed by the signed-in user, by address only before sign-in, guesses limited apart."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orthanc_config.local_stack import restart_orthanc
from orthanc_config.plugin.pacsguard_lockout import DEFAULT_MAX_FAILURES
from tests.host.reading import ReadingStudy, dicomweb, own_ca_bundle, reading_study

pytestmark = pytest.mark.host

STUDY_IMAGES = 1000
VIEWER_PARALLELISM = 10


@pytest.fixture(scope="module")
def study(stack: dict) -> Iterator[ReadingStudy]:
    with own_ca_bundle():
        s = reading_study()
        dicomweb(stack, "technologist1").store_instances([s.plain])
        yield s


def _load(stack: dict, user: str | None, paths: list[str], parallel: int, source: str | None = None,
          password: str | None = None) -> Counter:  # fmt: skip
    """GET every path over `parallel` kept-alive HTTPS connections, as a viewer does; count the statuses."""
    host = stack["https_url"].split("//")[1].strip("/")
    headers = {}
    if user is not None:
        pw = password if password is not None else stack["_users"][user]["password"]
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
    ctx = ssl.create_default_context(cafile=stack["ca_cert"])
    chunks = [paths[i::parallel] for i in range(parallel)]

    def connect() -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            host, context=ctx, timeout=30, source_address=(source, 0) if source else None
        )

    def worker(chunk: list[str]) -> Counter:
        conn = connect()
        seen: Counter = Counter()
        for path in chunk:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            seen[resp.status] += 1
            if resp.will_close:
                conn.close()
                conn = connect()
        conn.close()
        return seen

    with ThreadPoolExecutor(parallel) as pool:
        return sum(pool.map(worker, chunks), Counter())


def viewer_requests(study: ReadingStudy, images: int) -> list[str]:
    """What a viewer asks for a study of `images` images: the study list, series metadata, then a frame per image."""
    series = f"/dicom-web/studies/{study.study_uid}/series/{study.series_uid}"
    frame = f"{series}/instances/{study.plain.SOPInstanceUID}/frames/1"
    return [f"/dicom-web/studies?PatientID={study.patient_id}", f"{series}/metadata", *[frame] * images]


def test_a_1000_image_study_at_10_parallel_requests_loads_without_a_429(stack: dict, study: ReadingStudy) -> None:
    statuses = _load(stack, "radiologist1", viewer_requests(study, STUDY_IMAGES), VIEWER_PARALLELISM)
    assert statuses == Counter({200: STUDY_IMAGES + 2}), statuses


def test_two_viewers_behind_one_address_are_limited_each_on_their_own(stack: dict, study: ReadingStudy) -> None:
    paths = viewer_requests(study, 606)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda user: _load(stack, user, paths, 6), ["radiologist1", "admin"]))
    for statuses in results:
        assert statuses == Counter({200: len(paths)}), statuses


def test_requests_that_name_no_user_are_limited_by_address(stack: dict) -> None:
    unbound = stack["source_addresses"]["unbound"]
    statuses = _load(stack, None, ["/studies"] * 120, 10, source=unbound)
    assert statuses[429] > 0 and set(statuses) <= {401, 429}, statuses
    # a signed-in user at the same address is not held back by that address's anonymous budget
    assert _load(stack, "radiologist1", ["/studies"], 1, source=unbound) == Counter({200: 1})


def test_repeated_failed_sign_ins_lock_the_guesser_out(stack: dict) -> None:
    unbound = stack["source_addresses"]["unbound"]
    try:
        guesses = _load(stack, "radiologist1", ["/studies"] * DEFAULT_MAX_FAILURES, 1, source=unbound, password="x")
        assert guesses == Counter({401: DEFAULT_MAX_FAILURES}), guesses
        # now even the right password is refused from there, so a hit looks like a miss...
        assert _load(stack, "radiologist1", ["/studies"], 1, source=unbound) == Counter({403: 1})
        assert _load(stack, "radiologist1", ["/studies"], 1, source=unbound, password="x") == Counter({403: 1})
        # ... while the same user from another address, and a colleague at this one, read on
        assert _load(stack, "radiologist1", ["/studies"], 1) == Counter({200: 1})
        assert _load(stack, "admin", ["/studies"], 1, source=unbound) == Counter({200: 1})
        lines = Path(stack["auth_failure_log"]).read_text().splitlines()
        failures = [json.loads(line) for line in lines if line.strip()]
        assert sum(1 for f in failures if f["source_ip"] == unbound and f["user"] == "radiologist1") >= 10
    finally:
        restart_orthanc(stack["_options"], say=lambda _m: None)  # the lockout lives in Orthanc's memory
