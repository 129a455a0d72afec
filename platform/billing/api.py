"""Billing API for the hospital's `billing` role (capability READ_USAGE): usage by month, invoices, exports."""
from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from api import schemas
from api.audit_views import FormatIsOurs
from api.base import TenantAPIView
from api.openapi import Problems, page_parameters
from api.pagination import paginate
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

    @extend_schema(operation_id="billing_usage", tags=["billing"], summary="Usage in one month",
                   parameters=[OpenApiParameter("month", {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
                                                required=False, description="YYYY-MM; default the current month "
                                                                            "(UTC).")],
                   responses={200: schemas.UsageSerializer, 400: Problems("invalid_month")})
    def get(self, request):
        raw = request.query_params.get("month")
        try:
            period = parse_month(raw) if raw else month_start(timezone.now())
        except ValueError:
            raise ApiProblem(status=400, code="invalid_month", detail="month must be YYYY-MM, e.g. 2026-03.") \
                from None
        return Response(selectors.usage_for_month(tenant=self.tenant, period=period))


def _month_param(params, name: str):
    raw = params.get(name)
    if not raw:
        return None
    try:
        return parse_month(raw)
    except ValueError:
        raise ApiProblem(status=400, code="invalid_month", detail=f"{name} must be YYYY-MM, e.g. 2026-03.") from None


class InvoiceCollectionView(TenantAPIView):
    """GET the hospital's invoices, newest period first; `period_from`/`period_to` (YYYY-MM, inclusive)."""

    required_capabilities = {"GET": Capability.READ_USAGE}

    @extend_schema(
        operation_id="billing_invoices_list", tags=["billing"], summary="List the hospital's invoices",
        parameters=[
            OpenApiParameter("period_from", {"type": "string", "pattern": r"^\d{4}-\d{2}$"}, required=False,
                             description="First month to include, YYYY-MM."),
            OpenApiParameter("period_to", {"type": "string", "pattern": r"^\d{4}-\d{2}$"}, required=False,
                             description="Last month to include, YYYY-MM."),
            *page_parameters(default=50, maximum=200),
        ],
        responses={200: schemas.InvoicePageSerializer,
                   400: Problems("invalid_month", "invalid_limit", "invalid_cursor")},
    )
    def get(self, request):
        queryset = selectors.invoices_for_tenant(tenant=self.tenant)
        period_from = _month_param(request.query_params, "period_from")
        period_to = _month_param(request.query_params, "period_to")
        if period_from is not None:
            queryset = queryset.filter(period__gte=period_from)
        if period_to is not None:
            queryset = queryset.filter(period__lte=period_to)
        page = paginate(request, queryset, ordering=("-period", "-id"), default_limit=50, max_limit=200)
        return Response(page.envelope([_invoice_summary(i) for i in page.items]))


class InvoiceDetailView(TenantAPIView):
    """GET one invoice as JSON (default, or ?format=json) or CSV (?format=csv). Another hospital's id: 404."""

    required_capabilities = {"GET": Capability.READ_USAGE}
    renderer_classes = [JSONRenderer, CSVRenderer]
    # `format=` is read by the view (json or csv, else 400 invalid_format), not by DRF's negotiation (404).
    content_negotiation_class = FormatIsOurs

    @extend_schema(
        operation_id="billing_invoices_retrieve", tags=["billing"], summary="Read one invoice (JSON or CSV)",
        parameters=[OpenApiParameter("format", str, enum=["json", "csv"], required=False)],
        responses={(200, "application/json"): schemas.InvoiceSerializer,
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per line."),
                   400: Problems("invalid_format"), 404: Problems("invoice_not_found")},
    )
    def get(self, request, invoice_id):
        fmt = request.query_params.get("format") or "json"
        if fmt not in {"json", "csv"}:
            raise ApiProblem(status=400, code="invalid_format", detail="format must be json or csv.")
        invoice = selectors.invoice_for_tenant(tenant=self.tenant, invoice_id=invoice_id)
        if invoice is None:
            raise ApiProblem(status=404, code="invoice_not_found",
                             detail="No invoice with this id exists for your hospital.")
        if fmt == "csv":
            response = HttpResponse(invoice_as_csv(invoice), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (f'attachment; filename="{invoice.display_number}-'
                                               f'{invoice.period:%Y-%m}.csv"')
            return response
        return Response(invoice_as_dict(invoice))
