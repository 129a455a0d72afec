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


# Worklist sort keys the portal offers -> ORDER BY. Critical results always come first (a critical finding must
# not scroll out of sight because someone sorted by model), then urgent before routine, then the chosen order.
WORKLIST_SORTS = {
    "newest": ("-created_at",),
    "oldest": ("created_at",),
    "status": ("status", "-created_at"),
    "model": ("model_name", "-created_at"),
}


def worklist_for_tenant(*, tenant: Tenant, status: str = "", priority: str = "", model_name: str = "",
                        critical_only: bool = False, search: str = "", sort: str = "newest") -> QuerySet[Assessment]:
    """The hospital's worklist: filtered by status, priority and model, searched by accession number or Study
    Instance UID (exact or prefix), critical first, then urgent, then `sort` (a key of WORKLIST_SORTS)."""
    from django.db.models import Case, IntegerField, Q, Value, When

    queryset = assessments_for_tenant(tenant=tenant).select_related("submitted_by_user", "submitted_by_api_key")
    if status:
        queryset = queryset.filter(status=status)
    if priority:
        queryset = queryset.filter(priority=priority)
    if model_name:
        queryset = queryset.filter(model_name=model_name)
    if critical_only:
        queryset = queryset.filter(is_critical=True)
    search = (search or "").strip()
    if search:
        queryset = queryset.filter(Q(instance__study__accession_number__iexact=search)
                                   | Q(instance__study__study_instance_uid__startswith=search))
    # Anything above routine (urgent, or a priority the platform raised) before routine work.
    urgent_first = Case(When(priority=Assessment.Priority.ROUTINE, then=Value(1)), default=Value(0),
                        output_field=IntegerField())
    return queryset.order_by("-is_critical", urgent_first, *WORKLIST_SORTS.get(sort, WORKLIST_SORTS["newest"]))


def assessment_states_for_tenant(*, tenant: Tenant, assessment_ids: list[str]) -> list[dict]:
    """Workflow state only (id, status, critical flag, error code) of the hospital's assessments among
    `assessment_ids`: what the worklist's live updates need, and no clinical values."""
    wanted = []
    for raw in assessment_ids:
        try:
            wanted.append(uuid.UUID(str(raw)))
        except ValueError:
            continue
    return list(Assessment.objects.for_tenant(tenant).filter(pk__in=wanted)
                .values("id", "status", "is_critical", "error_code", "finished_at"))


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
