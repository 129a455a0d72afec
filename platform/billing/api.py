"""Billing API for the hospital's `billing` role (capability READ_USAGE): usage by month, invoices, exports."""
from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from api.base import TenantAPIView
from api.problems import ApiProblem
from billing import selectors
from billing.exports import invoice_as_csv, invoice_as_dict
from billing.periods import month_start, parse_month
from tenants.roles import Capability


class CSVRenderer(BaseRenderer):
    """Lets DRF's `?format=csv` negotiation pass; the view writes the CSV body itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, (bytes, str)) else b""


def _invoice_summary(invoice) -> dict:
    return {"id": str(invoice.id), "number": invoice.display_number, "period": f"{invoice.period:%Y-%m}",
            "currency": invoice.currency, "assessments": invoice.assessments,
            "total": str(invoice.total.quantize(_quantum(invoice.currency))),
            "issued_at": invoice.issued_at.isoformat(), "url": f"/api/v1/billing/invoices/{invoice.id}"}


def _quantum(currency: str):
    from billing.money import quantum

    return quantum(currency)


class UsageView(TenantAPIView):
    """GET ?month=YYYY-MM (default: the current month, UTC): counts by model and by day."""

    required_capabilities = {"GET": Capability.READ_USAGE}

    def get(self, request):
        raw = request.query_params.get("month")
        try:
            period = parse_month(raw) if raw else month_start(timezone.now())
        except ValueError:
            raise ApiProblem(status=400, code="invalid_month", detail="month must be YYYY-MM, e.g. 2026-03.") \
                from None
        return Response(selectors.usage_for_month(tenant=self.tenant, period=period))


class InvoiceCollectionView(TenantAPIView):
    required_capabilities = {"GET": Capability.READ_USAGE}

    def get(self, request):
        return Response({"results": [_invoice_summary(i) for i in selectors.invoices_for_tenant(tenant=self.tenant)]})


class InvoiceDetailView(TenantAPIView):
    """GET one invoice as JSON (default, or ?format=json) or CSV (?format=csv). Another hospital's id: 404."""

    required_capabilities = {"GET": Capability.READ_USAGE}
    renderer_classes = [JSONRenderer, CSVRenderer]

    def get(self, request, invoice_id):
        invoice = selectors.invoice_for_tenant(tenant=self.tenant, invoice_id=invoice_id)
        if invoice is None:
            raise ApiProblem(status=404, code="invoice_not_found",
                             detail="No invoice with this id exists for your hospital.")
        if request.query_params.get("format") == "csv":
            response = HttpResponse(invoice_as_csv(invoice), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (f'attachment; filename="{invoice.display_number}-'
                                               f'{invoice.period:%Y-%m}.csv"')
            return response
        return Response(invoice_as_dict(invoice))
