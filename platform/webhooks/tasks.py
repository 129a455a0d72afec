"""Celery tasks of the webhooks app: one attempt of a delivery, the sweep, the critical-finding e-mail.

Tasks carry ids only and are safe to run twice (services.delivery_attempt claims a delivery with a lease and
checks it is still due). Retries of deliveries are scheduled in the database, not with Celery's retry: the row's
`next_attempt_at` is the truth and the sweep publishes what is due.
"""
from __future__ import annotations

import logging
import smtplib

from celery import shared_task

from tenants.tasks import TenantTask
from webhooks import services

logger = logging.getLogger(__name__)

_EMAIL_MAX_RETRIES = 5


@shared_task(base=TenantTask, name="webhooks.tasks.deliver")
def deliver(*, tenant_id: str, delivery_id: str) -> None:
    """Make one attempt of a delivery (if it is still due and nobody else is sending it)."""
    services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.tasks.sweep_deliveries")
def sweep_deliveries() -> int:
    """Celery beat: publish due deliveries (lost publishes, retries) and lost e-mail tasks."""
    return services.deliveries_sweep()


@shared_task(bind=True, base=TenantTask, name="webhooks.tasks.send_critical_finding_email",
             max_retries=_EMAIL_MAX_RETRIES)
def send_critical_finding_email(self, *, tenant_id: str, assessment_id: str) -> None:
    """Send the critical-finding e-mail of one assessment; a mail server outage is retried with backoff."""
    try:
        services.critical_finding_email_send(assessment_id=assessment_id)
    except (OSError, smtplib.SMTPException) as exc:
        retries = self.request.retries or 0
        if retries >= _EMAIL_MAX_RETRIES:
            logger.error("critical-finding e-mail of %s failed after %d attempts", assessment_id, retries + 1)
            services.critical_finding_email_failed(assessment_id=assessment_id, error=type(exc).__name__)
            return
        raise self.retry(countdown=min(300, 10 * 2 ** retries), exc=exc)
