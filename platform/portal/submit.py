"""The submit page: drop files, choose the assessment, send each file (or one series) with a progress bar.

The page posts each file (or a zip, or a group of DICOM files the person marks as one series) to `submit_files`
with XMLHttpRequest, whose upload progress events drive a bar per file; that endpoint answers JSON in the API's
problem shape, so the page shows the same error codes as the API, in plain words (portal.errors).
"""
from __future__ import annotations


from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from api.problems import ApiProblem, problem_response
from api.ratelimit import enforce_rate_limits
from audit.services import AuditUnavailable, audit_event_record
from inference import services
from inference.catalog import CATALOG
from inference.models import Assessment
from portal.errors import plain_words
from portal.views import require_capability
from studies.imaging import ImageRejected
from studies.storage import StorageUnavailable
from tenants.roles import Capability

# Chronological age: what a pediatric bone-age or an adult study may carry (months).
_MAX_AGE_MONTHS = 300


def assessment_choices() -> list[tuple[str, str, str]]:
    """(name, title, input kind) of every assessment in the catalogue: "image" takes one file per assessment,
    "series" takes many DICOM files or a zip of one series as one assessment."""
    return sorted(((name, getattr(model, "title", "") or name, getattr(model, "input_kind", "image"))
                   for name, model in CATALOG.items()), key=lambda item: str(item[1]))


@login_required
@require_capability(Capability.SUBMIT)
def submit_page(request):
    return render(request, "portal/submit.html", {
        "assessments": assessment_choices(),
        "max_upload_bytes": settings.MAX_UPLOAD_BYTES,
        "series_supported": hasattr(services, "assessment_submit_files"),
        "priorities": [(v, label) for v, label in Assessment.Priority.choices if v in {"routine", "urgent"}],
        "i18n": {
            "ready": _("Ready"), "uploading": _("Uploading"), "queued": _("Queued"), "failed": _("Refused"),
            "duplicate": _("Already submitted"), "open": _("Open the assessment"),
            "network": _("The connection failed. Check the network and submit again."),
            "too_large": str(plain_words("file_too_large")), "no_files": _("Choose at least one file."),
            "remove": _("Remove"), "prefilled": _("Filled in from the DICOM header of"),
            "series": _("DICOM series"),
        },
    })


class _Refused(Exception):
    def __init__(self, status: int, code: str, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


def _problem(request, exc: _Refused) -> JsonResponse:
    # The API's RFC 9457 answer, plus `message`: the plain-language sentence the page shows.
    return problem_response(status=exc.status, code=exc.code, detail=exc.detail, instance=request.path,
                            headers=exc.headers, extra={"message": plain_words(exc.code, exc.detail)})


def _form_inputs(post) -> tuple[str, str | None, float | None, str]:
    model_name = (post.get("model") or "").strip()
    if not model_name:
        raise _Refused(400, "model_missing", "Name the assessment.")
    sex = (post.get("patient_sex") or "").strip().upper() or None
    if sex not in {None, "M", "F"}:
        raise _Refused(400, "invalid_patient_sex", "patient_sex must be M or F.")
    raw_age = (post.get("chronological_age_months") or "").strip()
    age = None
    if raw_age:
        try:
            age = float(raw_age)
        except ValueError:
            raise _Refused(400, "invalid_chronological_age", "The age must be a number of months.") from None
        if not 0 <= age <= _MAX_AGE_MONTHS:
            raise _Refused(400, "invalid_chronological_age", "The age must be between 0 and 300 months.")
    priority = (post.get("priority") or Assessment.Priority.ROUTINE).strip()
    # A submitter asks for routine or urgent; anything above is the platform's own judgement of the result.
    if priority not in {Assessment.Priority.ROUTINE, Assessment.Priority.URGENT}:
        raise _Refused(400, "invalid_priority", "priority must be routine or urgent.")
    return model_name, sex, age, priority


def _submit(request, files: list[tuple[str | None, bytes]], model_name, sex, age, priority):
    """Every submission through the one service the API uses: one image, or a series as files or a zip."""
    return services.assessment_submit_files(
        tenant=request.tenant, files=files, model_name=model_name, patient_sex=sex, chronological_age_months=age,
        priority=priority, submitted_by_user=request.user)


@login_required
@require_POST
@require_capability(Capability.SUBMIT)
def submit_files(request):
    """POST multipart `files` (one, or several forming one series, or a zip), `model`, `patient_sex`,
    `chronological_age_months`, `priority`. 202 {id, url, status, duplicate}; errors as problem JSON."""
    try:
        uploads = request.FILES.getlist("files")
        if not uploads:
            raise _Refused(400, "file_missing", "Send the image as the multipart form field 'files'.")
        if sum(upload.size for upload in uploads) > settings.MAX_UPLOAD_BYTES:
            raise _Refused(413, "file_too_large", "The upload is larger than the limit.")
        model_name, sex, age, priority = _form_inputs(request.POST)
        try:
            # The same per-hospital budget as the API: the portal is one more client of the hospital's quota.
            enforce_rate_limits(tenant=request.tenant)
        except ApiProblem as exc:
            raise _Refused(exc.status_code, exc.problem_code, exc.problem_detail, exc.headers) from None
        files = [(upload.name, upload.read()) for upload in uploads]
        try:
            with transaction.atomic():
                submission = _submit(request, files, model_name, sex, age, priority)
                audit_event_record(event="assessment.upload", request=request, tenant=request.tenant,
                                   assessment=submission.assessment,
                                   details={"duplicate": not submission.created, "model": model_name,
                                            "via": "portal", "files": len(files)})
        except ImageRejected as exc:
            raise _Refused(exc.http_status, exc.code, exc.message) from None
        except services.SubmissionRejected as exc:
            raise _Refused(exc.http_status, exc.code, exc.message, exc.headers) from None
        except StorageUnavailable:
            raise _Refused(503, "storage_unavailable", "The image store is unavailable.", {"Retry-After": "30"}) \
                from None
        except AuditUnavailable:
            raise _Refused(503, "audit_unavailable", "The audit trail cannot be written.") from None
    except _Refused as exc:
        return _problem(request, exc)
    assessment = submission.assessment
    return JsonResponse({"id": str(assessment.pk), "status": assessment.status,
                         "status_display": _(assessment.get_status_display()),
                         "url": reverse("portal:assessment-detail", args=[assessment.pk]),
                         "duplicate": not submission.created}, status=202 if submission.created else 200)
