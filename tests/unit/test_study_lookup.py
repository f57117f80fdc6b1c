"""The audit sink's Orthanc id -> StudyInstanceUID lookup (one psql process per question, ~0.2 s on a busy host):
cached for ids that name one study forever, never for a patient (whose studies change) nor for an unknown id."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from orthanc_config import study_lookup

INSTANCE = "9430d7ea-94c509ea-58d1fcdb-6c3cedc6-3bbb59f4"
PATIENT = "11111111-22222222-33333333-44444444-55555555"


class FakeIndex:
    """Answers psql as the real query prints: 'level=<resourcetype>' then one StudyInstanceUID a line."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, list[str]]] = {INSTANCE: (3, ["1.2.3"]), PATIENT: (0, ["1.2.3"])}
        self.counts: dict[str, int] = {}  # instances each resource holds ('instances=<n>' in the output)
        self.asked: list[str] = []

    def run(self, cmd: list[str], **_kw: object) -> subprocess.CompletedProcess[str]:
        oid = next(a.split("=", 1)[1] for a in cmd if a.startswith("id="))
        self.asked.append(oid)
        level, studies = self.rows.get(oid, (None, []))
        count = [f"instances={self.counts[oid]}"] if oid in self.counts else []
        out = "" if level is None else "\n".join([f"level={level}", *count, *studies]) + "\n"
        return subprocess.CompletedProcess(cmd, 0, out, "")


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> FakeIndex:
    fake = FakeIndex()
    monkeypatch.setattr(study_lookup.subprocess, "run", fake.run)
    return fake


def lookup(size: int = study_lookup.CACHE_SIZE) -> Callable[[str], list[str]]:
    return study_lookup.StudyLookup("postgresql://orthanc@127.0.0.1/orthanc", cache_size=size).studies_of


def test_an_instance_is_asked_of_the_index_once(index: FakeIndex) -> None:
    studies_of = lookup()
    assert studies_of(INSTANCE) == studies_of(INSTANCE) == ["1.2.3"]
    assert index.asked == [INSTANCE]


def test_a_patient_is_asked_anew_and_names_a_study_that_arrived_since(index: FakeIndex) -> None:
    studies_of = lookup()
    assert studies_of(PATIENT) == ["1.2.3"]
    index.rows[PATIENT] = (0, ["1.2.3", "1.2.4"])  # a new study of the same patient
    assert studies_of(PATIENT) == ["1.2.3", "1.2.4"]


def test_an_unknown_id_is_not_remembered_as_having_no_study(index: FakeIndex) -> None:
    studies_of = lookup()
    new = "aaaaaaaa-bbbbbbbb-cccccccc-dddddddd-eeeeeeee"
    assert studies_of(new) == []
    index.rows[new] = (3, ["1.2.9"])  # the instance arrives
    assert studies_of(new) == ["1.2.9"]


def test_the_cache_is_bounded(index: FakeIndex) -> None:
    studies_of = lookup(size=2)
    ids = [f"{i:08x}-00000000-00000000-00000000-00000000" for i in range(3)]
    for oid in ids:
        index.rows[oid] = (2, ["1.2.3"])
        studies_of(oid)
    studies_of(ids[0])  # the oldest was dropped: asked again
    assert index.asked == [*ids, ids[0]]


def test_the_instances_a_resource_holds_are_asked_every_time(index: FakeIndex) -> None:
    """A C-MOVE sends every instance of the study it names; the study grows as instances arrive, so its count is
    never cached (its study UID is)."""
    look = study_lookup.StudyLookup("postgresql://orthanc@127.0.0.1/orthanc")
    study = "0000aaaa-00000000-00000000-00000000-00000000"
    index.rows[study] = (1, ["1.2.3"])
    index.counts[study] = 2
    assert look.instances_of(study) == 2
    index.counts[study] = 3  # another instance of the study arrived
    assert look.instances_of(study) == 3
    assert look.instances_of("not-an-id") == 0 and look.studies_of(study) == ["1.2.3"]
