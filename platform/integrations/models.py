"""Integration settings and logs that belong to a hospital: where its HL7 v2 results go, and each delivery."""
from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from inference.models import Assessment
from tenants.models import TenantOwnedModel


class Hl7Destination(TenantOwnedModel):
    """The hospital's HL7 v2 receiver (its HIS or interface engine) for ORU^R01 results over MLLP.

    One per hospital. MSH-3/MSH-4 (sending application and facility) and MSH-5/MSH-6 (receiving application and
    facility) are what the hospital's interface engine routes on; a blank sending application is the platform's
    (settings.HL7_SENDING_APPLICATION), a blank sending facility the hospital's slug.
    """

    id = models.BigAutoField(primary_key=True)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    enabled = models.BooleanField(default=False)
    sending_application = models.CharField(max_length=180, blank=True, default="")
    sending_facility = models.CharField(max_length=180, blank=True, default="")
    receiving_application = models.CharField(max_length=180, blank=True, default="")
    receiving_facility = models.CharField(max_length=180, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="hl7_destination_one_per_tenant")]

    def __str__(self) -> str:
        return f"HL7 destination {self.host}:{self.port} ({'on' if self.enabled else 'off'})"


class Hl7Delivery(TenantOwnedModel):
    """One ORU^R01 message for one assessment, and what became of it: the delivery log.

    `pending` while it is being sent or retried; `delivered` once the receiver answered AA (or CA); `failed` when
    the receiver answered AE/AR (or CE/CR), or stayed unreachable after every retry. `error` says why, in words
    from the platform or the receiver's MSA-3 (never logged).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="hl7_deliveries")
    # MSH-10, kept so every retry of this message carries the same id (receivers de-duplicate on it).
    control_id = models.CharField(max_length=20, unique=True)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    ack_code = models.CharField(max_length=2, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["assessment"], name="hl7_delivery_one_per_assessment")]

    def __str__(self) -> str:
        return f"ORU {self.control_id} ({self.status})"
