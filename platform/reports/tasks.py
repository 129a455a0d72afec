"""Celery task that builds an assessment's report artifacts after it succeeded (enqueued by the worker)."""
from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from inference.models import Assessment
from reports import services
from studies import storage
from tenants.tasks import TenantTask

logger = logging.getLogger(__name__)

MAX_RETRIES = 5


@shared_task(bind=True, base=TenantTask, name="reports.tasks.build_report_artifacts", max_retries=MAX_RETRIES,
             acks_late=True)
def build_report_artifacts(self, *, tenant_id: str, assessment_id: str) -> list[str] | None:
    """Build the SR, SEG, HTML and PDF of one succeeded assessment. Safe to run twice (already built: nothing to
    do); a missing or unfinished assessment is done, not retried; an unreachable object store is retried with
    capped exponential backoff. Returns the names of the artifacts the assessment has."""
    assessment = Assessment.objects.filter(pk=assessment_id).first()
    if assessment is None or assessment.status != Assessment.Status.SUCCEEDED:
        return None
    try:
        built = services.report_artifacts_build(assessment=assessment)
    except services.ResultNotReady:
        return None
    except storage.StorageUnavailable as exc:
        delay = min(60.0, float(getattr(settings, "INFERENCE_RETRY_BASE_S", 1.0)) * 2 ** (self.request.retries or 0))
        logger.info("report artifacts of %s: object store unavailable, retry in %.1fs", assessment_id, delay)
        raise self.retry(countdown=delay, exc=exc)
    except (storage.StoredObjectMissing, storage.StoredObjectCorrupt):
        logger.warning("report artifacts of %s: an input object is missing or corrupt", assessment_id)
        return None
    return sorted(built)
