"""Studies and the image objects stored for them. Every row is owned by one hospital."""
from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from tenants.models import TenantOwnedModel


class Study(TenantOwnedModel):
    """A DICOM study (or, for PNG/JPEG uploads, a study the platform opens with a generated UID)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study_instance_uid = models.CharField(max_length=64)
    accession_number = models.CharField(max_length=64, blank=True, default="")
    # Study Date from the header, kept for DICOMweb QIDO date-range matching (filled by STOW-RS; None when unknown).
    study_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "study_instance_uid"], name="study_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return f"Study {self.study_instance_uid}"


class ImageInstance(TenantOwnedModel):
    """One uploaded file, stored once per hospital (content-addressed by SHA-256)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="instances")
    series_instance_uid = models.CharField(max_length=64)
    sop_instance_uid = models.CharField(max_length=64, blank=True, default="")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    content_type = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=512)
    modality = models.CharField(max_length=16, blank=True, default="")
    body_part_examined = models.CharField(max_length=64, blank=True, default="")
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    photometric_interpretation = models.CharField(max_length=32, blank=True, default="")
    transfer_syntax_uid = models.CharField(max_length=64, blank=True, default="")
    # From the header, used to fill what the submitter leaves out. Patient data: never logged.
    header_patient_sex = models.CharField(max_length=1, blank=True, default="")
    header_patient_age_months = models.FloatField(null=True, blank=True)
    # For DICOMweb (QIDO-RS answers and WADO-RS lookups); filled by STOW-RS, blank for other uploads.
    sop_class_uid = models.CharField(max_length=64, blank=True, default="")
    instance_number = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "sha256"], name="image_unique_content_per_tenant")]
        indexes = [
            # WADO-RS and STOW-RS find instances by SOP Instance UID within one hospital.
            models.Index(fields=["tenant", "sop_instance_uid"], name="image_tenant_sop_uid"),
        ]

    def __str__(self) -> str:
        return f"Image {self.sha256[:12]}"


class Series(TenantOwnedModel):
    """A DICOM series received as a whole (many files or a zip), with its instances in anatomical order.

    Ordering and consistency checks happen once, at ingest (studies.series); `geometry` keeps what measurements
    need later: pixel spacing, slice spacing along the normal, orientation, and the cine phase count.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="series")
    series_instance_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True, default="")
    body_part_examined = models.CharField(max_length=64, blank=True, default="")
    # SHA-256 over the sorted SHA-256s of the members: the same set of files sent again is the same series row.
    content_sha256 = models.CharField(max_length=64)
    instance_count = models.PositiveIntegerField()
    geometry = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "content_sha256"], name="series_unique_content_per_tenant")
        ]

    def __str__(self) -> str:
        return f"Series {self.series_instance_uid} ({self.instance_count} instances)"


class SeriesMember(TenantOwnedModel):
    """One instance of a series at its place: `position` counts along the slice normal (then cine phase)."""

    id = models.BigAutoField(primary_key=True)
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="members")
    instance = models.ForeignKey(ImageInstance, on_delete=models.PROTECT, related_name="series_memberships")
    position = models.PositiveIntegerField()
    # Signed distance along the slice normal from the first slice, in millimetres (None for a single image).
    location_mm = models.FloatField(null=True, blank=True)
    # Cine phase index (0-based) for multi-phase MR; 0 otherwise.
    phase = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["series", "position"], name="series_member_unique_position")]
