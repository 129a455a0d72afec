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


def assessments_matching(*, tenant: Tenant, status: str = "", model_name: str = "", priority: str = "",
                         is_critical: bool | None = None, accession_number: str = "", study_instance_uid: str = "",
                         created_after=None, created_before=None) -> QuerySet[Assessment]:
    """The hospital's assessments filtered as the API's list allows (empty/None: no filter on that field).
    The time range is half-open: created_after <= created_at < created_before."""
    queryset = assessments_for_tenant(tenant=tenant)
    if status:
        queryset = queryset.filter(status=status)
    if model_name:
        queryset = queryset.filter(model_name=model_name)
    if priority:
        queryset = queryset.filter(priority=priority)
    if is_critical is not None:
        queryset = queryset.filter(is_critical=is_critical)
    if accession_number:
        queryset = queryset.filter(instance__study__accession_number=accession_number)
    if study_instance_uid:
        queryset = queryset.filter(instance__study__study_instance_uid=study_instance_uid)
    if created_after is not None:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before is not None:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset
