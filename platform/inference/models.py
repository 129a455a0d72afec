"""Assessments: one requested model run on one image, its state and its result."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from studies.models import ImageInstance, Series
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
    # The image assessed, or for a series assessment its key (first) image; the whole input is `series`.
    instance = models.ForeignKey(ImageInstance, on_delete=models.PROTECT, related_name="assessments")
    series = models.ForeignKey(Series, null=True, blank=True, on_delete=models.PROTECT, related_name="assessments")
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

    class Priority(models.TextChoices):
        ROUTINE = "routine", "Routine"
        URGENT = "urgent", "Urgent"
        CRITICAL = "critical", "Critical finding"

    # Requested by the submitter (routine or urgent: urgent work runs on its own queue that routine work cannot
    # block); raised to `critical` when the result holds a critical finding.
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.ROUTINE)
    # Set from the result by the assessment's critical-finding rules (inference.critical); tops the worklist.
    is_critical = models.BooleanField(default=False)
    critical_findings = models.JSONField(default=list, blank=True)
    # Multi-stage assessments: each stage's model name, version and precision, in the order they ran.
    stage_versions = models.JSONField(default=list, blank=True)
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
            # The worklist: critical first, then newest.
            models.Index(fields=["tenant", "-is_critical", "-created_at"], name="assessment_tenant_worklist"),
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


class AssessmentArtifact(TenantOwnedModel):
    """An object derived from an assessment and kept in object storage: mask, heat map, DICOM SR or SEG, report.

    Written once per (assessment, name); the key comes from tenants.storage_keys.derived_object_key.
    """

    class Kind(models.TextChoices):
        MASK = "mask", "Segmentation mask (numpy .npz)"
        HEATMAP = "heatmap", "Heat map (numpy .npz)"
        DICOM_SR = "dicom_sr", "DICOM Structured Report"
        DICOM_SEG = "dicom_seg", "DICOM Segmentation"
        REPORT_PDF = "report_pdf", "Report (PDF)"
        REPORT_HTML = "report_html", "Report (HTML)"
        KEY_IMAGE = "key_image", "Key image (PNG)"

    id = models.BigAutoField(primary_key=True)
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="artifacts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=128)
    storage_key = models.CharField(max_length=512)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    content_type = models.CharField(max_length=64)
    # For DICOM objects: the SOP Instance UID, so WADO-RS can find them.
    sop_instance_uid = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assessment", "name"], name="artifact_unique_name")]
