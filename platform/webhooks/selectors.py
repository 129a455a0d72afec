"""Reads of the webhooks app: a hospital's endpoints and their delivery log."""
from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from tenants.models import Tenant
from webhooks.models import CriticalFindingEmail, WebhookAttempt, WebhookDelivery, WebhookEndpoint


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def endpoints_for_tenant(*, tenant: Tenant) -> QuerySet[WebhookEndpoint]:
    """The hospital's endpoints, newest first."""
    return WebhookEndpoint.objects.filter(tenant=tenant).order_by("-created_at")


def endpoint_for_tenant(*, tenant: Tenant, endpoint_id) -> WebhookEndpoint | None:
    """One of the hospital's endpoints; None for an unknown or malformed id or another hospital's (callers 404)."""
    pk = _uuid(endpoint_id)
    return endpoints_for_tenant(tenant=tenant).filter(pk=pk).first() if pk else None


def deliveries_for_endpoint(*, endpoint: WebhookEndpoint, status: str | None = None) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries, newest first, each with its attempts (oldest first)."""
    deliveries = WebhookDelivery.objects.filter(tenant_id=endpoint.tenant_id, endpoint=endpoint)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries.order_by("-created_at").prefetch_related(
        Prefetch("attempt_log", queryset=WebhookAttempt.objects.filter(tenant_id=endpoint.tenant_id)
                 .order_by("number")))


def delivery_for_tenant(*, tenant: Tenant, delivery_id) -> WebhookDelivery | None:
    """One of the hospital's deliveries (with its endpoint); None for an unknown, malformed or foreign id."""
    pk = _uuid(delivery_id)
    if pk is None:
        return None
    return WebhookDelivery.objects.filter(tenant=tenant, pk=pk).select_related("endpoint").first()


def critical_finding_emails(*, tenant: Tenant, limit: int = 20) -> QuerySet[CriticalFindingEmail]:
    """The hospital's latest critical-finding e-mails (status, recipients count), newest first."""
    return CriticalFindingEmail.objects.filter(tenant=tenant).order_by("-created_at")[:limit]
