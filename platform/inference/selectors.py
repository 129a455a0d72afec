"""Reads on assessments, always within one hospital."""
from __future__ import annotations

import uuid

from django.db.models import QuerySet

from inference.models import Assessment
from tenants.models import Tenant


def assessments_for_tenant(*, tenant: Tenant) -> QuerySet[Assessment]:
    return (
        Assessment.objects.for_tenant(tenant)
        .select_related("instance", "instance__study")
        .order_by("-created_at")
    )


def assessment_for_tenant(*, tenant: Tenant, assessment_id) -> Assessment | None:
    """The hospital's assessment with this id, or None (also for malformed ids and other hospitals' ids)."""
    try:
        assessment_uuid = uuid.UUID(str(assessment_id))
    except ValueError:
        return None
    return assessments_for_tenant(tenant=tenant).filter(pk=assessment_uuid).first()
