"""HIS API: submit an image for assessment, then poll for the result."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.response import Response

from api.auditing import audit_or_fail
from api.base import TenantAPIView
from api.problems import ApiProblem
from api.serializers import assessment_location, serialize_assessment
from inference import selectors, services
from studies import storage
from studies.imaging import ImageRejected
from studies.storage import StorageUnavailable
from tenants.roles import Capability

# Multipart framing and the other form fields on top of the file itself.
_MULTIPART_OVERHEAD_BYTES = 1024 * 1024
_MAX_LIST_LIMIT = 200


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


class AssessmentCollectionView(TenantAPIView):
    """POST: submit a file for an assessment (202). GET: the hospital's recent assessments."""

    required_capabilities = {"POST": Capability.SUBMIT, "GET": Capability.READ}

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

    def get(self, request):
        try:
            limit = min(int(request.query_params.get("limit", 50)), _MAX_LIST_LIMIT)
        except ValueError:
            raise ApiProblem(status=400, code="invalid_limit", detail="limit must be an integer.") from None
        queryset = selectors.assessments_for_tenant(tenant=self.tenant)
        status_filter = request.query_params.get("status")
        if status_filter:
            queryset = queryset.filter(status=status_filter)
        assessments = list(queryset[: max(limit, 1)])
        # One event per list request, naming every assessment it returns (opaque ids, no patient data).
        audit_or_fail(request, event="assessment.list", tenant=self.tenant,
                      details={"assessment_ids": [str(a.pk) for a in assessments], "count": len(assessments),
                               "status": status_filter or ""})
        return Response({"results": [serialize_assessment(a) for a in assessments]})


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

    def get(self, request, assessment_id):
        assessment = _assessment_or_404(self.tenant, assessment_id)
        audit_or_fail(request, event="assessment.read", tenant=self.tenant, assessment=assessment)
        return Response(serialize_assessment(assessment))
