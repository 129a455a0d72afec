"""What every FHIR view shares: `application/fhir+json` in and out, and errors as OperationOutcome resources.

Views raise api.problems.ApiProblem like the rest of the API (so refusals are audited the same way); the answer is
turned into an OperationOutcome whose issue carries the platform's stable code (`details.coding`, system
PROBLEM_SYSTEM) beside the FHIR issue type, with the same HTTP status.
"""
from __future__ import annotations

import json

from django.http import HttpResponse
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

from api.base import TenantAPIView
from reports.fhir import FHIR_JSON

PROBLEM_SYSTEM = "https://mip.example/fhir/CodeSystem/mip-problems"

# HTTP status -> FHIR IssueType (http://hl7.org/fhir/issue-type).
_ISSUE_TYPES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
                406: "not-supported", 409: "conflict", 410: "deleted", 412: "conflict", 413: "too-costly",
                415: "not-supported", 422: "processing", 429: "throttled", 503: "transient"}


class FhirJSONParser(JSONParser):
    media_type = FHIR_JSON


class FhirJSONRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "fhir"


class PlainJSONRenderer(JSONRenderer):
    """Clients that ask for application/json get the same FHIR JSON."""


def operation_outcome(*, status: int, code: str, detail: str) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "error" if status < 500 else "fatal",
            "code": _ISSUE_TYPES.get(status, "exception"),
            "details": {"coding": [{"system": PROBLEM_SYSTEM, "code": code}], "text": detail},
            "diagnostics": detail,
        }],
    }


def fhir_response(body: dict, *, status: int = 200, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(body, ensure_ascii=False), status=status,
                            content_type=f"{FHIR_JSON}; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class FhirView(TenantAPIView):
    """TenantAPIView (API key or session, capabilities, rate limits, refusal audit) speaking FHIR."""

    parser_classes = [FhirJSONParser, JSONParser]
    renderer_classes = [FhirJSONRenderer, PlainJSONRenderer]

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        return _as_outcome(response)


def _as_outcome(response) -> HttpResponse:
    """Re-express a problem document (api.problems) as an OperationOutcome, keeping status and headers."""
    try:
        problem = json.loads(response.content)
    except (ValueError, AttributeError):
        problem = {}
    status = response.status_code
    outcome = operation_outcome(status=status, code=str(problem.get("code") or "error"),
                                detail=str(problem.get("detail") or "The request could not be completed."))
    headers = {name: response[name] for name in ("Retry-After", "WWW-Authenticate", "Allow")
               if response.has_header(name)}
    return fhir_response(outcome, status=status, headers=headers)
