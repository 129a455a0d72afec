"""Reads on billing, always within one hospital (the fail-closed managers need it in context)."""
from __future__ import annotations

import uuid
from datetime import date, timezone as dt_timezone

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate

from billing.models import Invoice, Plan, Subscription, UsageRecord
from billing.periods import period_bounds
from tenants.models import Tenant


def plan_in_force(*, tenant: Tenant, on: date) -> Plan | None:
    """The plan the hospital is on for the day `on` (latest effective_from on or before it), or None."""
    subscription = (Subscription.objects.for_tenant(tenant).filter(effective_from__lte=on)
                    .select_related("plan").order_by("-effective_from", "-id").first())
    return subscription.plan if subscription else None


def usage_for_month(*, tenant: Tenant, period: date) -> dict:
    """The hospital's usage in one calendar month (UTC): counts by model, and by day and model."""
    start, end = period_bounds(period)
    rows = (UsageRecord.objects.for_tenant(tenant).filter(occurred_at__gte=start, occurred_at__lt=end)
            .annotate(day=TruncDate("occurred_at", tzinfo=dt_timezone.utc))
            .values("model_name", "day").annotate(count=Count("id")).order_by("day", "model_name"))
    by_model: dict[str, int] = {}
    by_day = []
    for row in rows:
        by_model[row["model_name"]] = by_model.get(row["model_name"], 0) + row["count"]
        by_day.append({"date": row["day"].isoformat(), "model": row["model_name"], "count": row["count"]})
    return {
        "month": f"{period:%Y-%m}",
        "total": sum(by_model.values()),
        "by_model": [{"model": name, "count": count} for name, count in sorted(by_model.items())],
        "by_day": by_day,
    }


def invoices_for_tenant(*, tenant: Tenant) -> QuerySet[Invoice]:
    return Invoice.objects.for_tenant(tenant).order_by("-period")


def invoice_for_tenant(*, tenant: Tenant, invoice_id) -> Invoice | None:
    """The hospital's invoice with this id, or None (also for malformed ids and other hospitals' ids)."""
    try:
        invoice_uuid = uuid.UUID(str(invoice_id))
    except ValueError:
        return None
    return (invoices_for_tenant(tenant=tenant).filter(pk=invoice_uuid)
            .prefetch_related("lines", "credit_notes__lines").first())
