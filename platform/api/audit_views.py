"""Audit export for the hospital's `auditor` role: `GET /api/v1/audit/events?from=&to=&format=csv|json|fhir`.

`from`/`to`: ISO-8601 date-times with a time zone (or dates: midnight UTC), half-open [from, to). Optional
`event` (platform code, e.g. assessment.read), `outcome` (0/4/8/12), `username`, `assessment_id`, `limit`
(default and maximum 10,000; oldest first) and `cursor` (api/pagination.py: the JSON body's `next`/`previous`,
the FHIR Bundle's `link`, a `Link` header on CSV). The export itself is recorded (`audit.export`, 110101 Audit Log
Used) before it is answered. Operators export any chain, the platform's included, with
`manage.py audit_export` (audit/management/commands).
"""
from __future__ import annotations

from datetime import datetime, time as dt_time, timezone as dt_timezone

from django.http import HttpResponse
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from api import schemas
from api.auditing import audit_or_fail
from api.base import TenantAPIView
from api.openapi import Problems, page_parameters
from api.pagination import paginate, parse_limit
from api.problems import ApiProblem
from audit import exports, selectors
from audit.events import EVENT_KINDS
from tenants.roles import Capability

MAX_EXPORT = 10_000


def parse_when(raw: str | None, name: str) -> datetime | None:
    """An ISO-8601 date (midnight UTC) or date-time with a time zone, in UTC; None when absent. ApiProblem 400
    `invalid_time_range` otherwise (also for offsets or years PostgreSQL cannot store)."""
    if not raw:
        return None
    try:
        day = parse_date(raw)  # a bare date: midnight UTC
    except ValueError:
        day = None
    if day is not None:
        return datetime.combine(day, dt_time.min, tzinfo=dt_timezone.utc)
    try:
        value = parse_datetime(raw)
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts (up to ±23:59).
        value = value.astimezone(dt_timezone.utc) if value is not None and value.tzinfo is not None else None
    except (ValueError, OverflowError):
        value = None
    if value is None:
        raise ApiProblem(status=400, code="invalid_time_range",
                         detail=f"{name} must be an ISO-8601 date, or date-time with a time zone.")
    return value


def export_filters(params) -> dict:
    """Shared with the portal page: the query parameters as selector arguments (ApiProblem 400 when invalid)."""
    filters = {"occurred_from": parse_when(params.get("from"), "from"),
               "occurred_to": parse_when(params.get("to"), "to")}
    event = params.get("event") or ""
    if event and event not in EVENT_KINDS:
        raise ApiProblem(status=400, code="invalid_event", detail="event must be one of the audit event codes.")
    filters["event"] = event
    outcome = params.get("outcome")
    if outcome not in (None, ""):
        if outcome not in {"0", "4", "8", "12"}:
            raise ApiProblem(status=400, code="invalid_outcome", detail="outcome must be 0, 4, 8 or 12.")
        filters["outcome"] = int(outcome)
    filters["username"] = params.get("username") or ""
    filters["assessment_id"] = params.get("assessment_id") or ""
    return filters


class FormatIsOurs(DefaultContentNegotiation):
    """`format=` selects the export format here, not a DRF renderer (DRF would answer 404 for csv/fhir)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AuditEventExportView(TenantAPIView):
    required_capabilities = {"GET": Capability.READ_AUDIT}
    content_negotiation_class = FormatIsOurs

    @extend_schema(
        operation_id="audit_events_list", tags=["audit"], summary="Export the hospital's audit trail",
        description="Oldest first, as JSON (rows with their hashes, re-verifiable), CSV, or a FHIR R4 Bundle of "
                    "AuditEvent resources. Pages: `next`/`previous` in the JSON body, `link` entries in the "
                    "Bundle, a `Link` header for CSV. Role `auditor`. The export is itself audited.",
        parameters=[
            OpenApiParameter("format", str, enum=["json", "csv", "fhir"], required=False),
            OpenApiParameter("from", {"type": "string", "format": "date-time"}, required=False,
                             description="Occurred at or after (ISO-8601 with a time zone, or a date)."),
            OpenApiParameter("to", {"type": "string", "format": "date-time"}, required=False,
                             description="Occurred before (ISO-8601 with a time zone, or a date)."),
            OpenApiParameter("event", str, required=False, description="Platform event code, e.g. "
                                                                       "assessment.read."),
            OpenApiParameter("outcome", {"type": "integer", "enum": [0, 4, 8, 12]}, required=False),
            OpenApiParameter("username", str, required=False),
            OpenApiParameter("assessment_id", str, required=False),
            *page_parameters(default=MAX_EXPORT, maximum=MAX_EXPORT),
        ],
        responses={
            (200, "application/json"): schemas.AuditEventPageSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per event."),
            (200, "application/fhir+json"): OpenApiResponse(OpenApiTypes.OBJECT,
                                                            description="A FHIR R4 Bundle (searchset) of AuditEvent."),
            400: Problems("invalid_format", "invalid_time_range", "invalid_event", "invalid_outcome",
                          "invalid_limit", "invalid_cursor"),
            503: Problems("audit_unavailable"),
        },
    )
    def get(self, request):
        fmt = request.query_params.get("format", "json")
        if fmt not in {"json", "csv", "fhir"}:
            raise ApiProblem(status=400, code="invalid_format", detail="format must be json, csv or fhir.")
        filters = export_filters(request.query_params)
        parse_limit(request.query_params.get("limit"), default=MAX_EXPORT, maximum=MAX_EXPORT)
        # Recorded first, so an export shows its own event (the chain up to and including this export).
        audit_or_fail(request, event="audit.export", tenant=self.tenant,
                      details={"format": fmt, **{k: (v.isoformat() if isinstance(v, datetime) else v)
                                                 for k, v in filters.items() if v not in (None, "")}})
        page = paginate(request, selectors.audit_events(tenant=self.tenant, **filters), ordering=("sequence", "id"),
                        default_limit=MAX_EXPORT, max_limit=MAX_EXPORT)
        events = page.items
        if fmt == "csv":
            response = HttpResponse(exports.as_csv(events), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
            links = [f'<{url}>; rel="{rel}"' for rel, url in (("next", page.next), ("prev", page.previous)) if url]
            if links:
                response["Link"] = ", ".join(links)
            return response
        if fmt == "fhir":
            bundle = exports.as_fhir_bundle(events)
            bundle["link"] = [{"relation": rel, "url": url}
                              for rel, url in (("next", page.next), ("previous", page.previous)) if url]
            if not bundle["link"]:
                del bundle["link"]
            return Response(bundle, content_type="application/fhir+json")
        return Response({**exports.as_json(events), "next": page.next, "previous": page.previous})
