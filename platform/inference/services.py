"""Writes on assessments: submission, and the state changes the worker makes."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inference.catalog import get_assessment_model
from inference.models import Assessment
from studies.imaging import check_fit_for_model, parse_upload
from studies.services import image_ingest
from registry.routing import NoServableVersion, choose_version
from tenants.models import ApiKey, Tenant

logger = logging.getLogger(__name__)


class SubmissionRejected(Exception):
    """A submission the platform refuses, with a stable code, a human message and an HTTP status."""

    def __init__(self, code: str, message: str, http_status: int = 422, *, headers: dict[str, str] | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.headers = headers or {}
        self.extra = extra or {}


@dataclass(frozen=True)
class Submission:
    assessment: Assessment
    created: bool  # False when an identical, not failed, assessment already existed and is returned


def _resolve_patient_inputs(
    header_sex: str | None, header_age_months: float | None, patient_sex: str | None,
    chronological_age_months: float | None,
) -> tuple[str, float | None]:
    """The submitter's values override the DICOM header; the header fills what they leave out."""
    sex = (patient_sex or header_sex or "").upper()
    if sex not in {"", "M", "F"}:
        sex = ""  # header values such as "O" (other) cannot drive a sex-specific reference
    age = chronological_age_months if chronological_age_months is not None else header_age_months
    return sex, age


def assessment_submit(
    *,
    tenant: Tenant,
    data: bytes,
    filename: str | None,
    model_name: str,
    patient_sex: str | None = None,
    chronological_age_months: float | None = None,
    priority: str = "routine",
    submitted_by_user=None,
    submitted_by_api_key: ApiKey | None = None,
) -> Submission:
    """Validate one uploaded image, store it once, and queue an assessment of it.

    Raises SubmissionRejected (unknown model, missing input, a series assessment), studies.imaging.ImageRejected
    (bad file) and studies.storage.StorageUnavailable (object store down; nothing is recorded). The same file with
    the same model and inputs, while its earlier assessment has not failed, returns that assessment (created=False),
    so an HIS that retries a POST after a lost answer does not get, or pay for, a second assessment.
    """
    assessment_model = _assessment_model_or_reject(model_name, priority)
    if assessment_model.input_kind != "image":
        raise SubmissionRejected(
            "series_required", f"{assessment_model.title} needs a whole series: send every DICOM file of the "
            "series (several 'file' fields) or one zip of them.", 422)

    parsed = parse_upload(data, filename)
    check_fit_for_model(parsed, model_name)
    sex, age = _resolve_patient_inputs(parsed.patient_sex, parsed.patient_age_months, patient_sex,
                                       chronological_age_months)
    if assessment_model.requires_sex and not sex:
        raise SubmissionRejected(
            "missing_patient_sex",
            "Patient sex is needed for this assessment and the file does not say it: send patient_sex M or F.",
            422,
        )
    ingested = image_ingest(tenant=tenant, data=data, parsed=parsed)
    return _assessment_create(
        tenant=tenant, assessment_model=assessment_model, instance=ingested.instance, series=None,
        reuse_existing=not ingested.created, sex=sex, age=age, priority=priority,
        submitted_by_user=submitted_by_user, submitted_by_api_key=submitted_by_api_key,
    )


def assessment_submit_files(
    *,
    tenant: Tenant,
    files: list[tuple[str | None, bytes]],
    model_name: str,
    patient_sex: str | None = None,
    chronological_age_months: float | None = None,
    priority: str = "routine",
    submitted_by_user=None,
    submitted_by_api_key: ApiKey | None = None,
) -> Submission:
    """Queue an assessment of uploaded files: one image, or the files (or a zip) of one DICOM series.

    `files` are (file name, bytes) pairs. For a series assessment the files are grouped, ordered along the slice
    normal and checked (studies.series), stored once each, and recorded as one Series; the same series sent again
    returns its earlier assessment like a re-sent image does. Raises SubmissionRejected (with the series codes of
    docs/catalogue.md), ImageRejected and StorageUnavailable as assessment_submit does.
    """
    assessment_model = _assessment_model_or_reject(model_name, priority)
    if not files:
        raise SubmissionRejected("file_missing", "Send at least one file.", 400)
    if assessment_model.input_kind == "image":
        from studies.series import SeriesRejected, collect_files

        try:
            files = collect_files(files)  # a zip holding the one image is the image
        except SeriesRejected as exc:
            raise SubmissionRejected(exc.code, exc.message, exc.http_status) from None
        if len(files) != 1:
            raise SubmissionRejected("too_many_files",
                                     f"{assessment_model.title} assesses one image; send exactly one file.", 422)
        name, data = files[0]
        return assessment_submit(tenant=tenant, data=data, filename=name, model_name=model_name,
                                 patient_sex=patient_sex, chronological_age_months=chronological_age_months,
                                 priority=priority, submitted_by_user=submitted_by_user,
                                 submitted_by_api_key=submitted_by_api_key)

    from studies.series import SeriesRejected, assemble_series, collect_files
    from studies.services import series_ingest

    try:
        ordered = assemble_series(collect_files(files), min_slices=assessment_model.min_slices,
                                  cine=assessment_model.cine)
    except SeriesRejected as exc:
        raise SubmissionRejected(exc.code, exc.message, exc.http_status) from None
    modality = (ordered.modality or "").upper()
    if assessment_model.series_modalities and modality not in assessment_model.series_modalities:
        raise SubmissionRejected(
            "unsupported_modality",
            f"{assessment_model.title} needs a {' or '.join(assessment_model.series_modalities)} series; this is "
            f"a {modality or 'series without a modality'}.", 422)
    # The header facts were read while assembling the series; no need to decode a slice again.
    header = ordered.instances[0].header
    sex, age = _resolve_patient_inputs(header.get("patient_sex"), header.get("patient_age_months"), patient_sex,
                                       chronological_age_months)
    ingested = series_ingest(tenant=tenant, series=ordered)
    first = ingested.series.members.order_by("position").select_related("instance").first()
    return _assessment_create(
        tenant=tenant, assessment_model=assessment_model, instance=first.instance, series=ingested.series,
        reuse_existing=not ingested.created, sex=sex, age=age, priority=priority,
        submitted_by_user=submitted_by_user, submitted_by_api_key=submitted_by_api_key,
    )


def _assessment_model_or_reject(model_name: str, priority: str):
    assessment_model = get_assessment_model(model_name)
    if assessment_model is None:
        raise SubmissionRejected("unknown_model", f"There is no assessment model named {model_name!r}.", 422)
    if priority not in (Assessment.Priority.ROUTINE, Assessment.Priority.URGENT):
        raise SubmissionRejected("invalid_priority", "priority must be routine or urgent.", 400)
    return assessment_model


def _assessment_create(*, tenant, assessment_model, instance, series, reuse_existing: bool, sex: str,
                       age: float | None, priority: str, submitted_by_user, submitted_by_api_key) -> Submission:
    """Create the assessment row (or return the live one for the same input), under the hospital's quota."""
    model_name = assessment_model.name
    with transaction.atomic():
        if reuse_existing:
            existing = (
                Assessment.objects.select_for_update()
                .filter(instance=instance, series=series, model_name=model_name, patient_sex=sex,
                        chronological_age_months=age)
                .exclude(status=Assessment.Status.FAILED)
                .order_by("-created_at")
                .first()
            )
            if existing is not None:
                return Submission(assessment=existing, created=False)
        # The plan's monthly cap (billing): checked after the duplicate lookup (a re-sent file still gets its
        # assessment) and under a per-hospital lock held to commit, so concurrent submissions cannot overshoot.
        from billing.services import quota_refusal

        refusal = quota_refusal(tenant=tenant)
        if refusal is not None:
            raise SubmissionRejected("quota_exceeded", refusal.message, 429,
                                     headers={"Retry-After": str(refusal.retry_after_s(timezone.now()))},
                                     extra=refusal.problem_extra())
        # The id is drawn first because the canary split is a function of it (a retry keeps its versions).
        assessment_id = uuid.uuid4()
        routes = []
        for stage_model in assessment_model.stage_models:
            try:
                routes.append(choose_version(tenant=tenant, model_name=stage_model, assessment_id=assessment_id,
                                             is_ready=version_readiness))
            except NoServableVersion as exc:
                raise SubmissionRejected("model_version_unavailable", str(exc), 503) from None
        first = routes[0]
        precisions = {route.precision for route in routes}
        assessment = Assessment.objects.create(
            id=assessment_id,
            tenant=tenant,
            instance=instance,
            series=series,
            model_name=model_name,
            model_version=first.version,
            model_precision=precisions.pop() if len(precisions) == 1 else "mixed",
            model_is_demo=any(route.is_demo for route in routes),
            routing_reason=first.reason,
            # Shadow runs compare one model's answers; multi-stage pipelines are not shadowed.
            shadow_version=first.shadow_version if len(routes) == 1 and assessment_model.compare else None,
            stage_versions=[{"name": stage_model, "version": route.version, "precision": route.precision,
                             "demo": route.is_demo, "reason": route.reason}
                            for stage_model, route in zip(assessment_model.stage_models, routes)],
            priority=priority,
            patient_sex=sex,
            chronological_age_months=age,
            submitted_by_user=submitted_by_user,
            submitted_by_api_key=submitted_by_api_key,
        )
        transaction.on_commit(lambda: assessment_enqueue(assessment=assessment))
    return Submission(assessment=assessment, created=True)


def version_readiness(model_name: str, version: int) -> bool | None:
    """Whether the model server has this version loaded and ready (cached briefly); None when it cannot be asked."""
    from inference.tasks import model_version_ready

    return model_version_ready(model_name, version)


# A publish waits for the broker about a second at most: a web request must not hang on an outage.
_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


def _queue_for(assessment: Assessment) -> str:
    """Urgent (and critical) work has its own queue and workers, so a routine backlog can never delay it."""
    return (settings.CELERY_URGENT_QUEUE if assessment.priority != Assessment.Priority.ROUTINE
            else settings.CELERY_TASK_DEFAULT_QUEUE)


def assessment_enqueue(*, assessment: Assessment) -> bool:
    """Publish the assessment's task. A broker outage is not fatal: the row stays `queued` and the periodic
    requeue sweep publishes it again, so the submission is never lost. Returns whether it was published."""
    from inference.tasks import run_assessment

    try:
        run_assessment.apply_async(
            kwargs={"tenant_id": str(assessment.tenant_id), "assessment_id": str(assessment.id)},
            queue=_queue_for(assessment),
            retry=True,
            retry_policy=_PUBLISH_RETRY_POLICY,
        )
    except Exception as exc:  # kombu raises several unrelated types for an unreachable broker
        logger.warning("could not publish assessment %s (%s); the requeue sweep will retry", assessment.id,
                       type(exc).__name__)
        return False
    Assessment.objects.dangerously_all_tenants().filter(pk=assessment.pk).update(enqueued_at=timezone.now())
    return True


def assessment_start(*, assessment_id) -> Assessment | None:
    """Move a queued (or interrupted running) assessment to running and count the attempt.

    Returns None when there is nothing to do: the row is gone or already finished (a duplicate delivery).
    """
    with transaction.atomic():
        assessment = Assessment.objects.select_for_update().filter(pk=assessment_id).first()
        if assessment is None or assessment.is_terminal:
            return None
        assessment.status = Assessment.Status.RUNNING
        assessment.attempts += 1
        assessment.started_at = assessment.started_at or timezone.now()
        assessment.save(update_fields=["status", "attempts", "started_at"])
        return assessment


def assessment_succeed(*, assessment_id, result: dict[str, Any], served_version: int,
                       artifacts: list[dict] | None = None, key_instance_id=None) -> bool:
    """Record the result once, with its critical findings, artifacts and usage record, in one transaction.

    `artifacts` are objects already written to storage (name, kind, storage_key, sha256, size_bytes,
    content_type); `key_instance_id` is the series image the result is best shown on. Returns False if another
    delivery already finished it. A critical finding raises the priority, tops the worklist and notifies the
    hospital after commit.
    """
    from inference.critical import critical_findings
    from inference.models import AssessmentArtifact

    with transaction.atomic():
        assessment = Assessment.objects.select_for_update().filter(pk=assessment_id).first()
        if assessment is None or assessment.is_terminal:
            return False
        findings = [dict(finding) if isinstance(finding, dict) else dict(vars(finding))
                    for finding in critical_findings(assessment.model_name, result)]
        result = {**result, "critical_findings": findings}
        assessment.status = Assessment.Status.SUCCEEDED
        assessment.result = result
        assessment.model_version = served_version
        assessment.is_critical = bool(findings)
        assessment.critical_findings = findings
        if findings:
            assessment.priority = Assessment.Priority.CRITICAL
        if key_instance_id:
            assessment.instance_id = key_instance_id
        assessment.error_code = ""
        assessment.error_message = ""
        assessment.finished_at = timezone.now()
        assessment.save(
            update_fields=["status", "result", "model_version", "is_critical", "critical_findings", "priority",
                           "instance", "error_code", "error_message", "finished_at"]
        )
        for artifact in artifacts or []:
            AssessmentArtifact.objects.get_or_create(
                tenant_id=assessment.tenant_id, assessment=assessment, name=artifact["name"],
                defaults={key: artifact[key] for key in ("kind", "storage_key", "sha256", "size_bytes",
                                                         "content_type")},
            )
        # The one billable event, in the same transaction as the result (billing: unique per assessment).
        from billing.services import usage_record_for_success

        usage_record_for_success(assessment=assessment)
        from webhooks.services import assessment_event_publish, critical_finding_notify

        assessment_event_publish(assessment=assessment)  # assessment.succeeded, sent on commit
        if findings:
            critical_finding_notify(assessment=assessment)  # webhook and e-mail, sent on commit
        # ORU^R01 to the hospital's HL7 v2 receiver, if it has one: the delivery row commits with the result.
        from integrations.hl7v2.services import oru_send_for

        oru_send_for(assessment=assessment)
        # The SR, SEG, HTML and PDF are built in the background, on the assessment's own queue.
        from reports.services import report_artifacts_enqueue

        queue = _queue_for(assessment)
        transaction.on_commit(lambda: report_artifacts_enqueue(assessment=assessment, queue=queue))
        return True


def assessment_fail(*, assessment_id, code: str, message: str) -> bool:
    """End the assessment in the visible `failed` state with a reason. False if it had already finished."""
    with transaction.atomic():
        assessment = Assessment.objects.select_for_update().filter(pk=assessment_id).first()
        if assessment is None or assessment.is_terminal:
            return False
        assessment.status = Assessment.Status.FAILED
        assessment.error_code = code
        assessment.error_message = message
        assessment.finished_at = timezone.now()
        assessment.save(update_fields=["status", "error_code", "error_message", "finished_at"])
        from webhooks.services import assessment_event_publish  # assessment.failed, sent on commit
        assessment_event_publish(assessment=assessment)
        return True


def assessment_note_retry(*, assessment_id, code: str, message: str) -> None:
    """Keep the assessment visibly waiting (`queued`) with the reason of the last transient failure."""
    # enqueued_at moves forward so the requeue sweep does not publish a second copy while the retry waits.
    Assessment.objects.filter(pk=assessment_id, status=Assessment.Status.RUNNING).update(
        status=Assessment.Status.QUEUED, error_code=code, error_message=message, enqueued_at=timezone.now()
    )


def shadow_result_record(*, assessment: Assessment, version: int, precision: str, result: dict | None,
                         difference: float | None, agrees: bool | None, error_code: str = "") -> None:
    """Store a shadow run's outcome once (a re-delivery does not duplicate it). Never billed, never shown."""
    from inference.models import ShadowResult

    ShadowResult.objects.get_or_create(
        assessment=assessment, model_version=version,
        defaults={"tenant_id": assessment.tenant_id, "model_precision": precision, "result": result,
                  "difference": difference, "agrees": agrees, "error_code": error_code},
    )
