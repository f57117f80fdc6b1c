"""Fill a target's archive quickly: instances written as files, then sent by DCMTK storescu over several parallel
associations (pynetdicom, pure Python, manages about 12 instances/s and would make a 10k archive take minutes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.instances import instance
from orthanc_config.orthanc_launcher import DICOM_SOCKET_ENV

# The sender's files in memory when the machine has a tmpfs: the disk then carries only what the targets write.
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else "/var/tmp"  # noqa: S108 (mkdtemp: a private directory)
Stored = tuple[str, str, str, str]  # patient, study, series, SOP instance UID


def send_files(target: dict, files: list[Path], parallel: int = 8) -> None:
    """Every file to the target with `parallel` storescu processes; raises when any store failed."""
    shares = [files[i::parallel] for i in range(parallel) if files[i::parallel]]
    procs = [
        subprocess.Popen(
            ["storescu", *target["dcmtk"], target["host"], str(target["port"]), *map(str, share)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **DICOM_SOCKET_ENV},
        )
        for share in shares
    ]
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=3600)
        if p.returncode or b"E: " in err:
            errors.append(f"exit {p.returncode}: " + err.decode(errors="replace")[-400:])
    if errors:
        raise RuntimeError(f"storescu failed: {errors[0]}")


def populate(
    target: dict, studies: list[tuple[str, str, str]], per_study: int, kind: str = "XS", parallel: int = 8
) -> list[Stored]:
    """`per_study` new instances of `kind` in each (patient, study, series), stored on the target."""
    work = Path(tempfile.mkdtemp(prefix="pacsguard-populate-", dir=SCRATCH))
    try:
        stored, files = [], []
        for patient, study, series in studies:
            for _ in range(per_study):
                ds = instance(kind, study, series, patient_id=patient)
                path = work / f"{len(files):07}.dcm"
                ds.save_as(path, enforce_file_format=True)
                files.append(path)
                stored.append((patient, study, series, ds.SOPInstanceUID))
        send_files(target, files, parallel)
        return stored
    finally:
        shutil.rmtree(work, ignore_errors=True)
