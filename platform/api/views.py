"""HIS API: submit an image for assessment, then poll for the result."""
from __future__ import annotations

import json
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from api import schemas
from api.audit_views import parse_when
from api.auditing import audit_or_fail
from api.base import TenantAPIView
from api.openapi import Problems, page_parameters
from api.pagination import paginate
from api.problems import ApiProblem
from api.serializers import assessment_location, serialize_assessment
from inference.models import Assessment
from inference import selectors, services
from studies import storage
from studies.imaging import ImageRejected
from studies.storage import StorageUnavailable
from tenants.roles import Capability

# Multipart framing and the other form fields on top of the file itself.
_MULTIPART_OVERHEAD_BYTES = 1024 * 1024
_MAX_LIST_LIMIT = 200
_DEFAULT_LIST_LIMIT = 50


def _parse_sex(raw: str | None) -> str | None:
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip().upper()
    if value not in {"M", "F"}:
        raise ApiProblem(status=400, code="invalid_patient_sex", detail="patient_sex must be M or F.")
    return value


def _parse_age(raw: str | None) -> float | None:
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ApiProblem(status=400, code="invalid_chronological_age",
                         detail="chronological_age_months must be a number of months.") from None
    if not (0 <= value <= 300) or value != value:
        raise ApiProblem(status=400, code="invalid_chronological_age",
                         detail="chronological_age_months must be between 0 and 300 months.")
    return value


def _too_large() -> ApiProblem:
    limit_mib = settings.MAX_UPLOAD_BYTES / (1024 * 1024)
    return ApiProblem(status=413, code="file_too_large",
                      detail=f"The file is larger than the {limit_mib:g} MiB limit.")


def _choice(params, name: str, choices) -> str:
    value = params.get(name) or ""
    if value and value not in choices:
        raise ApiProblem(status=400, code="invalid_filter", detail=f"{name} must be one of {', '.join(choices)}.")
    return value


def parse_bool(params, name: str) -> bool | None:
    """A boolean query parameter: true/false (or 1/0); absent or empty: None. ApiProblem 400 `invalid_filter`."""
    raw = (params.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in {"true", "1"}:
        return True
    if raw in {"false", "0"}:
        return False
    raise ApiProblem(status=400, code="invalid_filter", detail=f"{name} must be true or false.")


def assessment_filters(params) -> dict:
    """The list's query parameters as selector arguments (ApiProblem 400 `invalid_filter`/`invalid_time_range`)."""
    return {
        "status": _choice(params, "status", Assessment.Status.values),
        "model_name": (params.get("model") or "").strip(),
        "priority": _choice(params, "priority", Assessment.Priority.values),
        "is_critical": parse_bool(params, "is_critical"),
        "accession_number": (params.get("accession_number") or "").strip(),
        "study_instance_uid": (params.get("study_instance_uid") or "").strip(),
        "created_after": parse_when(params.get("created_after"), "created_after"),
        "created_before": parse_when(params.get("created_before"), "created_before"),
    }


_ASSESSMENT_EXAMPLE = {
    "id": "0b7f3c1e-7a43-4c55-9d7e-1b2f0d1f8a10",
    "status": "succeeded",
    "model": {"name": "bone_age", "version": 1, "precision": "fp32", "demo": True},
    "notice": "demo, not for diagnostic use",
    "study": {"study_instance_uid": "1.2.826.0.1.3680043.8.498.1", "series_instance_uid":
              "1.2.826.0.1.3680043.8.498.2", "sop_instance_uid": "1.2.826.0.1.3680043.8.498.3",
              "sha256": "9f2c...e1", "content_type": "application/dicom"},
    "patient_sex": "F",
    "chronological_age_months": 120.0,
    "attempts": 1,
    "submitted_at": "2026-03-02T09:15:04.120000+00:00",
    "started_at": "2026-03-02T09:15:04.410000+00:00",
    "finished_at": "2026-03-02T09:15:05.020000+00:00",
    "result": {"bone_age_months": 126.4},
    "error": None,
    "links": {"self": "/api/v1/assessments/0b7f3c1e-7a43-4c55-9d7e-1b2f0d1f8a10",
              "portal": "https://mip.example/assessments/0b7f3c1e-7a43-4c55-9d7e-1b2f0d1f8a10"},
}
_LIST_FILTERS = [
    OpenApiParameter("status", str, enum=Assessment.Status.values, required=False),
    OpenApiParameter("model", str, required=False, description="Model name, e.g. bone_age."),
    OpenApiParameter("priority", str, enum=Assessment.Priority.values, required=False),
    OpenApiParameter("is_critical", bool, required=False,
                     description="true: only assessments with a critical finding; false: only those without."),
    OpenApiParameter("accession_number", str, required=False, description="The study's accession number."),
    OpenApiParameter("study_instance_uid", str, required=False),
    OpenApiParameter("created_after", {"type": "string", "format": "date-time"}, required=False,
                     description="Submitted at or after (ISO-8601 with a time zone, or a date: midnight UTC)."),
    OpenApiParameter("created_before", {"type": "string", "format": "date-time"}, required=False,
                     description="Submitted before (ISO-8601 with a time zone, or a date: midnight UTC)."),
]
_AUDIT_UNAVAILABLE = Problems("audit_unavailable", description="The audit trail cannot be written; nothing was "
                                                                "done or shown. Retry after Retry-After.")


class AssessmentCollectionView(TenantAPIView):
    """POST: submit a file for an assessment (202). GET: the hospital's recent assessments."""

    required_capabilities = {"POST": Capability.SUBMIT, "GET": Capability.READ}

    @extend_schema(
        operation_id="assessments_create", tags=["assessments"], summary="Submit an image for assessment",
        description="Upload one image (multipart) and name the model. Answers 202 with the queued assessment; poll "
                    "its `links.self` until `status` is `succeeded` or `failed`. The same file with the same "
                    "model and inputs answers 200 with the existing assessment (`duplicate: true`). Send an "
                    "`Idempotency-Key` so a retry after a lost answer is safe (docs/api.md). Scope: `submit`.",
        request={"multipart/form-data": schemas.AssessmentSubmitSerializer},
        responses={
            202: OpenApiResponse(schemas.AssessmentSubmittedSerializer, description="Accepted and queued.",
                                 examples=[OpenApiExample("queued", value={**_ASSESSMENT_EXAMPLE, "status": "queued",
                                                                           "result": None, "started_at": None,
                                                                           "finished_at": None, "attempts": 0,
                                                                           "duplicate": False})]),
            200: OpenApiResponse(schemas.AssessmentSubmittedSerializer,
                                 description="The same submission already has an assessment (duplicate)."),
            400: Problems("file_missing", "model_missing", "invalid_patient_sex", "invalid_chronological_age",
                          "invalid_priority", "empty_file", "truncated_dicom", "malformed_dicom", "unknown_model",
                          "zip_invalid"),
            413: Problems("file_too_large", "image_too_large", "zip_too_large"),
            415: Problems("not_an_image"),
            422: Problems("unknown_model", "missing_patient_sex", "no_pixel_data", "undecodable_pixel_data",
                          "unsupported_image", "unsupported_modality", "unsupported_body_part", "image_too_small",
                          "too_many_files", "series_required", "zip_empty", "series_mixed", "series_incomplete",
                          "series_duplicate_position", "series_inconsistent_orientation",
                          "series_inconsistent_geometry", "series_missing_geometry", "series_too_few_slices",
                          "series_phases_uneven"),
            429: Problems("quota_exceeded", description="Over a rate limit, or the plan's monthly quota is used "
                                                         "up (`quota_exceeded`); see Retry-After."),
            503: Problems("storage_unavailable", "audit_unavailable", "model_version_unavailable"),
        },
    )
    def post(self, request):
        # Refuse an oversized body before reading it into memory or onto disk.
        declared = request.META.get("CONTENT_LENGTH")
        if declared and declared.isdigit() and int(declared) > settings.MAX_UPLOAD_BYTES + _MULTIPART_OVERHEAD_BYTES:
            raise _too_large()
        # One image, or every file of a series (repeat the field), or one zip of a series.
        uploads = request.FILES.getlist("file")
        if not uploads:
            raise ApiProblem(status=400, code="file_missing",
                             detail="Send the image as the multipart form field 'file'.")
        if sum(upload.size for upload in uploads) > settings.MAX_UPLOAD_BYTES:
            raise _too_large()
        model_name = (request.data.get("model") or "").strip()
        if not model_name:
            raise ApiProblem(status=400, code="model_missing",
                             detail="Name the assessment in the form field 'model', e.g. bone_age.")
        patient_sex = _parse_sex(request.data.get("patient_sex"))
        age = _parse_age(request.data.get("chronological_age_months"))
        priority = (request.data.get("priority") or "routine").strip().lower()
        files = [(upload.name, upload.read()) for upload in uploads]
        try:
            # The audit event commits with the assessment, or neither does; written last, so the hospital's
            # audit chain stays locked only for the end of the transaction.
            with transaction.atomic():
                submission = services.assessment_submit_files(
                    tenant=self.tenant,
                    files=files,
                    model_name=model_name,
                    patient_sex=patient_sex,
                    chronological_age_months=age,
                    priority=priority,
                    submitted_by_user=self.acting_user,
                    submitted_by_api_key=self.acting_api_key,
                )
                audit_or_fail(request, event="assessment.upload", tenant=self.tenant,
                              assessment=submission.assessment,
                              details={"duplicate": not submission.created, "model": model_name})
        except ImageRejected as exc:
            raise ApiProblem(status=exc.http_status, code=exc.code, detail=exc.message) from None
        except services.SubmissionRejected as exc:
            raise ApiProblem(status=exc.http_status, code=exc.code, detail=exc.message, headers=exc.headers,
                             extra=exc.extra) from None
        except StorageUnavailable:
            raise ApiProblem(status=503, code="storage_unavailable", headers={"Retry-After": "30"},
                             detail="The image store is unavailable; nothing was recorded. Try again shortly.") \
                from None
        body = serialize_assessment(submission.assessment)
        body["duplicate"] = not submission.created
        status = 202 if submission.created else 200
        return Response(body, status=status, headers={"Location": assessment_location(submission.assessment)})

    def audit_replay(self, request, response) -> None:
        """A replayed submission shows the assessment again: one `assessment.upload` event, as a duplicate."""
        if not 200 <= response.status_code < 300:
            return
        try:
            assessment_id = json.loads(response.content)["id"]
        except (ValueError, KeyError, TypeError):
            return
        assessment = selectors.assessment_for_tenant(tenant=self.tenant, assessment_id=assessment_id)
        if assessment is not None:
            audit_or_fail(request, event="assessment.upload", tenant=self.tenant, assessment=assessment,
                          details={"duplicate": True, "replayed": True, "model": assessment.model_name})

    @extend_schema(
        operation_id="assessments_list", tags=["assessments"], summary="List the hospital's assessments",
        description="Newest first, filtered, one page at a time (follow `next`). Scope: `read`.",
        parameters=[*_LIST_FILTERS, *page_parameters(default=_DEFAULT_LIST_LIMIT, maximum=_MAX_LIST_LIMIT)],
        responses={
            200: OpenApiResponse(schemas.AssessmentPageSerializer, examples=[OpenApiExample(
                "one page", value={"results": [_ASSESSMENT_EXAMPLE], "next": "/api/v1/assessments?limit=1&cursor="
                                   ".eJyLVkpKLS7JzM9TslIyNTBQ0lEqLU4tUrJSMjQwUNJRKi1OLVKyUjI0VKoFAEjzD2Y",
                                   "previous": None})]),
            400: Problems("invalid_filter", "invalid_time_range", "invalid_limit", "invalid_cursor"),
            503: _AUDIT_UNAVAILABLE,
        },
    )
    def get(self, request):
        filters = assessment_filters(request.query_params)
        page = paginate(request, selectors.assessments_matching(tenant=self.tenant, **filters),
                        ordering=("-created_at", "-id"), default_limit=_DEFAULT_LIST_LIMIT, max_limit=_MAX_LIST_LIMIT)
        assessments = page.items
        # One event per list request, naming every assessment it returns (opaque ids, no patient data).
        audit_or_fail(request, event="assessment.list", tenant=self.tenant,
                      details={"assessment_ids": [str(a.pk) for a in assessments], "count": len(assessments),
                               "status": filters["status"]})
        return Response(page.envelope([serialize_assessment(a) for a in assessments]))


def _assessment_or_404(tenant, assessment_id):
    """The hospital's assessment, or a 404 problem (also for malformed ids and other hospitals' ids)."""
    assessment = selectors.assessment_for_tenant(tenant=tenant, assessment_id=assessment_id)
    if assessment is None:
        raise ApiProblem(status=404, code="assessment_not_found",
                         detail="No assessment with this id exists for your hospital.")
    return assessment


class AssessmentOriginalView(TenantAPIView):
    """GET a short-lived download URL for the original file of one of the hospital's assessments."""

    required_capabilities = {"GET": Capability.READ}

    @extend_schema(
        operation_id="assessments_original", tags=["assessments"], summary="Download URL of the original file",
        description="A presigned URL, valid for a short time, of the file as uploaded. Scope: `read`.",
        responses={200: schemas.OriginalDownloadSerializer, 404: Problems("assessment_not_found"),
                   503: _AUDIT_UNAVAILABLE},
    )
    def get(self, request, assessment_id):
        assessment = _assessment_or_404(self.tenant, assessment_id)
        instance = assessment.instance
        audit_or_fail(request, event="assessment.download", tenant=self.tenant, assessment=assessment,
                      details={"via": "presigned_url"})
        ttl = settings.PRESIGNED_URL_TTL_S
        url = storage.presigned_download_url(tenant_id=self.tenant.id, key=instance.storage_key, ttl_s=ttl)
        expires_at = timezone.now() + timedelta(seconds=ttl)
        return Response({"url": url, "expires_at": expires_at.isoformat(), "content_type": instance.content_type,
                         "sha256": instance.sha256, "size_bytes": instance.size_bytes})


class AssessmentDetailView(TenantAPIView):
    """GET one assessment of the caller's hospital. Another hospital's id is a 404, never a 403."""

    required_capabilities = {"GET": Capability.READ}

    @extend_schema(
        operation_id="assessments_retrieve", tags=["assessments"], summary="Read one assessment",
        description="Poll this until `status` is `succeeded` (read `result`) or `failed` (read `error`). "
                    "Scope: `read`.",
        responses={200: OpenApiResponse(schemas.AssessmentSerializer, examples=[
                       OpenApiExample("succeeded", value=_ASSESSMENT_EXAMPLE)]),
                   404: Problems("assessment_not_found"), 503: _AUDIT_UNAVAILABLE},
    )
    def get(self, request, assessment_id):
        assessment = _assessment_or_404(self.tenant, assessment_id)
        audit_or_fail(request, event="assessment.read", tenant=self.tenant, assessment=assessment)
        return Response(serialize_assessment(assessment))
