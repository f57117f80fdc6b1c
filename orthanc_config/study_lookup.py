"""Orthanc resource id -> StudyInstanceUIDs, read from Orthanc's PostgreSQL index with psql (root's sink only).

The sink cannot ask Orthanc over HTTP (Orthanc's port admits nginx alone), and the study a DICOM retrieve
released must be named in its record. The query walks up (series, instance) or down (patient) to the studies.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ORTHANC_ID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")
QUERY = """
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
    def __init__(self, connection_uri: str) -> None:
        self.uri = connection_uri
        self.cache: dict[str, list[str]] = {}

    @classmethod
    def from_credentials(cls, path: str) -> StudyLookup:
        return cls(json.loads(Path(path).read_text())["PostgreSQL"]["ConnectionUri"])

    def studies_of(self, orthanc_id: str) -> list[str]:
        if not ORTHANC_ID.match(orthanc_id):
            return []
        if orthanc_id not in self.cache:
            try:
                res = subprocess.run(
                    ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"id={orthanc_id}", "-f", "-",
                     self.uri],
                    input=QUERY, capture_output=True, text=True, timeout=10, check=False,
                    env={"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8"},
                )  # fmt: skip
            except (OSError, subprocess.TimeoutExpired):  # the index is restarting: the record names no study
                return []
            if res.returncode != 0:
                return []
            self.cache[orthanc_id] = [x for x in res.stdout.split() if x]
        return self.cache[orthanc_id]
