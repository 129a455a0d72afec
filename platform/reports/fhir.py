"""FHIR R4 results: a DiagnosticReport with one Observation per measured finding, returned as a Bundle.

Built as plain dicts and validated through fhir.resources' R4B models (R4B is R4 with errata and is what
fhir.resources 8 ships beside R5; every element used here exists unchanged in R4 4.0.1). Codes: reports/codes.py.

The model that produced the result is a Device per model stage (name, version, precision), referenced from every
Observation, and also an extension (valueReference) on the DiagnosticReport; a demo model's notice opens `conclusion` and is a note
on each Observation. Critical findings set the Observation's interpretation to AA (critical abnormal) and the
report's `conclusionCode`.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.urls import reverse
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport

from inference.models import Assessment
from reports import codes
from reports.measurements import Group, Measure, measurement_groups
from reports.results import assessment_title, report_result

FHIR_JSON = "application/fhir+json"
MODEL_EXTENSION = "https://mip.example/fhir/StructureDefinition/ai-model"
ASSESSMENT_SYSTEM = "https://mip.example/fhir/CodeSystem/mip-assessments"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DEVICE_NAME_TYPE = "model-name"

_READINGS = {"delayed": ("L", "Low"), "normal": ("N", "Normal"), "advanced": ("H", "High")}


def report_status(assessment: Assessment) -> str:
    """DiagnosticReport.status: an AI result no person has signed off is `preliminary`, never `final`; it becomes
    `final` once the latest radiologist sign-off agrees with it (a disagreement keeps it preliminary)."""
    if assessment.status == Assessment.Status.SUCCEEDED:
        from reviews.models import SignOff

        latest = SignOff.objects.filter(tenant_id=assessment.tenant_id, assessment=assessment) \
            .order_by("-created_at", "-id").first()
        return "final" if latest is not None and latest.decision == SignOff.Decision.AGREE else "preliminary"
    return {Assessment.Status.FAILED: "cancelled"}.get(assessment.status, "registered")


def fhir_base_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + "/fhir/r4"


def last_updated(assessment: Assessment):
    return assessment.finished_at or assessment.started_at or assessment.created_at


def _local_id(assessment: Assessment, kind: str, key: str) -> str:
    # Deterministic, so the same assessment always yields the same resource ids (idempotent exports).
    return str(uuid.uuid5(assessment.id, f"{kind}:{key}"))


def _quantity(measure: Measure) -> dict:
    return {"value": round(measure.value, 4), "unit": measure.unit.display, "system": codes.UCUM,
            "code": measure.unit.code}


def _study_reference(assessment: Assessment) -> dict:
    uid = assessment.instance.study.study_instance_uid
    return {"type": "ImagingStudy", "identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"},
            "display": f"Study {uid}"}


def _devices(assessment: Assessment, result: dict) -> list[dict]:
    devices = []
    for stage in result["model"]["stages"]:
        demo = bool(stage.get("demo", result["model"]["demo"]))
        device = {
            "resourceType": "Device",
            "id": _local_id(assessment, "device", f"{stage['name']}:{stage['version']}"),
            "status": "active",
            "deviceName": [{"name": stage["name"], "type": DEVICE_NAME_TYPE}],
            "type": codes.MODEL_ALGORITHM.concept(),
            "version": [{"type": {"text": "model version"}, "value": str(stage["version"])},
                        {"type": {"text": "precision"}, "value": str(stage["precision"])}],
            "manufacturer": "MIP imaging AI platform",
        }
        if demo:
            device["note"] = [{"text": result["notice"] or "demo model"}]
        devices.append(device)
    return devices


def _observation(assessment: Assessment, result: dict, group: Group, device_ref: str, study_ref: dict,
                 obs_id: str) -> dict:
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": obs_id,
        # Observation has no "registered" for a finished result: final with its report, else preliminary.
        "status": "final" if report_status(assessment) == "final" else "preliminary",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "imaging", "display": "Imaging"}]}],
        "code": group.finding.concept(),
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{obs_id}"}],
        "device": {"reference": device_ref},
        "derivedFrom": [study_ref],
    }
    if group.finding_site is not None:
        observation["bodySite"] = group.finding_site.concept()
    if group.primary is not None:
        observation["valueQuantity"] = _quantity(group.primary)
    components = []
    for measure in group.measures:
        if measure is group.primary:
            continue
        components.append({"code": measure.concept.concept(), "valueQuantity": _quantity(measure)})
    for qualitative in group.qualitative:
        if qualitative.value is not None:
            components.append({"code": qualitative.concept.concept(), "valueCodeableConcept":
                               {**qualitative.value.concept(), "text": qualitative.text}})
        else:
            components.append({"code": qualitative.concept.concept(), "valueString": qualitative.text})
    if components:
        observation["component"] = components
    if group.primary is None and not components:
        observation["valueString"] = group.label
    interpretations = []
    reading = result.get("reading") if group.tracking_id == "bone-age" else None
    if reading in _READINGS:
        code, display = _READINGS[reading]
        interpretations.append({"coding": [{"system": INTERPRETATION, "code": code, "display": display}]})
    if group.critical:
        interpretations.append({"coding": [{"system": INTERPRETATION, "code": "AA",
                                            "display": "Critical abnormal"}], "text": "critical finding"})
    if interpretations:
        observation["interpretation"] = interpretations
    notes = [{"text": group.label}]
    if result.get("notice"):
        notes.append({"text": result["notice"]})
    observation["note"] = notes
    if assessment.finished_at:
        observation["issued"] = assessment.finished_at.isoformat()
    observation["effectiveDateTime"] = assessment.created_at.isoformat()
    return observation


def _conclusion(result: dict) -> str:
    parts = []
    if result.get("notice"):
        parts.append(f"{result['notice'].upper()}: {result['notice']}.")
    parts.append(result["summary"])
    for finding in result.get("critical_findings") or []:
        parts.append(f"Critical finding: {finding['message']}")
    return " ".join(parts)


def _report(assessment: Assessment, result: dict | None, result_refs: list[str],
            device_refs: list[str] = ()) -> dict:
    name = assessment.model_name
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": str(assessment.id),
        "meta": {"lastUpdated": last_updated(assessment).isoformat()},
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{assessment.id}"}],
        "basedOn": [{"reference": f"ServiceRequest/{assessment.id}"}],
        "status": report_status(assessment),
        "category": [{"coding": [{"system": V2_0074, "code": "RAD", "display": "Radiology"}]}],
        "code": {"coding": [codes.DIAGNOSTIC_IMAGING_REPORT.coding(),
                            {"system": ASSESSMENT_SYSTEM, "code": name, "display": assessment_title(name)}],
                 "text": assessment_title(name)},
        "effectiveDateTime": assessment.created_at.isoformat(),
        "performer": [{"display": "MIP imaging AI platform"}],
        "imagingStudy": [_study_reference(assessment)],
    }
    if assessment.finished_at:
        report["issued"] = assessment.finished_at.isoformat()
    if result is None:
        notice = "demo, not for diagnostic use" if assessment.model_is_demo else None
        report["conclusion"] = " ".join(filter(None, [
            notice and f"{notice.upper()}: {notice}.",
            "The assessment failed; no result." if assessment.status == Assessment.Status.FAILED
            else "The assessment has not finished yet."]))
        return report
    report["result"] = [{"reference": ref} for ref in result_refs]
    report["conclusion"] = _conclusion(result)
    if result.get("critical_findings"):
        report["conclusionCode"] = [
            {"coding": [{**codes.CRITICAL_FINDING.coding(), "code": f"critical-{finding['code']}",
                         "display": finding["message"][:200]}], "text": finding["message"]}
            for finding in result["critical_findings"]]
    # One per model stage, referencing its Device (so every contained Device is referenced from the report).
    report["extension"] = [
        {"url": MODEL_EXTENSION, "valueReference": {
            "reference": device_ref,
            "display": f"{stage['name']} version {stage['version']} {stage['precision']}"
                       + (" (demo, not for diagnostic use)" if stage.get("demo", result["model"]["demo"]) else "")}}
        for stage, device_ref in zip(result["model"]["stages"], device_refs, strict=True)]
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    report["presentedForm"] = [
        {"contentType": "application/pdf", "title": "Report (PDF)",
         "url": base + reverse("reports:assessment-report-pdf", kwargs={"assessment_id": assessment.id})},
        {"contentType": "text/html", "title": "Report (HTML)",
         "url": base + reverse("reports:assessment-report-html", kwargs={"assessment_id": assessment.id})},
    ]
    return report


def _parts(assessment: Assessment):
    """(result or None, devices, observations by id) of one assessment; references are filled by the callers."""
    if assessment.status != Assessment.Status.SUCCEEDED or assessment.result is None:
        return None, [], []
    result = report_result(assessment)
    devices = _devices(assessment, result)
    groups = measurement_groups(result)
    observations = [(group, _local_id(assessment, "observation", group.tracking_id)) for group in groups]
    return result, devices, observations


def diagnostic_report_resource(assessment: Assessment) -> dict:
    """The DiagnosticReport alone (FHIR read and search), its Observations and Devices `contained` in it."""
    result, devices, observations = _parts(assessment)
    contained = []
    device_ref = f"#{devices[-1]['id']}" if devices else ""
    for group, obs_id in observations:
        contained.append(_observation(assessment, result, group, device_ref, _study_reference(assessment), obs_id))
    report = _report(assessment, result, [f"#{obs_id}" for _, obs_id in observations],
                     [f"#{device['id']}" for device in devices])
    if contained or devices:
        report["contained"] = devices + contained
    return DiagnosticReport.model_validate(report).model_dump(mode="json", exclude_none=True)


def diagnostic_report_bundle(assessment: Assessment) -> dict:
    """A `collection` Bundle: the DiagnosticReport, its Observations and the model Devices as separate entries
    (references by urn:uuid full URLs), validated as FHIR R4(B). Raises pydantic.ValidationError on a bug."""
    result, devices, observations = _parts(assessment)
    entries = []
    device_ref = f"urn:uuid:{devices[-1]['id']}" if devices else ""
    for group, obs_id in observations:
        entries.append({"fullUrl": f"urn:uuid:{obs_id}", "resource": _observation(
            assessment, result, group, device_ref, _study_reference(assessment), obs_id)})
    report = _report(assessment, result, [f"urn:uuid:{obs_id}" for _, obs_id in observations],
                     [f"urn:uuid:{device['id']}" for device in devices])
    bundle = {
        "resourceType": "Bundle",
        "id": _local_id(assessment, "bundle", "report"),
        "type": "collection",
        "timestamp": last_updated(assessment).isoformat(),
        "entry": [{"fullUrl": f"{fhir_base_url()}/DiagnosticReport/{assessment.id}", "resource": report}]
                 + entries + [{"fullUrl": f"urn:uuid:{d['id']}", "resource": d} for d in devices],
    }
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
