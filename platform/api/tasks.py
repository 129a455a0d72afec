"""Periodic upkeep of the API's own tables."""
from __future__ import annotations

from celery import shared_task

from api import idempotency


@shared_task(name="api.tasks.idempotency_records_expire")
def idempotency_records_expire() -> int:
    """Delete stored Idempotency-Key answers older than IDEMPOTENCY_TTL_S (Celery beat, hourly). Idempotent."""
    return idempotency.records_expire()
