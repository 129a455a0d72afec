"""Each assessment's result as a FHIR R4 Bundle, a DICOM SR (TID 1500), a DICOM SEG and a rendered HTML/PDF report,
built from results that satisfy the schemas over small synthetic DICOM series."""
from __future__ import annotations

import base64
import io
import re

import numpy as np
import pydicom
import pytest

from reports import codes
from reports.schemas import result_errors
from tests.reports import _results
from tests.reports._dicom import ct_series, mammogram, mr_cine_series
from tests.reports._support import make_assessment

DEMO = "demo, not for diagnostic use"


def _case(name: str):
    """(result, source datasets, masks) of one assessment type."""
    if name == "bone_age":
        return _results.bone_age_result(), mammogram(rows=80, columns=64), None
    if name == "ct_anatomy":
        series = ct_series(slices=8)
        return _results.ct_anatomy_result(series), series, None
    if name == "lung_nodule":
        series = ct_series(slices=8)
        first = np.zeros((8, 32, 32), dtype=bool)
        first[2:7, 12:21, 12:21] = True
        second = np.zeros((8, 32, 32), dtype=bool)
        second[1:4, 4:9, 22:27] = True
        return _results.lung_nodule_result(), series, {"nodule-1": first, "nodule-2": second}
    if name == "cardiac_function":
        series = mr_cine_series(locations=3, phases=4)
        labels = np.zeros((12, 32, 32), dtype=np.uint8)
        labels[:, 12:20, 12:20] = 1
        labels[:, 10:12, 10:22] = 2
        labels[:, 21:25, 12:20] = 3
        from reports.dicom_seg import masks_from_npz

        buffer = io.BytesIO()
        np.savez_compressed(buffer, labels=labels)
        return _results.cardiac_result(), series, masks_from_npz(buffer.getvalue(), assessment="cardiac_function")
    return _results.mammography_result(), mammogram(), None


ALL = ("bone_age", "ct_anatomy", "lung_nodule", "cardiac_function", "mammography")


@pytest.fixture
def tenant(hospital_a):
    return hospital_a.tenant


def _entries(bundle: dict, kind: str) -> list[dict]:
    return [entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == kind]


@pytest.mark.parametrize("name", ALL)
def test_the_fhir_bundle_of_each_assessment_is_valid_r4_with_its_observations_and_model(tenant, name):
    from fhir.resources.R4B.bundle import Bundle

    from reports.fhir import diagnostic_report_bundle
    from tenants.context import tenant_context

    result, datasets, _ = _case(name)
    assert result_errors(name, result) == []
    assessment = make_assessment(tenant=tenant, result=result, datasets=datasets)
    with tenant_context(tenant):
        bundle = diagnostic_report_bundle(assessment)
    Bundle.model_validate(bundle)  # round-trips as FHIR R4(B)
    assert bundle["type"] == "collection"
    [report] = _entries(bundle, "DiagnosticReport")
    observations = _entries(bundle, "Observation")
    devices = _entries(bundle, "Device")
    assert report["id"] == str(assessment.id)
    assert report["status"] == "preliminary"
    assert report["conclusion"].startswith("DEMO, NOT FOR DIAGNOSTIC USE: demo, not for diagnostic use.")
    assert report["code"]["coding"][0] == {"system": "http://loinc.org", "code": "18748-4",
                                           "display": "Diagnostic Imaging Report"}
    assert report["imagingStudy"][0]["identifier"]["value"] == f"urn:oid:{datasets[0].StudyInstanceUID}"
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert report["result"] and all(ref["reference"] in full_urls for ref in report["result"])
    assert len(observations) == len(report["result"])
    stages = result["model"]["stages"]
    assert [(d["deviceName"][0]["name"], d["version"][0]["value"], d["version"][1]["value"]) for d in devices] == \
        [(s["name"], str(s["version"]), s["precision"]) for s in stages]
    assert all(o["device"]["reference"] == f"urn:uuid:{devices[-1]['id']}" for o in observations)
    assert all({"text": DEMO} in o["note"] for o in observations)
    assert [e["valueReference"]["reference"] for e in report["extension"]] == [f"urn:uuid:{d['id']}" for d in devices]
    assert [e["valueReference"]["display"] for e in report["extension"]] == [
        f"{s['name']} version {s['version']} {s['precision']} (demo, not for diagnostic use)" for s in stages]
    critical = [o for o in observations if any(c["coding"][0]["code"] == "AA" for c in o.get("interpretation", []))]
    if result["critical_findings"]:
        assert critical and report["conclusionCode"]
    else:
        assert critical == [] and "conclusionCode" not in report


def test_fhir_observations_carry_loinc_and_snomed_codes_and_ucum_values(tenant):
    from reports.fhir import diagnostic_report_bundle
    from tenants.context import tenant_context

    result, datasets, _ = _case("cardiac_function")
    with tenant_context(tenant):
        bundle = diagnostic_report_bundle(make_assessment(tenant=tenant, result=result, datasets=datasets))
    by_code = {o["code"]["coding"][0]["code"]: o for o in _entries(bundle, "Observation")}
    lv = by_code["8811-2"]  # LOINC: left ventricular ejection fraction by MR
    assert lv["valueQuantity"] == {"value": 31.0, "unit": "percent", "system": "http://unitsofmeasure.org",
                                   "code": "%"}
    assert lv["bodySite"]["coding"][0] == {"system": "http://snomed.info/sct", "code": "87878005",
                                           "display": "Left ventricle"}
    assert {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in lv["component"]} == {
        "8821-1": 160.0, "8823-7": 110.4, "lv-stroke-volume": 49.6, "18087-7": 132.5}
    assert lv["interpretation"][0]["coding"][0]["code"] == "AA"  # EF 31% < 35%
    rv = by_code["8818-7"]
    assert "interpretation" not in rv

    result, datasets, _ = _case("lung_nodule")
    with tenant_context(tenant):
        bundle = diagnostic_report_bundle(make_assessment(tenant=tenant, result=result, datasets=datasets))
    nodules = [o for o in _entries(bundle, "Observation") if o["code"]["coding"][0]["code"] == "27925004"]
    assert [n["valueQuantity"]["value"] for n in nodules] == [9.1, 4.0]
    assert [bool(n.get("interpretation")) for n in nodules] == [True, False]  # 8 mm or more is critical


def test_a_queued_assessment_is_a_registered_report_without_results(tenant):
    from reports.fhir import diagnostic_report_resource
    from tenants.context import tenant_context

    result, datasets, _ = _case("mammography")
    assessment = make_assessment(tenant=tenant, result=result, datasets=datasets, status="queued")
    with tenant_context(tenant):
        report = diagnostic_report_resource(assessment)
    assert report["status"] == "registered"
    assert "result" not in report and "contained" not in report
    assert report["conclusion"].startswith("DEMO, NOT FOR DIAGNOSTIC USE")


def _code_value(item) -> str:
    # Code values longer than 16 characters (the platform's own) are Long Code Values.
    return item.CodeValue if "CodeValue" in item else item.LongCodeValue


def _walk(items, out):
    for item in items:
        out.append(item)
        _walk(getattr(item, "ContentSequence", []), out)
    return out


@pytest.mark.parametrize("name", ALL)
def test_the_dicom_sr_is_a_tid_1500_report_referencing_the_source_instances(name):
    from reports.dicom_sr import measurement_report_build
    from reports.measurements import measurement_groups

    result, datasets, _ = _case(name)
    sr = measurement_report_build(result=result, source_datasets=datasets)
    buffer = io.BytesIO()
    sr.save_as(buffer, enforce_file_format=True)
    reread = pydicom.dcmread(io.BytesIO(buffer.getvalue()))

    assert reread.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert reread.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert reread.StudyInstanceUID == datasets[0].StudyInstanceUID
    assert reread.SeriesInstanceUID != datasets[0].SeriesInstanceUID
    evidence = reread.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == datasets[0].StudyInstanceUID
    referenced = {(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID)
                  for i in evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence}
    assert referenced == {(ds.SOPClassUID, ds.SOPInstanceUID) for ds in datasets}
    assert "demo, not for diagnostic use" in reread.SeriesDescription

    measurements = [i for i in reread.ContentSequence
                    if _code_value(i.ConceptNameCodeSequence[0]) == "126010"]  # Imaging Measurements
    items = _walk(measurements, [])
    numbers = sorted((_code_value(i.ConceptNameCodeSequence[0]), float(i.MeasuredValueSequence[0].NumericValue))
                     for i in items if i.ValueType == "NUM")
    expected = sorted((m.concept.code, m.value) for g in measurement_groups(result) for m in g.measures)
    assert [code for code, _ in numbers] == [code for code, _ in expected]
    assert [value for _, value in numbers] == pytest.approx([value for _, value in expected])
    image_refs = {i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for i in items if i.ValueType == "IMAGE"}
    assert image_refs <= {ds.SOPInstanceUID for ds in datasets}
    # Findings name the image they were measured on; ventricular volumes are of the whole cine series (evidence).
    assert bool(image_refs) == (name != "cardiac_function")


def test_a_nodule_in_the_sr_is_a_box_on_the_slice_it_was_measured_on():
    from reports.dicom_sr import measurement_report_build

    result, datasets, _ = _case("lung_nodule")
    reread = pydicom.dcmread(io.BytesIO(_bytes(measurement_report_build(result=result, source_datasets=datasets))))
    regions = [i for i in _walk(reread.ContentSequence, []) if i.ValueType == "SCOORD"]
    assert len(regions) == 2
    on = [r.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID for r in regions]
    assert on == [datasets[4].SOPInstanceUID, datasets[2].SOPInstanceUID]
    assert [float(v) for v in regions[0].GraphicData] == [12, 12, 21, 12, 21, 21, 12, 21, 12, 12]


def _bytes(dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["lung_nodule", "cardiac_function"])
def test_the_dicom_seg_references_the_source_series_and_holds_each_mask(name):
    from reports.dicom_seg import segmentation_build

    result, datasets, masks = _case(name)
    reread = pydicom.dcmread(io.BytesIO(_bytes(segmentation_build(masks=masks, source_datasets=datasets,
                                                                   result=result))))
    assert reread.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"  # Segmentation Storage
    assert reread.SegmentationType == "BINARY"
    assert reread.StudyInstanceUID == datasets[0].StudyInstanceUID
    assert reread.FrameOfReferenceUID == datasets[0].FrameOfReferenceUID
    series = reread.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == datasets[0].SeriesInstanceUID
    sources = {ds.SOPInstanceUID: index for index, ds in enumerate(datasets)}
    assert {i.ReferencedSOPInstanceUID for i in series.ReferencedInstanceSequence} <= set(sources)
    labels = [segment.SegmentLabel for segment in reread.SegmentSequence]
    assert labels == list(masks)
    frames = reread.pixel_array.reshape(int(reread.NumberOfFrames), 32, 32)
    for frame, functional in zip(frames, reread.PerFrameFunctionalGroupsSequence, strict=True):
        segment = int(functional.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        source = functional.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        # Every frame is the mask of its segment on the source instance it names.
        assert np.array_equal(frame.astype(bool), masks[labels[segment - 1]][sources[source]])


def test_cine_mr_is_segmented_on_the_end_diastolic_phase_only():
    from reports.dicom_seg import segmentation_build

    result, datasets, masks = _case("cardiac_function")
    reread = pydicom.dcmread(io.BytesIO(_bytes(segmentation_build(masks=masks, source_datasets=datasets,
                                                                   result=result))))
    used = {f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
            for f in reread.PerFrameFunctionalGroupsSequence}
    ed = result["ed_phase"]
    assert used == {datasets[location * 4 + ed].SOPInstanceUID for location in range(3)}


def test_a_segmentation_without_any_mask_pixel_is_refused():
    from reports.dicom_seg import NoSegmentation, segmentation_build

    result, datasets, _ = _case("lung_nodule")
    with pytest.raises(NoSegmentation):
        segmentation_build(masks={"nodule-1": np.zeros((8, 32, 32), dtype=bool)}, source_datasets=datasets,
                           result=result)


def _pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("name", ALL)
def test_the_pdf_report_shows_the_banner_values_models_and_critical_findings(tenant, name):
    from reports.render import display_pixels, report_html, report_pdf
    from tenants.context import tenant_context

    result, datasets, masks = _case(name)
    assessment = make_assessment(tenant=tenant, result=result, datasets=datasets)
    with tenant_context(tenant):
        html = report_html(result=result, assessment=assessment, images=[display_pixels(d) for d in datasets],
                           masks=masks)
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)  # every resource is embedded
    text = _pdf_text(report_pdf(html))
    flat = " ".join(text.split())
    assert "demo, not for diagnostic use" in flat
    assert "DEMO, NOT FOR DIAGNOSTIC USE" in flat  # the footer of every page
    for stage in result["model"]["stages"]:
        assert f"{stage['name']} {stage['version']} {stage['precision']}" in flat
    for finding in result["critical_findings"]:
        assert finding["message"] in flat
    assert str(assessment.id) in flat


def test_the_measurement_groups_carry_the_result_values_with_their_keys():
    from reports.measurements import measurement_groups

    result, datasets, masks = _case("cardiac_function")
    values = {m.key: m.value for g in measurement_groups(result) for m in g.measures}
    assert values["lv_ef_percent"] == 31.0 and values["rv_edv_ml"] == 150.2


def _first_image(html: str) -> np.ndarray:
    from PIL import Image

    uri = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri))).convert("RGB")).astype(int)


def test_key_images_have_the_overlay_drawn(tenant):
    from reports.render import display_pixels, report_html
    from tenants.context import tenant_context

    def red(image):
        return int(((image[..., 0] > 200) & (image[..., 1] < 90) & (image[..., 2] < 90)).sum())

    for name in ("mammography", "lung_nodule", "bone_age"):
        result, datasets, masks = _case(name)
        assessment = make_assessment(tenant=tenant, result=result, datasets=datasets)
        with tenant_context(tenant):
            html = report_html(result=result, assessment=assessment,
                               images=[display_pixels(d) for d in datasets], masks=masks)
            plain = report_html(result={**result, "overlays": [], "lesions": [], "nodules": [
                {**n, "bbox_voxel": [0, 0, 0, 0, 0, 0]} for n in result.get("nodules", [])]},
                assessment=assessment, images=[display_pixels(d) for d in datasets], masks={})
        image = _first_image(html)
        assert image.ndim == 3 and np.any(image[..., 0] != image[..., 2]), name  # colour drawn on grayscale
        if name != "bone_age":
            assert red(image) > red(_first_image(plain)), name


def test_a_report_of_a_clinical_model_has_no_demo_banner(tenant):
    from reports.render import report_html
    from reports.results import report_result
    from tenants.context import tenant_context

    result = _results.mammography_result()
    result["model"]["demo"] = False
    result["model"]["stages"][0]["demo"] = False
    result["notice"] = None
    assessment = make_assessment(tenant=tenant, result=result, datasets=mammogram(), demo=False)
    with tenant_context(tenant):
        completed = report_result(assessment)
        html = report_html(result=completed, assessment=assessment, images=[])
    assert completed["notice"] is None
    assert 'class="demo-banner"' not in html and "not for diagnostic use" not in html


def test_a_result_from_before_the_contract_is_completed_from_the_assessment_row(tenant):
    """Bone age results of issue 2 have no stages, summary or critical_findings; the report fills them from the
    row, and what it produces satisfies the schema."""
    from reports.results import report_result

    legacy = {key: value for key, value in _results.bone_age_result().items()
              if key not in ("assessment", "critical_findings", "summary", "overlays", "notice")}
    legacy["model"] = {"name": "bone_age", "version": 1, "precision": "FP32", "demo": True}
    assessment = make_assessment(tenant=tenant, result=_results.bone_age_result(), datasets=mammogram())
    assessment.result = legacy
    assessment.stage_versions = []
    completed = report_result(assessment)
    assert completed["model"]["stages"] == [{"name": "bone_age", "version": 1, "precision": "FP32", "demo": True}]
    assert completed["notice"] == DEMO
    assert result_errors("bone_age", completed) == []


def test_the_codes_of_the_platform_system_are_the_only_non_standard_ones():
    platform_codes = [v for v in vars(codes).values() if isinstance(v, codes.Concept) and v.is_platform]
    assert all(c.system == codes.PLATFORM_SYSTEM and c.dicom().scheme_designator == "99MIP" for c in platform_codes)
