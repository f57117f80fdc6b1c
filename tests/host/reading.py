"""What a radiologist's tools need from the local stack: a DICOMweb client per user, a study with a JPEG 2000 image."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless, generate_uid


@contextmanager
def own_ca_bundle() -> Iterator[None]:
    """This machine exports REQUESTS_CA_BUNDLE, which would override a session's verify= (the stack's own CA)."""
    saved = os.environ.pop("REQUESTS_CA_BUNDLE", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["REQUESTS_CA_BUNDLE"] = saved


def session_for(stack: dict, user: str | None) -> requests.Session:
    session = requests.Session()
    session.verify = stack["ca_cert"]
    session.trust_env = False  # the stack's CA, and no proxy between the test and the namespace
    if user is not None:
        session.auth = (user, stack["_users"][user]["password"])
    return session


def dicomweb(stack: dict, user: str | None) -> DICOMwebClient:
    return DICOMwebClient(url=stack["https_url"].rstrip("/") + "/dicom-web", session=session_for(stack, user))


@dataclass(frozen=True)
class ReadingStudy:
    study_uid: str
    series_uid: str
    plain: Dataset  # explicit VR little endian
    j2k: Dataset  # JPEG 2000 lossless, same pixels as `plain`
    patient_id: str


def reading_study() -> ReadingStudy:
    """Two CT slices in one series: one uncompressed, one JPEG 2000 (encoded here with pylibjpeg-openjpeg)."""
    study, series, patient = generate_uid(), generate_uid(), f"PGREAD-{generate_uid()[-8:]}"
    out = []
    for number in (1, 2):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName, ds.PatientID = "PACSGUARD^READER", patient
        ds.StudyDescription, ds.InstanceNumber = "PACSGuard reading test", number
        out.append(ds)
    out[1].compress(JPEG2000Lossless)
    return ReadingStudy(study, series, out[0], out[1], patient)


def ct_series(slices: int, patient_id: str | None = None) -> list[Dataset]:
    """A CT series a viewer can stack: `slices` slices of pydicom's CT sample, positioned 5 mm apart."""
    study, series = generate_uid(), generate_uid()
    patient = patient_id or f"PGVIEW-{generate_uid()[-8:]}"
    out = []
    for number in range(1, slices + 1):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName, ds.PatientID = "PACSGUARD^VIEWER", patient
        ds.StudyDescription, ds.SeriesDescription = "PACSGuard viewer test", "CT series"
        ds.InstanceNumber = number
        ds.ImagePositionPatient = [-158.1, -179.0, -75.7 - 5.0 * number]
        ds.SliceLocation = -75.7 - 5.0 * number
        out.append(ds)
    return out
