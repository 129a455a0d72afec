"""FHIR ServiceRequest -> assessment order: which assessment, the patient's sex and age, and the images.

Pure parsing plus the study lookup; the view submits. Every refusal is an OrderRejected with a stable code and an
HTTP status (400 malformed, 404 unknown study, 413 too large, 422 cannot be ordered).
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from inference.catalog import CATALOG
from reports.fhir import ASSESSMENT_SYSTEM
from studies.models import ImageInstance, Study

IMAGE_CONTENT_TYPES = {"application/dicom", "image/png", "image/jpeg"}
DAYS_PER_MONTH = 365.2425 / 12
_ORDER_INTENTS = {"order", "original-order", "instance-order", "filler-order"}


class OrderRejected(Exception):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass
class Order:
    request: dict  # the ServiceRequest as received (validated)
    model_name: str
    patient_sex: str | None
    chronological_age_months: float | None
    files: list[tuple[bytes, str]] = field(default_factory=list)  # (bytes, file name)
    study_uid: str | None = None  # when the images are a study the hospital sent before
    series_uid: str | None = None
    priority: str = "routine"  # the platform's: ServiceRequest urgent, asap and stat are "urgent"


def _validated(body: Any) -> dict:
    if not isinstance(body, dict) or body.get("resourceType") != "ServiceRequest":
        raise OrderRejected(400, "not_a_service_request", "Send one FHIR R4 ServiceRequest resource as JSON.")
    try:
        ServiceRequest.model_validate(body)
    except ValidationError as exc:
        # Locations only: the values may be patient data and are not echoed.
        where = sorted({".".join(str(p) for p in error["loc"]) for error in exc.errors()})[:5]
        raise OrderRejected(400, "invalid_resource",
                            "The ServiceRequest is not valid FHIR R4: check " + ", ".join(where) + ".") from None
    except (TypeError, ValueError):
        raise OrderRejected(400, "invalid_resource", "The ServiceRequest is not valid FHIR R4.") from None
    return body


def _model_name(request: dict) -> str:
    code = request.get("code") or {}
    candidates = [c.get("code") for c in code.get("coding") or [] if c.get("system") == ASSESSMENT_SYSTEM]
    candidates += [c.get("code") for c in code.get("coding") or []]
    candidates.append(code.get("text"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip() in CATALOG:
            return candidate.strip()
    offered = ", ".join(sorted(CATALOG))
    raise OrderRejected(422, "unknown_model", f"ServiceRequest.code must name an assessment the platform offers "
                                              f"(system {ASSESSMENT_SYSTEM}, code one of: {offered}).")


def _contained(request: dict) -> dict[str, dict]:
    return {f"#{r.get('id')}": r for r in request.get("contained") or [] if isinstance(r, dict) and r.get("id")}


def _reference_date(request: dict) -> dt.date:
    for key in ("occurrenceDateTime", "authoredOn"):
        value = request.get(key)
        if isinstance(value, str) and len(value) >= 10:
            try:
                return dt.date.fromisoformat(value[:10])
            except ValueError:
                continue
    return timezone.now().date()


def _patient(request: dict) -> tuple[str | None, float | None]:
    reference = ((request.get("subject") or {}).get("reference") or "")
    patient = _contained(request).get(reference)
    if not patient or patient.get("resourceType") != "Patient":
        return None, None  # a Patient elsewhere: sex and age come from the DICOM header
    sex = {"male": "M", "female": "F"}.get(patient.get("gender") or "")
    birth = patient.get("birthDate")
    age = None
    if isinstance(birth, str) and len(birth) == 10:  # a partial date (year, year-month) gives no usable age
        on = _reference_date(request)
        days = (on - dt.date.fromisoformat(birth)).days
        age = round(days / DAYS_PER_MONTH, 1)
        if not 0 <= age <= 300:
            raise OrderRejected(422, "invalid_chronological_age",
                                "The patient's birth date gives an age outside 0-300 months at the order's date.")
    return sex, age


def _attachment_file(attachment: dict, where: str) -> tuple[bytes, str] | None:
    content_type = (attachment.get("contentType") or "").split(";")[0].strip().lower()
    data = attachment.get("data")
    if data is None:
        return None
    if content_type not in IMAGE_CONTENT_TYPES:
        raise OrderRejected(415, "unsupported_media_type",
                            f"{where}: contentType must be one of {', '.join(sorted(IMAGE_CONTENT_TYPES))}.")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise OrderRejected(400, "invalid_base64", f"{where}: data is not valid base64.") from None
    if len(raw) > settings.MAX_UPLOAD_BYTES:
        raise OrderRejected(413, "file_too_large", f"{where}: the image is larger than the upload limit.")
    extension = {"application/dicom": "dcm", "image/png": "png", "image/jpeg": "jpg"}[content_type]
    return raw, f"{where.replace('/', '-')}.{extension}"


def _inline_files(request: dict) -> list[tuple[bytes, str]]:
    files = []
    for index, resource in enumerate(request.get("contained") or []):
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        where = f"contained[{index}]"
        if kind == "Binary":
            found = _attachment_file({"contentType": resource.get("contentType"), "data": resource.get("data")},
                                     where)
        elif kind == "Media":
            found = _attachment_file(resource.get("content") or {}, where)
        else:
            continue
        if found is not None:
            files.append(found)
    return files


def _uid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value.startswith("urn:oid:"):
        value = value[len("urn:oid:"):]
    return value if value and len(value) <= 64 and all(part.isdigit() for part in value.split(".")) else None


def _study_reference(request: dict) -> tuple[str | None, str | None]:
    """(Study Instance UID, Series Instance UID or None) named by supportingInfo or a contained ImagingStudy."""
    contained = _contained(request)
    references = list(request.get("supportingInfo") or [])
    for reference in references:
        target = contained.get(reference.get("reference") or "")
        if target and target.get("resourceType") == "ImagingStudy":
            found = _imaging_study_uids(target)
            if found[0]:
                return found
        identifier = reference.get("identifier") or {}
        if reference.get("type") in (None, "ImagingStudy") and _uid(identifier.get("value")):
            return _uid(identifier.get("value")), None
    for resource in contained.values():
        if resource.get("resourceType") == "ImagingStudy":
            found = _imaging_study_uids(resource)
            if found[0]:
                return found
    return None, None


def _imaging_study_uids(study: dict) -> tuple[str | None, str | None]:
    uid = next((_uid(i.get("value")) for i in study.get("identifier") or [] if _uid(i.get("value"))), None)
    series = next((_uid(s.get("uid")) for s in study.get("series") or [] if _uid(s.get("uid"))), None)
    return uid, series


def study_files(*, tenant, study_uid: str, series_uid: str | None) -> list[ImageInstance]:
    """The hospital's stored instances of a study (one series of it when named). OrderRejected 404 if none."""
    study = Study.objects.filter(tenant=tenant, study_instance_uid=study_uid).first()
    instances = ImageInstance.objects.filter(tenant=tenant, study=study) if study else ImageInstance.objects.none()
    if series_uid:
        instances = instances.filter(series_instance_uid=series_uid)
    found = list(instances.order_by("created_at"))
    if not found:
        raise OrderRejected(404, "study_not_found",
                            "Your hospital has sent no images of the study (or series) this ServiceRequest names.")
    return found


def order_parse(body: Any) -> Order:
    """Read a ServiceRequest order. Raises OrderRejected."""
    request = _validated(body)
    if request.get("intent") not in _ORDER_INTENTS:
        raise OrderRejected(422, "unsupported_intent", "ServiceRequest.intent must be an order (e.g. \"order\").")
    if request.get("status") not in ("active", "draft", None):
        raise OrderRejected(422, "unsupported_status", "Only an active ServiceRequest can be ordered.")
    model_name = _model_name(request)
    sex, age = _patient(request)
    files = _inline_files(request)
    study_uid, series_uid = (None, None) if files else _study_reference(request)
    if not files and not study_uid:
        raise OrderRejected(422, "no_images", "Put the images in the ServiceRequest (a contained Binary or Media "
                                              "with base64 data) or name a study your hospital sent "
                                              "(supportingInfo: an ImagingStudy identifier urn:oid:<Study UID>).")
    priority = "urgent" if request.get("priority") in ("urgent", "asap", "stat") else "routine"
    return Order(request=request, model_name=model_name, patient_sex=sex, chronological_age_months=age,
                 files=files, study_uid=study_uid, series_uid=series_uid, priority=priority)
