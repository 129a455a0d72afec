"""Small synthetic DICOM sources for the report tests (CT and cine MR series, a mammogram), made with pydicom.

Kept to this package on purpose: tiny (32x32 pixels), deterministic except for their UIDs, and with just the
attributes highdicom needs to reference them (SOP class/instance, study/series, frame of reference, geometry).
"""
from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
MG_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"


def _base(sop_class: str, modality: str, study_uid: str, series_uid: str, number: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    ds.PatientName = "Synthetic^Phantom"
    ds.PatientID = "SYN-0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.AccessionNumber = "ACC-SYN-1"
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.Manufacturer = "Synthetic"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    return ds


def _pixels(ds: Dataset, array: np.ndarray) -> None:
    ds.Rows, ds.Columns = array.shape
    ds.PixelData = array.astype(np.int16).tobytes()


def ct_series(slices: int = 8, size: int = 32, spacing_mm: float = 0.7, thickness_mm: float = 1.25) -> list[Dataset]:
    """An axial CT series ordered along the slice normal (z rising), a bright sphere in the middle."""
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    zz, yy, xx = np.mgrid[0:slices, 0:size, 0:size]
    phantom = np.where((zz - slices / 2) ** 2 + (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < 9, 40, -800)
    datasets = []
    for index in range(slices):
        ds = _base(CT_IMAGE_STORAGE, "CT", study_uid, series_uid, index + 1)
        ds.FrameOfReferenceUID = frame_uid
        ds.ImagePositionPatient = [-size * spacing_mm / 2, -size * spacing_mm / 2, index * thickness_mm]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing_mm, spacing_mm]
        ds.SliceThickness = thickness_mm
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.BodyPartExamined = "CHEST"
        _pixels(ds, phantom[index])
        datasets.append(ds)
    return datasets


def mr_cine_series(locations: int = 3, phases: int = 4, size: int = 32) -> list[Dataset]:
    """A cine short-axis MR series: `locations` slice positions x `phases` phases, location-major order."""
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    datasets = []
    for location in range(locations):
        for phase in range(phases):
            ds = _base(MR_IMAGE_STORAGE, "MR", study_uid, series_uid, location * phases + phase + 1)
            ds.FrameOfReferenceUID = frame_uid
            ds.ImagePositionPatient = [-20.0, -20.0, location * 8.0]
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.PixelSpacing = [1.25, 1.25]
            ds.SliceThickness = 8.0
            ds.TriggerTime = phase * 40.0
            ds.PixelRepresentation = 0
            yy, xx = np.mgrid[0:size, 0:size]
            radius = 8 - phase
            _pixels(ds, np.where((yy - 16) ** 2 + (xx - 16) ** 2 < radius ** 2, 800, 100))
            datasets.append(ds)
    return datasets


def mammogram(rows: int = 64, columns: int = 48, laterality: str = "L") -> list[Dataset]:
    """One 'for presentation' mammogram (no patient geometry, like a real one)."""
    ds = _base(MG_FOR_PRESENTATION, "MG", generate_uid(), generate_uid(), 1)
    ds.ImageLaterality = laterality
    ds.ViewPosition = "CC"
    ds.PatientOrientation = ["P", "L"]
    ds.PixelRepresentation = 0
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.PixelSpacing = [0.1, 0.1]
    yy, xx = np.mgrid[0:rows, 0:columns]
    _pixels(ds, np.where((yy - 20) ** 2 + (xx - 20) ** 2 < 25, 3000, 500))
    return [ds]
