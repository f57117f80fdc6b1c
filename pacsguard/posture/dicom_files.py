"""Unique test instances built with pydicom from the CT slice pydicom ships (no download)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid


def unique_ct(directory: Path, name: str = "ct.dcm") -> tuple[Path, pydicom.Dataset]:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = "PACSGUARD^TEST"
    path = directory / name
    ds.save_as(path, enforce_file_format=True)
    return path, ds


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 (an integrity fingerprint, not a security hash)
