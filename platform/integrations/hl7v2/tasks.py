"""Celery task that delivers an ORU^R01 over MLLP, with retries and a visible final state.

Safe to run twice: a delivery already delivered or failed is skipped, and every retry carries the same MSH-10,
so a receiver that got the message but whose ACK was lost recognises the repeat.
"""
from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from integrations.hl7v2 import mllp, services
from integrations.hl7v2.oru import build_oru
from integrations.models import Hl7Delivery, Hl7Destination
from tenants.tasks import TenantTask

logger = logging.getLogger(__name__)


def retry_delay_s(retries_so_far: int) -> float:
    return min(settings.HL7_RETRY_MAX_S, settings.HL7_RETRY_BASE_S * (2 ** retries_so_far))


@shared_task(bind=True, base=TenantTask, name="integrations.hl7v2.tasks.send_oru", max_retries=None)
def send_oru(self, *, tenant_id: str, delivery_id: str) -> None:
    """Send one delivery's message and record the receiver's answer. Called with ids only."""
    delivery = Hl7Delivery.objects.filter(pk=delivery_id).select_related("assessment__instance__study").first()
    if delivery is None or delivery.status != Hl7Delivery.Status.PENDING:
        return  # gone, or already finished: a duplicate delivery of the task
    destination = Hl7Destination.objects.filter(tenant_id=delivery.tenant_id).first()
    if destination is None or not destination.enabled:
        services.hl7_delivery_record(delivery_id=delivery_id, status=Hl7Delivery.Status.FAILED,
                                     error="The hospital's HL7 destination was removed or disabled before sending.")
        return
    try:
        message = build_oru(assessment=delivery.assessment, control_id=delivery.control_id, destination=destination)
    except ValueError:
        services.hl7_delivery_record(delivery_id=delivery_id, status=Hl7Delivery.Status.FAILED,
                                     error="The assessment has no result to send.")
        return
    # The destination as configured now: a hospital that moves its interface engine gets the retries there.
    where = {"host": destination.host, "port": destination.port}
    try:
        ack = mllp.send(message=message, timeout_s=settings.HL7_MLLP_TIMEOUT_S, **where)
    except mllp.MllpUnavailable as exc:
        retries = self.request.retries or 0
        if retries >= settings.HL7_MAX_RETRIES:
            services.hl7_delivery_record(delivery_id=delivery_id, status=Hl7Delivery.Status.FAILED,
                                         error=f"The HL7 receiver stayed unreachable ({exc}); gave up after "
                                               f"{retries + 1} attempts.", **where)
            return
        services.hl7_delivery_record(delivery_id=delivery_id, status=Hl7Delivery.Status.PENDING,
                                     error=f"Receiver unreachable ({exc}); retrying.", **where)
        delay = retry_delay_s(retries)
        logger.info("HL7 delivery %s: receiver unreachable, retry %d in %.1fs", delivery_id, retries + 1, delay)
        raise self.retry(countdown=delay, exc=exc)
    except mllp.MalformedAck as exc:
        services.hl7_delivery_record(delivery_id=delivery_id, status=Hl7Delivery.Status.FAILED, error=str(exc),
                                     **where)
        return
    if ack.control_id and ack.control_id != delivery.control_id:
        services.hl7_delivery_record(delivery_id=delivery_id, status=Hl7Delivery.Status.FAILED, ack_code=ack.code,
                                     error="The ACK acknowledges another message (MSA-2 does not match MSH-10).",
                                     **where)
        return
    if ack.accepted:
        services.hl7_delivery_record(delivery_id=delivery_id, status=Hl7Delivery.Status.DELIVERED, ack_code=ack.code,
                                     **where)
        return
    # AE/AR (CE/CR): the receiver refused this message; sending it again unchanged would not help.
    logger.warning("HL7 delivery %s refused by the receiver with %s", delivery_id, ack.code)
    services.hl7_delivery_record(delivery_id=delivery_id, status=Hl7Delivery.Status.FAILED, ack_code=ack.code,
                                 error=ack.text or f"The receiver answered {ack.code}.", **where)
