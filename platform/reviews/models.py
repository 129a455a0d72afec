"""Radiologist sign-off: a person's agreement or disagreement with one assessment's result, with a comment."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from inference.models import Assessment
from tenants.models import TenantOwnedModel


class SignOff(TenantOwnedModel):
    """One radiologist's verdict on one assessment's result. Append-only: a changed mind is a new row, so the
    record shows every verdict in order (the latest one per person is the current one)."""

    class Decision(models.TextChoices):
        AGREE = "agree", "Agree"
        DISAGREE = "disagree", "Disagree"

    id = models.BigAutoField(primary_key=True)
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="signoffs")
    # SET_NULL: a person's account may be removed later; the verdict (and its audit event) stays.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # The name as it was when signing, so the record still reads after the account is gone.
    username = models.CharField(max_length=150)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    # Clinical free text: patient data may be in it, so it is never logged nor copied into audit details.
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "assessment", "-created_at"], name="signoff_assessment_recent")]

    def __str__(self) -> str:
        return f"{self.decision} by {self.username} on {self.assessment_id}"
