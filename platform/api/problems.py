"""RFC 9457 problem details (`application/problem+json`) for every API error.

Each problem has a stable machine-readable `code` (also the last segment of `type`), a short `title`, a
human `detail` and the HTTP `status`. Clients switch on `code`; `detail` is for people. Details never carry
patient data.
"""
from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://docs.mip.example/problems/"

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ApiProblem(drf_exceptions.APIException):
    """Raise from views and services' callers to answer a problem with a specific code."""

    def __init__(self, *, status: int, code: str, detail: str, headers: dict[str, str] | None = None,
                 extra: dict | None = None):
        super().__init__(detail=detail, code=code)
        self.status_code = status
        self.problem_code = code
        self.problem_detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


def problem_response(*, status: int, code: str, detail: str, instance: str | None = None,
                     headers: dict[str, str] | None = None, extra: dict | None = None) -> JsonResponse:
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    response = JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE,
                            json_dumps_params={"ensure_ascii": False})
    for name, value in (headers or {}).items():
        response[name] = value
    return response


# DRF's own exceptions mapped to stable codes.
_DRF_CODES = {
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.Throttled: "rate_limited",
    drf_exceptions.ValidationError: "invalid_request",
}


def _flatten_detail(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten_detail(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten_detail(item) for item in detail)
    return str(detail)


def problem_exception_handler(exc, context):
    """DRF exception handler: every exception becomes a problem document, never an HTML page or traceback."""
    request = context.get("request")
    instance = request.path if request is not None else None
    if isinstance(exc, ApiProblem):
        return problem_response(status=exc.status_code, code=exc.problem_code, detail=exc.problem_detail,
                                instance=instance, headers=exc.headers, extra=exc.extra)
    # Imported here: rest_framework.views imports the authentication classes, which import this module.
    from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
    from django.http import Http404
    from rest_framework.views import exception_handler as drf_default_handler

    # Django's own (raised by DRF's content negotiation, get_object_or_404, ...): as DRF's default handler maps
    # them, converted first so the code and detail below read a DRF exception.
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_default_handler(exc, context)
    if response is None:
        # Not an API exception: a bug. Logged with its stack (no request body), answered as a 500 problem.
        logger.exception("unhandled error in API view %s", type(context.get("view")).__name__)
        return problem_response(status=500, code="internal_error", instance=instance,
                                detail="The platform hit an unexpected error; nothing you sent was lost.")
    code = None
    if isinstance(exc, drf_exceptions.AuthenticationFailed):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "authentication_failed"
    if code is None:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    headers = {name: value for name, value in response.items() if name in {"WWW-Authenticate", "Retry-After", "Allow"}}
    return problem_response(status=response.status_code, code=code, detail=_flatten_detail(exc.detail),
                            instance=instance, headers=headers)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def django_handler400(request, exception=None):
    from django.views.defaults import bad_request

    if _is_api(request):
        return problem_response(status=400, code="malformed_request", instance=request.path,
                                detail="The request could not be read.")
    return bad_request(request, exception)


def django_handler404(request, exception=None):
    from django.views.defaults import page_not_found

    if _is_api(request):
        return problem_response(status=404, code="not_found", instance=request.path,
                                detail="There is no API resource at this address.")
    return page_not_found(request, exception)


def django_handler500(request):
    from django.views.defaults import server_error

    if _is_api(request):
        return problem_response(status=500, code="internal_error", instance=request.path,
                                detail="The platform hit an unexpected error; nothing you sent was lost.")
    return server_error(request)
