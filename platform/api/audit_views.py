"""Audit export for the hospital's `auditor` role: `GET /api/v1/audit/events?from=&to=&format=csv|json|fhir`.

`from`/`to`: ISO-8601 date-times with a time zone (or dates: midnight UTC), half-open [from, to). Optional
`event` (platform code, e.g. assessment.read), `outcome` (0/4/8/12), `username`, `assessment_id`, `limit`
(default and maximum 10,000; oldest first). The export itself is recorded (`audit.export`, 110101 Audit Log
Used) before it is answered. Operators export any chain, the platform's included, with
`manage.py audit_export` (audit/management/commands).
"""
from __future__ import annotations

from datetime import datetime, time as dt_time, timezone as dt_timezone

from django.http import HttpResponse
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from api.auditing import audit_or_fail
from api.base import TenantAPIView
from api.problems import ApiProblem
from audit import exports, selectors
from audit.events import EVENT_KINDS
from tenants.roles import Capability

MAX_EXPORT = 10_000


def parse_when(raw: str | None, name: str) -> datetime | None:
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
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
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


class _FormatIsOurs(DefaultContentNegotiation):
    """`format=` selects the export format here, not a DRF renderer (DRF would answer 404 for csv/fhir)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AuditEventExportView(TenantAPIView):
    required_capabilities = {"GET": Capability.READ_AUDIT}
    content_negotiation_class = _FormatIsOurs

    def get(self, request):
        fmt = request.query_params.get("format", "json")
        if fmt not in {"json", "csv", "fhir"}:
            raise ApiProblem(status=400, code="invalid_format", detail="format must be json, csv or fhir.")
        filters = export_filters(request.query_params)
        try:
            limit = min(int(request.query_params.get("limit", MAX_EXPORT)), MAX_EXPORT)
        except ValueError:
            raise ApiProblem(status=400, code="invalid_limit", detail="limit must be an integer.") from None
        audit_or_fail(request, event="audit.export", tenant=self.tenant,
                      details={"format": fmt, **{k: (v.isoformat() if isinstance(v, datetime) else v)
                                                 for k, v in filters.items() if v not in (None, "")}})
        events = list(selectors.audit_events(tenant=self.tenant, **filters)[: max(limit, 1)])
        if fmt == "csv":
            response = HttpResponse(exports.as_csv(events), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
            return response
        if fmt == "fhir":
            return Response(exports.as_fhir_bundle(events), content_type="application/fhir+json")
        return Response(exports.as_json(events))
