"""Portal pages for the `billing` role: this month's usage, the invoice list, one printable invoice."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing import selectors
from billing.exports import invoice_as_dict
from billing.periods import month_start
from portal.views import _require_tenant, require_capability
from tenants.roles import Capability


@login_required
@require_GET
@require_capability(Capability.READ_USAGE, Capability.MANAGE_SETTINGS)
def usage(request):
    """This month's usage with a chart by model and day (the `billing` role, and the hospital's administrator)."""
    from portal.charts import PALETTE, usage_by_day_svg

    tenant = _require_tenant(request)
    period = month_start(timezone.now())
    plan = selectors.plan_in_force(tenant=tenant, on=period)
    usage = selectors.usage_for_month(tenant=tenant, period=period)
    legend = [(row["model"], row["count"], PALETTE[index % len(PALETTE)]) for index, row in enumerate(usage["by_model"])]
    return render(request, "billing/usage.html", {"usage": usage, "plan": plan, "legend": legend,
                                                  "chart": usage_by_day_svg(usage=usage, month_start=period)})


@login_required
@require_GET
@require_capability(Capability.READ_USAGE, Capability.MANAGE_SETTINGS)
def invoice_list(request):
    tenant = _require_tenant(request)
    return render(request, "billing/invoice_list.html", {"invoices": selectors.invoices_for_tenant(tenant=tenant)})


@login_required
@require_GET
@require_capability(Capability.READ_USAGE, Capability.MANAGE_SETTINGS)
def invoice_detail(request, invoice_id):
    """The printable invoice (the browser's print dialog makes the PDF)."""
    tenant = _require_tenant(request)
    invoice = selectors.invoice_for_tenant(tenant=tenant, invoice_id=invoice_id)
    if invoice is None:
        raise Http404("No such invoice in this hospital.")
    return render(request, "billing/invoice_detail.html", {"invoice": invoice, "data": invoice_as_dict(invoice)})
