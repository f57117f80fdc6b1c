"""Synthetic DICOM instances of realistic sizes, built with pydicom (no data set to download)."""

from __future__ import annotations

import os
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

# (modality, rows, columns): a CT slice is 0.5 MB; CR and MG images are the large ones (8 and 20 MB).
SHAPES = {"XS": (64, 64), "CT": (512, 512), "CR": (2048, 2048), "MG": (3328, 3072)}


def instance(
    kind: str = "CT", study_uid: str | None = None, series_uid: str | None = None, patient_id: str = "BENCH-1"
) -> Dataset:
    rows, cols = SHAPES[kind]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "BENCH^PACSGUARD", patient_id, "CT" if kind == "XS" else kind
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = os.urandom(rows * cols * 2)  # incompressible: no transport shortcut flatters a target
    return ds


def batch(count: int, large_every: int = 10) -> list[Dataset]:
    """Mostly CT slices; every `large_every`-th a CR, and one MG per 3 large ones."""
    study, series = generate_uid(), generate_uid()
    out = []
    for i in range(count):
        kind = "CT"
        if large_every and i % large_every == large_every - 1:
            kind = "MG" if (i // large_every) % 3 == 2 else "CR"
        out.append(instance(kind, study, series))
    return out


def size_mb(ds: Dataset) -> float:
    return len(ds.PixelData) / 1e6


MULTIFRAME_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7.3"  # Multi-frame Grayscale Word Secondary Capture


def write_series(directory: Path, count: int, frames: int = 1) -> float:
    """`count` new instances of one new series as files (CT slices, or multi-frame 512x512 instances of `frames`
    frames); returns their total MB. The pixels are random, so no compression flatters a target; one buffer
    serves every instance (the UIDs make each a new instance), which keeps generating them cheap."""
    directory.mkdir(parents=True)
    rows, cols = SHAPES["CT"]
    pixels = os.urandom(rows * cols * 2 * frames)
    study, series = generate_uid(), generate_uid()
    total = 0
    for i in range(count):
        ds = instance("CT", study, series)
        ds.PixelData = pixels
        if frames > 1:
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = MULTIFRAME_SOP_CLASS
            ds.NumberOfFrames = frames
            ds.Modality = "OT"
        ds.InstanceNumber = i + 1
        path = directory / f"{i:05}.dcm"
        ds.save_as(path, enforce_file_format=True)
        total += path.stat().st_size
    return total / 1e6
