"""Orthanc resource id -> StudyInstanceUIDs, read from Orthanc's PostgreSQL index with psql (root's sink only).

The sink cannot ask Orthanc over HTTP (Orthanc's port admits nginx alone), and the study a DICOM retrieve
released must be named in its record. The query walks up (series, instance) or down (patient) to the studies.

Answers are cached, boundedly: an Orthanc id of a study, series or instance is a hash of the DICOM UIDs above it,
so it names one study forever. A patient's studies change as studies arrive, so a patient is asked anew every
time, and so is an id the index did not know (it may arrive later).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import OrderedDict
from pathlib import Path

ORTHANC_ID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")
CACHE_SIZE = 10_000  # ids remembered (~1 MB): a long C-MOVE names one study per instance
PATIENT = 0  # Orthanc's resourcetype of a patient; 1 study, 2 series, 3 instance
QUERY = """
SELECT 'level=' || resourcetype FROM resources WHERE publicid = :'id';
WITH RECURSIVE below AS (SELECT internalid, resourcetype FROM resources WHERE publicid = :'id'
UNION ALL SELECT r.internalid, r.resourcetype FROM resources r JOIN below ON r.parentid = below.internalid)
SELECT 'instances=' || count(*) FROM below WHERE resourcetype = 3;
WITH RECURSIVE start AS (SELECT internalid, resourcetype, parentid FROM resources WHERE publicid = :'id'),
up AS (SELECT * FROM start UNION ALL
       SELECT r.internalid, r.resourcetype, r.parentid FROM resources r JOIN up ON r.internalid = up.parentid),
down AS (SELECT * FROM start UNION ALL
         SELECT r.internalid, r.resourcetype, r.parentid FROM resources r JOIN down ON r.parentid = down.internalid
         WHERE down.resourcetype < 1)
SELECT DISTINCT d.value FROM dicomidentifiers d
WHERE d.taggroup = 32 AND d.tagelement = 13
  AND d.id IN (SELECT internalid FROM up WHERE resourcetype = 1
               UNION SELECT internalid FROM down WHERE resourcetype = 1);
"""


class StudyLookup:
    def __init__(self, connection_uri: str, cache_size: int = CACHE_SIZE) -> None:
        self.uri = connection_uri
        self.cache: OrderedDict[str, list[str]] = OrderedDict()
        self.cache_size = cache_size

    @classmethod
    def from_credentials(cls, path: str) -> StudyLookup:
        return cls(json.loads(Path(path).read_text())["PostgreSQL"]["ConnectionUri"])

    def studies_of(self, orthanc_id: str) -> list[str]:
        if not ORTHANC_ID.match(orthanc_id):
            return []
        if orthanc_id in self.cache:
            self.cache.move_to_end(orthanc_id)
            return list(self.cache[orthanc_id])
        return self._ask(orthanc_id)[1]

    def instances_of(self, orthanc_id: str) -> int:
        """How many instances the resource holds: what a C-MOVE of it sends (Orthanc logs no line per instance
        it moves). Asked every time: a study or series grows as instances arrive."""
        return self._ask(orthanc_id)[0] if ORTHANC_ID.match(orthanc_id) else 0

    def _ask(self, orthanc_id: str) -> tuple[int, list[str]]:
        """(instances, studies) of a resource, from the index; its studies are remembered (see above)."""
        try:
            res = subprocess.run(
                ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"id={orthanc_id}", "-f", "-",
                 self.uri],
                input=QUERY, capture_output=True, text=True, timeout=10, check=False,
                env={"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8"},
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):  # the index is restarting: the record names no study
            return 0, []
        if res.returncode != 0:
            return 0, []
        words = [x for x in res.stdout.split() if x]
        levels = [int(w.split("=", 1)[1]) for w in words if w.startswith("level=")]
        counts = [int(w.split("=", 1)[1]) for w in words if w.startswith("instances=")]
        studies = [w for w in words if not w.startswith(("level=", "instances="))]
        if studies and levels and levels[0] != PATIENT:
            self.cache[orthanc_id] = studies
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return (counts[0] if counts else 0), studies
