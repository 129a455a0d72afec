"""Audit hooks of the HIS API: record reads before answering them, and every refused request.

A read whose audit event cannot be written answers 503 `audit_unavailable` and no data (no unaudited reads).
"""
from __future__ import annotations

import logging

from rest_framework import exceptions as drf_exceptions

from api.problems import ApiProblem
from audit.events import Outcome
from audit.pseudonym import opaque_reference
from audit.services import AuditUnavailable, audit_event_record

logger = logging.getLogger(__name__)


def audit_unavailable_problem() -> ApiProblem:
    return ApiProblem(status=503, code="audit_unavailable", headers={"Retry-After": "30"},
                      detail="The audit trail cannot be written right now, so nothing was done or shown. "
                             "Try again shortly.")


def audit_or_fail(request, **kwargs):
    """Record an audit event for this request (see audit.services.audit_event_record); 503 if it cannot be."""
    try:
        return audit_event_record(request=request, **kwargs)
    except AuditUnavailable:
        raise audit_unavailable_problem() from None


def _requested_objects(kwargs: dict) -> dict:
    # The ids in the URL may be another hospital's: keep only keyed pseudonyms of them (audit/pseudonym.py).
    return {name: opaque_reference(value) for name, value in kwargs.items() if value}


def record_refusal(view, request, exc) -> None:
    """A refused request (401, 403, or an object lookup's 404) as an `access.refused` event with outcome 4.

    Recorded in the chain of the hospital the caller acts for (platform chain when there is none: bad
    credentials, no membership). A refusal that cannot be audited is still refused, and logged."""
    if isinstance(exc, ApiProblem):
        status, code = exc.status_code, exc.problem_code
        if not (status == 403 or (status == 404 and code.endswith("_not_found"))):
            return
    elif isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
        status = 401
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "not_authenticated"
    elif isinstance(exc, drf_exceptions.PermissionDenied):
        status, code = 403, "permission_denied"
    else:
        return
    tenant = None
    if status != 401:  # after a 401, touching request.user would authenticate (and fail) again
        user = getattr(request, "user", None)
        tenant = getattr(view, "tenant", None)
        if tenant is None and user is not None:
            tenant = (getattr(user, "tenant", None) if hasattr(user, "api_key")
                      else getattr(request._request, "tenant", None))
    match = getattr(request._request, "resolver_match", None)
    details = {"status": status, "code": code, "method": request.method,
               "route": match.view_name if match else ""}
    requested = _requested_objects(getattr(view, "kwargs", {}) or {})
    if requested:
        details["requested"] = requested
    try:
        audit_event_record(event="access.refused", outcome=Outcome.MINOR_FAILURE, tenant=tenant,
                           request=request if status != 401 else None,
                           network_address=request._request.META.get("REMOTE_ADDR") or "", details=details)
    except AuditUnavailable:
        logger.error("refused request %s %s could not be audited", request.method, details["route"])
