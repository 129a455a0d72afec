"""The operator console (platform staff, `is_staff`): hospitals, plans, and model rollout per model and hospital.

It reads across every hospital, so each page runs inside `dangerously_operator_access` and writes an
`operator.access` event first (no event, no page). Changes stay with the audited management commands and the
Django admin; this console is the overview.
"""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit.services import AuditUnavailable, audit_event_record
from portal.views import _audit_unavailable, _refused
from tenants.context import dangerously_operator_access


@login_required
@require_GET
def console(request):
    if not request.user.is_staff:
        _refused(request, "operator_only", 403)
        return render(request, "portal/forbidden.html", {"code": "operator_only", "capability": "operator",
                                                         "role": getattr(request.membership, "role", None)},
                      status=403)
    from billing.models import Plan, Subscription, UsageRecord
    from billing.periods import month_start, period_bounds
    from registry.models import ModelVersion, TenantModelPin
    from tenants.models import Membership, Tenant

    with dangerously_operator_access(reason=f"portal operator console by staff user {request.user.pk}"):
        try:
            audit_event_record(event="operator.access", request=request,
                               details={"method": request.method, "path": request.path[:200]})
        except AuditUnavailable:
            return _audit_unavailable()
        start, end = period_bounds(month_start(timezone.now()))
        usage = dict(UsageRecord.objects.dangerously_all_tenants().filter(occurred_at__gte=start, occurred_at__lt=end)
                     .values_list("tenant_id").annotate(n=Count("id")))
        plans_by_tenant: dict = {}
        for subscription in (Subscription.objects.dangerously_all_tenants().filter(effective_from__lte=timezone.now())
                             .select_related("plan").order_by("tenant_id", "effective_from", "id")):
            plans_by_tenant[subscription.tenant_id] = subscription.plan  # the latest one wins
        people = dict(Membership.objects.values_list("tenant_id").annotate(n=Count("id")))
        hospitals = [{"tenant": t, "plan": plans_by_tenant.get(t.pk), "people": people.get(t.pk, 0),
                      "usage": usage.get(t.pk, 0)} for t in Tenant.objects.order_by("name")]
        names = {t.pk: t.name for t in Tenant.objects.all()}
        pins = [{"hospital": names.get(pin.tenant_id, str(pin.tenant_id)), "model": pin.model_name,
                 "version": pin.version, "since": pin.pinned_at}
                for pin in TenantModelPin.objects.dangerously_all_tenants().order_by("model_name", "tenant_id")]
        versions: dict[str, list] = {}
        for version in ModelVersion.objects.order_by("model_name", "-version"):
            versions.setdefault(version.model_name, []).append(version)
        plans = list(Plan.objects.order_by("code"))
    return render(request, "portal/operator.html", {"hospitals": hospitals, "plans": plans, "versions": versions,
                                                    "pins": pins})
