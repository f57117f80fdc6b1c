"""Viewer-grade DICOMweb with dicomweb-client, as a radiologist's tools use it, JPEG 2000 included (GDCM)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pydicom
import pytest
import requests
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelGet

from pacsguard.posture.clients import audit_lines, modality_ctx
from tests.host.reading import ReadingStudy, dicomweb, own_ca_bundle, reading_study, session_for

pytestmark = pytest.mark.host

PIXEL_DATA = "7FE00010"


@pytest.fixture(scope="module")
def study(stack: dict) -> Iterator[ReadingStudy]:
    with own_ca_bundle():
        s = reading_study()
        dicomweb(stack, "technologist1").store_instances([s.plain, s.j2k])  # STOW-RS as the upload role
        yield s


def test_stow_rs_is_the_upload_roles_alone(stack: dict, study: ReadingStudy) -> None:
    with pytest.raises(requests.HTTPError) as refused:
        dicomweb(stack, "radiologist1").store_instances([reading_study().plain])
    assert refused.value.response.status_code == 403


def test_qido_with_filters_and_includefield(stack: dict, study: ReadingStudy) -> None:
    client = dicomweb(stack, "radiologist1")
    studies = client.search_for_studies(search_filters={"PatientID": study.patient_id}, fields=["StudyDescription"])
    assert [Dataset.from_json(s).StudyInstanceUID for s in studies] == [study.study_uid]
    assert Dataset.from_json(studies[0]).StudyDescription == "PACSGuard reading test"
    series = client.search_for_series(study.study_uid, search_filters={"Modality": "CT"})
    assert [Dataset.from_json(s).SeriesInstanceUID for s in series] == [study.series_uid]
    instances = client.search_for_instances(
        study.study_uid, study.series_uid, search_filters={"InstanceNumber": "2"}, fields=["TransferSyntaxUID"]
    )
    assert [Dataset.from_json(i).SOPInstanceUID for i in instances] == [study.j2k.SOPInstanceUID]


def test_wado_rs_study_series_and_instance_include_the_jpeg2000_image(stack: dict, study: ReadingStudy) -> None:
    """Without GDCM Orthanc silently left the JPEG 2000 instance out of the default (transcoded) answer."""
    client = dicomweb(stack, "radiologist1")
    expected = {study.plain.SOPInstanceUID, study.j2k.SOPInstanceUID}
    assert {ds.SOPInstanceUID for ds in client.retrieve_study(study.study_uid)} == expected
    assert {ds.SOPInstanceUID for ds in client.retrieve_series(study.study_uid, study.series_uid)} == expected
    got = client.retrieve_instance(study.study_uid, study.series_uid, study.j2k.SOPInstanceUID)
    assert np.array_equal(got.pixel_array, study.plain.pixel_array)  # decoded, lossless: the original pixels


def test_metadata_and_its_bulk_data_uris_for_a_radiologist(stack: dict, study: ReadingStudy) -> None:
    """The viewer follows the BulkDataURIs of the metadata: those were 403 for radiologists (no route)."""
    client = dicomweb(stack, "radiologist1")
    metadata = client.retrieve_series_metadata(study.study_uid, study.series_uid)
    assert {m["00080018"]["Value"][0] for m in metadata} == {study.plain.SOPInstanceUID, study.j2k.SOPInstanceUID}
    uris = [m[PIXEL_DATA]["BulkDataURI"] for m in metadata if "BulkDataURI" in m.get(PIXEL_DATA, {})]
    assert uris, "the metadata offers no BulkDataURI for the pixel data"
    for uri in uris:
        assert "/bulk/" in uri
        assert client.retrieve_bulkdata(uri, media_types=("application/octet-stream",))
    # the route follows the right to read pixels: a technologist (no download) is refused
    with pytest.raises(requests.HTTPError) as refused:
        dicomweb(stack, "technologist1").retrieve_bulkdata(uris[0], media_types=("application/octet-stream",))
    assert refused.value.response.status_code == 403


def test_frames_of_the_jpeg2000_instance_decode_to_the_original_pixels(stack: dict, study: ReadingStudy) -> None:
    client = dicomweb(stack, "radiologist1")
    (frame,) = client.retrieve_instance_frames(
        study.study_uid, study.series_uid, study.j2k.SOPInstanceUID, frame_numbers=[1],
        media_types=(("application/octet-stream", "1.2.840.10008.1.2.1"),),
    )  # fmt: skip
    assert frame == study.plain.PixelData


def test_rendered_jpeg2000_instance_is_an_image(stack: dict, study: ReadingStudy) -> None:
    client = dicomweb(stack, "radiologist1")
    png = client.retrieve_instance_rendered(
        study.study_uid, study.series_uid, study.j2k.SOPInstanceUID, media_types=("image/png",)
    )
    assert png.startswith(b"\x89PNG")
    frame = client.retrieve_instance_frames_rendered(
        study.study_uid, study.series_uid, study.j2k.SOPInstanceUID, frame_numbers=[1], media_types=("image/jpeg",)
    )
    assert frame.startswith(b"\xff\xd8")


def test_a_role_without_read_rights_gets_no_pixels(stack: dict, study: ReadingStudy) -> None:
    session = session_for(stack, "auditor1")
    base = f"{stack['https_url'].rstrip('/')}/dicom-web/studies/{study.study_uid}"
    for path in ("", "/metadata", f"/series/{study.series_uid}/instances/{study.j2k.SOPInstanceUID}/frames/1"):
        with own_ca_bundle():
            assert session.get(base + path).status_code == 403, path


def _c_get(stack: dict, study: ReadingStudy, sop: str) -> tuple[list[int], list[pydicom.Dataset]]:
    """One instance by C-GET as WORKSTATION_1, which accepts only uncompressed images: statuses and what arrived."""
    received: list[pydicom.Dataset] = []

    def on_store(event: evt.Event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return 0x0000

    ae = AE(ae_title="WORKSTATION_1")
    ae.acse_timeout = ae.network_timeout = ae.dimse_timeout = 30
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    d = stack["dicom"]
    assoc = ae.associate(
        d["host"], d["port"], ae_title=d["called_aet"], tls_args=(modality_ctx(stack, "WORKSTATION_1"), d["host"]),
        ext_neg=[build_role(CTImageStorage, scp_role=True)], evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )  # fmt: skip
    assert assoc.is_established
    query = Dataset()
    query.QueryRetrieveLevel, query.StudyInstanceUID = "IMAGE", study.study_uid
    query.SeriesInstanceUID, query.SOPInstanceUID = study.series_uid, sop
    statuses = [status.Status for status, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet)]
    assoc.release()
    return statuses, received


def test_c_get_transcodes_the_jpeg2000_instance_for_a_workstation(stack: dict, study: ReadingStudy) -> None:
    """A workstation that accepts only uncompressed images gets the JPEG 2000 one transcoded by GDCM."""
    statuses, received = _c_get(stack, study, study.j2k.SOPInstanceUID)
    assert statuses[-1] == 0x0000, [hex(s) for s in statuses]
    (got,) = received
    assert got.SOPInstanceUID == study.j2k.SOPInstanceUID
    assert np.array_equal(got.pixel_array, study.plain.pixel_array)


def _names_export_of(record: dict, aet: str, study_uid: str) -> bool:
    studies = record.get("study_uids")
    studies = studies if isinstance(studies, list) else [studies]
    return (record.get("layer"), record.get("event_id"), record.get("ae_title")) == (
        "orthanc-dicom", "110106", aet
    ) and study_uid in studies  # fmt: skip


def test_every_c_get_is_an_export_naming_its_study(stack: dict, study: ReadingStudy) -> None:
    """The sink names the study of each retrieved instance from the index (cached per instance): asked twice, two
    records, both naming the study."""
    for _ in range(2):
        assert _c_get(stack, study, study.plain.SOPInstanceUID)[0][-1] == 0x0000
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        exports = [r for r in audit_lines(stack) if _names_export_of(r, "WORKSTATION_1", study.study_uid)]
        if len(exports) >= 2:
            break
        time.sleep(0.2)
    assert len(exports) >= 2
