"""DICOM Structured Report, TID 1500 "Measurement Report", of an assessment's result (highdicom).

Written as a Comprehensive 3D SR that references every source instance (evidence and image library) and, per
finding, the instance it was measured on: a box as a closed POLYLINE image region (nodules on their slice, lesions on
the mammogram), a body-region range by its first and last slices, bone age by the hand radiograph. Values and codes
are those of reports/measurements.py, so the SR and the FHIR Observations say the same thing.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import highdicom as hd
import numpy as np
from highdicom.sr import (
    AlgorithmIdentification,
    Comprehensive3DSR,
    DeviceObserverIdentifyingAttributes,
    FindingSite,
    ImageRegion,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    PlanarROIMeasurementsAndQualitativeEvaluations,
    QualitativeEvaluation,
    SourceImageForMeasurement,
    SourceImageForMeasurementGroup,
    SourceImageForRegion,
    TrackingIdentifier,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as dcm_codes
from pydicom.uid import generate_uid

from reports import codes
from reports.codes import Concept
from reports.measurements import Group, measurement_groups

MANUFACTURER = "MIP imaging AI platform"
SR_SERIES_NUMBER = 9001


class NoDicomSource(ValueError):
    """The assessment's images are not DICOM (PNG/JPEG upload): there is nothing an SR could reference."""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "value"


def _value_concept(qualitative) -> Concept:
    if qualitative.value is not None:
        return qualitative.value
    return codes.mip(_slug(qualitative.text), qualitative.text[:64])


def _algorithm(result: dict) -> AlgorithmIdentification:
    stages = result["model"]["stages"]
    main = stages[-1]
    parameters = [f"{s['name']} v{s['version']} {s['precision']}" for s in stages]
    if result.get("notice"):
        parameters.append(result["notice"])
    return AlgorithmIdentification(name=main["name"], version=str(main["version"]), parameters=parameters)


def _image_index(group: Group, count: int) -> int | None:
    if not group.slice_indices:
        return None
    index = group.slice_indices[0]
    return index if 0 <= index < count else None


def _group_content(group: Group, result: dict, sources: Sequence[Dataset], algorithm):
    tracking = TrackingIdentifier(uid=generate_uid(), identifier=group.tracking_id)
    finding_sites = [FindingSite(group.finding_site.dicom())] if group.finding_site is not None else None
    index = _image_index(group, len(sources))
    referenced = None
    if index is not None:
        source = sources[index]
        referenced = [SourceImageForMeasurement(source.SOPClassUID, source.SOPInstanceUID)]
    measurements = [
        Measurement(name=m.concept.dicom(), value=float(m.value), unit=m.unit.dicom(), algorithm_id=algorithm,
                    finding_sites=[FindingSite(m.finding_site.dicom())] if m.finding_site else None,
                    referenced_images=referenced)
        for m in group.measures
    ]
    evaluations = [QualitativeEvaluation(q.concept.dicom(), _value_concept(q).dicom()) for q in group.qualitative]
    if group.critical:
        evaluations.append(QualitativeEvaluation(codes.CRITICAL_FINDING.dicom(), codes.mip(
            "critical", "Critical finding present").dicom()))
    common = dict(tracking_identifier=tracking, finding_type=group.finding.dicom(), algorithm_id=algorithm,
                  finding_sites=finding_sites, measurements=measurements or None,
                  qualitative_evaluations=evaluations or None)
    if group.box is not None and index is not None:
        x0, y0, x1, y1 = group.box
        # A closed polyline (first point repeated) in pixel (column, row) coordinates of the source image.
        graphic = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)
        region = ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=graphic,
                             source_image=SourceImageForRegion(sources[index].SOPClassUID,
                                                               sources[index].SOPInstanceUID))
        return PlanarROIMeasurementsAndQualitativeEvaluations(referenced_region=region, **common)
    group_sources = None
    if group.slice_indices:
        picked = sorted({i for i in (group.slice_indices[0], group.slice_indices[-1]) if 0 <= i < len(sources)})
        group_sources = [SourceImageForMeasurementGroup(sources[i].SOPClassUID, sources[i].SOPInstanceUID)
                         for i in picked] or None
    return MeasurementsAndQualitativeEvaluations(source_images=group_sources, **common)


# Type 2 attributes of the Patient and General Study modules (PS3.3 C.7.1.1, C.7.2.1) that highdicom copies from
# the evidence: required to be present, allowed empty. Real and synthetic files often omit them altogether.
_TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "StudyID", "AccessionNumber")


def with_type2_attributes(dataset):
    """`dataset` (a header read for the report, changed in place) with every type 2 attribute the SR/SEG copies
    present, empty when the source omitted it, so such a source still gets its report; nothing is invented."""
    for keyword in _TYPE2_COPIED:
        if keyword not in dataset:
            setattr(dataset, keyword, "")
    return dataset


def measurement_report_build(*, result: dict, source_datasets: Sequence[Dataset],
                             series_instance_uid: str | None = None, sop_instance_uid: str | None = None) -> Dataset:
    """A TID 1500 Comprehensive 3D SR of `result` (a report_result-completed result) over `source_datasets`
    (the assessed instances, in series order: result slice indices index this list).

    Returns the SR dataset (pydicom Dataset; `save_as` to write Part 10). Raises NoDicomSource when there is no
    source dataset.
    """
    sources = [with_type2_attributes(ds) for ds in source_datasets if getattr(ds, "SOPInstanceUID", None)]
    if not sources:
        raise NoDicomSource("an SR references DICOM instances; this assessment has none")
    algorithm = _algorithm(result)
    stages = result["model"]["stages"]
    observer = ObserverContext(
        observer_type=dcm_codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name=stages[-1]["name"][:64], manufacturer_name=MANUFACTURER,
            model_name=f"{stages[-1]['name']} v{stages[-1]['version']} {stages[-1]['precision']}"[:64]),
    )
    groups = [_group_content(group, result, sources, algorithm) for group in measurement_groups(result)]
    arguments = dict(
        observation_context=ObservationContext(observer_device_context=observer),
        procedure_reported=codes.PROCEDURES.get(result["assessment"], codes.IMAGING_PROCEDURE).dicom(),
        imaging_measurements=groups or None,
    )
    try:
        report = MeasurementReport(referenced_images=sources, **arguments)
    except (AttributeError, ValueError):
        # The image library describes each image from optional header attributes (e.g. Patient Orientation of a
        # radiograph) that real files often lack; the evidence sequence still references every instance.
        report = MeasurementReport(**arguments)
    description = "AI measurements"
    if result.get("notice"):
        description += f" ({result['notice']})"
    sr = Comprehensive3DSR(
        evidence=sources,
        content=report,
        series_instance_uid=series_instance_uid or generate_uid(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=sop_instance_uid or generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,  # nobody has verified an AI result: it stays a preliminary report
        series_description=description[:64],
    )
    return sr
