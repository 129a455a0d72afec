"""Assessments: one requested model run on one image, its state and its result."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from studies.models import ImageInstance
from tenants.models import ApiKey, TenantOwnedModel


class Assessment(TenantOwnedModel):
    """One assessment. The row is the source of truth (and the outbox): Celery only carries its id."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    TERMINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instance = models.ForeignKey(ImageInstance, on_delete=models.PROTECT, related_name="assessments")
    model_name = models.CharField(max_length=64)
    # Chosen at submission and kept through retries, so a retried assessment runs the same version.
    model_version = models.PositiveIntegerField()
    model_precision = models.CharField(max_length=16, blank=True, default="")
    model_is_demo = models.BooleanField(default=True)
    # Why this version answers: "active", "canary", "pinned", "default", "canary_not_ready" (registry.routing).
    routing_reason = models.CharField(max_length=32, blank=True, default="")
    # A version run beside this one on the same input, compared, never shown and never billed.
    shadow_version = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    # Inputs as the submitter gave them or as read from the header (patient data: never logged).
    patient_sex = models.CharField(max_length=1, blank=True, default="")
    chronological_age_months = models.FloatField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    submitted_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_by_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="assessment_tenant_recent"),
            # Worklists filter by status ("what is still running?") within one hospital.
            models.Index(fields=["tenant", "status", "-created_at"], name="assessment_tenant_status"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} assessment {self.id}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL_STATUSES


class ShadowResult(TenantOwnedModel):
    """The shadow version's answer to one assessment, and how far it is from the answer the hospital got."""

    id = models.BigAutoField(primary_key=True)
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="shadow_results")
    model_version = models.PositiveIntegerField()
    model_precision = models.CharField(max_length=16, blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    # Model-specific distance between the shadow's and the primary's main output (bone age: months).
    difference = models.FloatField(null=True, blank=True)
    agrees = models.BooleanField(null=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assessment", "model_version"], name="one_shadow_result_per_version")
        ]
