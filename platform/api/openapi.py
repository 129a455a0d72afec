"""The shared pieces of the OpenAPI document (drf-spectacular): the `Api-Key` security scheme, RFC 9457 problem
responses with their `code` enums, the `Idempotency-Key` header on POST, and the document-wide hooks.

Views declare their own problems in `extend_schema(responses=...)` as `Problems("code", ...)` under a status;
PlatformAutoSchema adds what every API operation can answer (401, 403, 429) and what every POST can
(Idempotency-Key problems, unparseable bodies), and turns each status into a problem schema whose `code` is
the enum of exactly those codes. Refresh the committed snapshot after changing any of it:

    make openapi   # .venv/bin/python platform/manage.py spectacular --file docs/openapi.yaml --validate
"""
from __future__ import annotations

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from api.pagination import CURSOR_PARAM, LIMIT_PARAM

PROBLEM_MEDIA_TYPE = "application/problem+json"
API_PREFIX = "/api/v1/"

# What any operation of the API may answer, whatever it does.
COMMON_PROBLEMS: dict[int, tuple[str, ...]] = {
    400: ("malformed_request",),
    401: ("not_authenticated", "authentication_failed", "invalid_api_key", "api_key_revoked", "api_key_expired"),
    403: ("insufficient_scope", "insufficient_role", "tenant_suspended", "no_membership", "permission_denied"),
    429: ("rate_limited",),
}
# What any POST may answer besides: its body unreadable, and the Idempotency-Key outcomes (api/idempotency.py).
POST_PROBLEMS: dict[int, tuple[str, ...]] = {
    400: ("idempotency_key_invalid",),
    409: ("idempotency_in_progress",),
    415: ("unsupported_media_type",),
    422: ("idempotency_key_reused",),
}
_STATUS_TEXT = {
    400: "Bad request: the problem's `code` says which input.",
    401: "No credentials, or credentials that are not valid (see `code`).",
    403: "The key's scopes or the person's role do not allow this, or the hospital is suspended.",
    404: "No such object in your hospital (also for another hospital's ids).",
    409: "A request with this Idempotency-Key is still running; retry with the same key after Retry-After.",
    413: "The file is larger than the upload limit.",
    415: "The body's media type (or the file's type) is not accepted.",
    422: "Understood but refused (see `code`).",
    429: "Over a rate limit or the plan's monthly quota; retry after Retry-After seconds.",
    503: "A dependency (image store, audit trail, model version) is unavailable; nothing was done. Retry later.",
}


class Problems:
    """A problem response in `extend_schema(responses={status: Problems("code", ...)})`: the codes it can carry."""

    def __init__(self, *codes: str, description: str | None = None):
        self.codes = codes
        self.description = description


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A hospital information system's key, shown once when an administrator creates it: "
                           "send `Authorization: Api-Key mip_<prefix>_<secret>`. Keys carry the `submit` and/or "
                           "`read` scope.",
        }


def _problem_schema(name: str, status: int, codes: tuple[str, ...]):
    return inline_serializer(name=name, fields={
        "type": serializers.URLField(help_text="https://docs.mip.example/problems/<code>"),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(min_value=status, max_value=status),
        "detail": serializers.CharField(help_text="For people; never parse it. No patient data."),
        "code": serializers.ChoiceField(choices=sorted(codes), help_text="Stable machine-readable code."),
        "instance": serializers.CharField(required=False, help_text="The request path."),
    })


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


class PlatformAutoSchema(AutoSchema):
    """AutoSchema that adds the API-wide problems and the Idempotency-Key header to every TenantAPIView."""

    def _is_tenant_api(self) -> bool:
        from api.base import TenantAPIView

        return isinstance(self.view, TenantAPIView)

    def _is_idempotent(self) -> bool:
        return self._is_tenant_api() and self.method.upper() in self.view.idempotent_methods

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self._is_idempotent():
            parameters.append(OpenApiParameter(
                name="Idempotency-Key", location=OpenApiParameter.HEADER, required=False,
                type={"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$"},
                description="Makes the POST safe to retry: a retry with the same key and the same request "
                            "answers the first request's response again (with `Idempotent-Replayed: true`) and "
                            "changes nothing. A UUID per logical request is a good key. Kept for 24 hours. "
                            "See docs/api.md.",
            ))
        return parameters

    def _get_response_bodies(self, direction="response"):
        # extend_schema's own schema class overrides get_response_serializers() without calling super(), so the
        # problems are merged here, where the document's responses are built from it.
        declared = self.get_response_serializers()
        merged = self._with_problems(declared)
        self.get_response_serializers = lambda: merged
        try:
            return super()._get_response_bodies(direction)
        finally:
            del self.get_response_serializers

    def _with_problems(self, responses):
        if not isinstance(responses, dict) or not self._is_tenant_api():
            return responses
        problems: dict[int, set[str]] = {}
        descriptions: dict[int, str] = {}
        result = {}
        for key, value in responses.items():
            if isinstance(value, Problems):
                status = int(key[0] if isinstance(key, tuple) else key)
                problems.setdefault(status, set()).update(value.codes)
                if value.description:
                    descriptions[status] = value.description
            else:
                result[key] = value
        extra = dict(COMMON_PROBLEMS)
        if self.method.upper() == "POST":
            extra = {**extra, **{s: extra.get(s, ()) + c for s, c in POST_PROBLEMS.items()}}
        if not self._is_idempotent():
            extra = {s: tuple(c for c in codes if not c.startswith("idempotency_")) for s, codes in extra.items()}
        for status, codes in extra.items():
            if codes:
                problems.setdefault(status, set()).update(codes)
        prefix = _camel(self.get_operation_id())
        for status in sorted(problems):
            result[(status, PROBLEM_MEDIA_TYPE)] = OpenApiResponse(
                response=_problem_schema(f"{prefix}Problem{status}", status, tuple(problems[status])),
                description=descriptions.get(status) or _STATUS_TEXT.get(status, "A problem (RFC 9457)."),
            )
        return result


def page_parameters(*, default: int, maximum: int) -> list[OpenApiParameter]:
    """`limit` and `cursor`, the parameters of every list (api/pagination.py)."""
    return [
        OpenApiParameter(LIMIT_PARAM, {"type": "integer", "minimum": 1, "maximum": maximum}, required=False,
                         description=f"Rows per page: default {default}, at most {maximum} (larger values are "
                                     "capped)."),
        OpenApiParameter(CURSOR_PARAM, str, required=False,
                         description="Opaque position from a previous page's `next` or `previous` link. Do not "
                                     "build or edit it: follow the links."),
    ]


def only_api_v1(endpoints):
    """Preprocessing hook: the document covers the REST API under /api/v1 (not FHIR, DICOMweb or the portal),
    without the document and reference page themselves."""
    return [(path, pattern, method, callback) for path, pattern, method, callback in endpoints
            if path.startswith(API_PREFIX) and not path.startswith(f"{API_PREFIX}schema")
            and not path.startswith(f"{API_PREFIX}docs")]


_RESPONSE_HEADERS = {
    "Location": {"description": "The created (or already existing) object's URL.",
                 "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
    "Idempotent-Replayed": {"description": "`true` when this is the stored answer of an earlier request with the "
                                           "same Idempotency-Key (nothing ran again).",
                            "schema": {"type": "string", "enum": ["true"]}},
}


def add_info(result, generator, request, public):
    """Postprocessing hook: servers, tag descriptions, and the response headers the views set."""
    result["servers"] = [{"url": "/", "description": "This platform"}]
    result["tags"] = [
        {"name": "assessments", "description": "Submit an image for an AI assessment and read its result."},
        {"name": "api-keys", "description": "A hospital administrator's keys for its HIS (signed-in people only)."},
        {"name": "billing", "description": "Usage and invoices (the `billing` role)."},
        {"name": "audit", "description": "The hospital's audit trail (the `auditor` role)."},
        # Merged areas (issues 7-9): reports, webhooks, sign-offs, HL7 v2.
        {"name": "reports", "description": "An assessment's result as PDF, HTML, FHIR R4 Bundle, DICOM SR and SEG."},
        {"name": "webhooks", "description": "Signed event deliveries to the HIS: endpoints, secrets, the delivery "
                                            "log and replay (role `admin` or the `manage_webhooks` scope)."},
        {"name": "reviews", "description": "Radiologists' sign-off (agree or disagree) on assessment results."},
        {"name": "hl7", "description": "HL7 v2 ORU^R01 result messages, the hospital's destination and delivery log."},
    ]
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            for status, response in operation.get("responses", {}).items():
                headers = {}
                if status in {"201", "202"} or (status == "200" and method == "post"):
                    headers["Location"] = _RESPONSE_HEADERS["Location"]
                if status in {"409", "429", "503"}:
                    headers["Retry-After"] = _RESPONSE_HEADERS["Retry-After"]
                if method == "post" and (status.startswith("2") or status.startswith("4")):
                    headers["Idempotent-Replayed"] = _RESPONSE_HEADERS["Idempotent-Replayed"]
                if headers:
                    response.setdefault("headers", {}).update(headers)
    return result
