"""The model registry: which versions of each model exist, which answers whom, and the record of every change.

OVMS serves versions but knows nothing of hospitals, canaries or shadow runs; the platform decides here which
version each assessment goes to (registry.routing) and which versions OVMS must keep loaded (registry.config).
"""
from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import TenantOwnedModel


class ModelVersion(models.Model):
    """One version of one model, as built into the model repository and described by its card."""

    class State(models.TextChoices):
        STAGED = "staged", "Staged"  # registered and verified; serves nobody unless a hospital is pinned to it
        SHADOW = "shadow", "Shadow"  # runs beside the active version on real traffic; never shown, never billed
        CANARY = "canary", "Canary"  # answers canary_percent of the model's assessments
        ACTIVE = "active", "Active"  # the platform default
        RETIRED = "retired", "Retired"  # no new assessments; kept loaded while work in flight still needs it

    model_name = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    precision = models.CharField(max_length=16)
    is_demo = models.BooleanField(default=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.STAGED)
    canary_percent = models.PositiveSmallIntegerField(
        default=0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    card = models.JSONField(default=dict)
    registered_at = models.DateTimeField(default=timezone.now, editable=False)
    # When it last became active and stopped being active: rollback goes back to the latest one that stopped.
    activated_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model_name", "version"]
        constraints = [
            models.UniqueConstraint(fields=["model_name", "version"], name="model_version_unique"),
            models.UniqueConstraint(fields=["model_name"], condition=Q(state="active"), name="one_active_version"),
            models.UniqueConstraint(fields=["model_name"], condition=Q(state="canary"), name="one_canary_version"),
            models.UniqueConstraint(fields=["model_name"], condition=Q(state="shadow"), name="one_shadow_version"),
            models.CheckConstraint(condition=Q(canary_percent__gte=0, canary_percent__lte=100),
                                   name="canary_percent_range"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.version} ({self.precision}, {self.state})"


class TenantModelPin(TenantOwnedModel):
    """A hospital that answers with one version of a model instead of following the platform default."""

    model_name = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    pinned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "model_name"], name="one_pin_per_model_per_tenant")]


class RolloutEvent(models.Model):
    """Every change to versions and routing, written in the same transaction as the change (append-only).

    Issue #5's audit trail will take these over; until then this is the record of who changed what.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=32)
    model_name = models.CharField(max_length=64)
    version = models.PositiveIntegerField(null=True, blank=True)
    # A hospital when the change concerns one (pins), else null.
    hospital_id = models.UUIDField(null=True, blank=True)
    details = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.model_name} v{self.version}"
