"""Reads on sign-offs, always within one hospital."""
from __future__ import annotations

from django.db.models import QuerySet

from reviews.models import SignOff


def signoffs_for_assessment(*, assessment) -> QuerySet[SignOff]:
    """Every verdict on the assessment, newest first (its own hospital's rows only)."""
    return SignOff.objects.for_tenant(assessment.tenant).filter(assessment=assessment).order_by("-created_at", "-id")
