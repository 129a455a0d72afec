"""Reads on the audit trail (the caller's tenant / operator context decides which chains are visible)."""
from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_events(*, tenant=None, platform: bool = False, occurred_from: datetime | None = None,
                 occurred_to: datetime | None = None, event: str = "", outcome: int | None = None,
                 username: str = "", assessment_id: str = "") -> QuerySet[AuditEvent]:
    """Events of one hospital's chain (or the platform chain), oldest first, filtered. The time range is
    half-open: occurred_from <= occurred_at < occurred_to."""
    queryset = AuditEvent.objects.filter(tenant__isnull=True) if platform else AuditEvent.objects.filter(tenant=tenant)
    if occurred_from is not None:
        queryset = queryset.filter(occurred_at__gte=occurred_from)
    if occurred_to is not None:
        queryset = queryset.filter(occurred_at__lt=occurred_to)
    if event:
        queryset = queryset.filter(event=event)
    if outcome is not None:
        queryset = queryset.filter(outcome=outcome)
    if username:
        queryset = queryset.filter(username=username)
    if assessment_id:
        queryset = queryset.filter(assessment_id=assessment_id)
    return queryset.order_by("sequence")
