"""Writes of the HL7 v2 integration: configure the hospital's destination, queue and record ORU^R01 deliveries."""
from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from inference.models import Assessment
from integrations.hl7v2.oru import control_id_for
from integrations.models import Hl7Delivery, Hl7Destination
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@transaction.atomic
def hl7_destination_configure(*, tenant: Tenant, host: str, port: int, enabled: bool = True,
                              sending_application: str = "", sending_facility: str = "",
                              receiving_application: str = "", receiving_facility: str = "") -> Hl7Destination:
    """Create or replace the hospital's HL7 v2 receiver. Raises ValueError for an empty host or a bad port."""
    host = (host or "").strip()
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        raise ValueError("host must be a host name or address")
    if not 0 < int(port) < 65536:
        raise ValueError("port must be between 1 and 65535")
    destination, _ = Hl7Destination.objects.update_or_create(
        tenant=tenant,
        defaults={"host": host, "port": int(port), "enabled": bool(enabled),
                  "sending_application": sending_application, "sending_facility": sending_facility,
                  "receiving_application": receiving_application, "receiving_facility": receiving_facility,
                  "updated_at": timezone.now()})
    return destination


def hl7_delivery_enqueue(*, delivery: Hl7Delivery) -> None:
    from integrations.hl7v2.tasks import send_oru

    try:
        send_oru.apply_async(kwargs={"tenant_id": str(delivery.tenant_id), "delivery_id": str(delivery.id)},
                             retry=True, retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5})
    except Exception as exc:  # kombu raises several unrelated types for an unreachable broker
        # The row stays pending; oru_send_for (or an operator) can publish it again.
        logger.warning("could not publish HL7 delivery %s (%s)", delivery.id, type(exc).__name__)


@transaction.atomic
def oru_send_for(*, assessment: Assessment) -> Hl7Delivery | None:
    """Queue the ORU^R01 of a succeeded assessment to the hospital's HL7 destination, once per assessment.

    Call it when an assessment succeeds (in or after its transaction). Returns the delivery (the existing one
    if it was queued before; a pending one is published again), or None when the hospital has no enabled
    destination or the assessment has no result. The message is sent by a Celery task after commit.
    """
    if assessment.status != Assessment.Status.SUCCEEDED:
        return None
    destination = Hl7Destination.objects.filter(tenant_id=assessment.tenant_id, enabled=True).first()
    if destination is None:
        return None
    delivery, created = Hl7Delivery.objects.get_or_create(
        tenant_id=assessment.tenant_id, assessment=assessment,
        defaults={"control_id": control_id_for(assessment), "host": destination.host, "port": destination.port})
    if created or delivery.status == Hl7Delivery.Status.PENDING:
        transaction.on_commit(lambda: hl7_delivery_enqueue(delivery=delivery))
    return delivery


def hl7_delivery_record(*, delivery_id, status: str, ack_code: str = "", error: str = "",
                        host: str | None = None, port: int | None = None) -> bool:
    """Record the outcome of one attempt (and where it went). A delivery already delivered or failed is left
    alone (False)."""
    with transaction.atomic():
        delivery = Hl7Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status != Hl7Delivery.Status.PENDING:
            return False
        now = timezone.now()
        if host is not None:
            delivery.host, delivery.port = host, port
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.ack_code = ack_code
        delivery.error = error[:500]
        delivery.status = status
        if status != Hl7Delivery.Status.PENDING:
            delivery.finished_at = now
        delivery.save(update_fields=["attempts", "last_attempt_at", "ack_code", "error", "status", "finished_at",
                                     "host", "port"])
        return True
