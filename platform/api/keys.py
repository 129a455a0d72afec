"""Key management: a hospital's administrators create, list and revoke the API keys of their HIS integrations.

Only signed-in people whose role has MANAGE_KEYS (admin) may call these; an API key never can (keys carry only
the submit/read scopes), so a leaked key cannot mint more keys or revoke the hospital's others.
"""
from __future__ import annotations

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from api import schemas
from api.base import TenantAPIView
from api.openapi import Problems, page_parameters
from api.pagination import paginate
from api.problems import ApiProblem
from audit.services import AuditUnavailable, actor_from_request
from api.auditing import audit_unavailable_problem
from tenants import selectors, services
from tenants.models import ApiKey
from tenants.roles import Capability

_ONCE_NOTICE = "This is the only time the key is shown. Store it in your HIS now; the platform keeps only its hash."


def api_key_location(api_key: ApiKey) -> str:
    return f"/api/v1/api-keys/{api_key.id}"


def serialize_api_key(api_key: ApiKey) -> dict:
    """A key as its hospital sees it: the prefix identifies it; the secret and its hash never leave the platform."""
    if api_key.is_revoked:
        status = "revoked"
    elif api_key.is_expired():
        status = "expired"
    else:
        status = "active"
    return {
        "id": str(api_key.id),
        "name": api_key.name,
        "prefix": api_key.prefix,
        "scopes": list(api_key.scopes),
        "status": status,
        "created_at": api_key.created_at.isoformat(),
        "expires_at": api_key.expires_at.isoformat() if api_key.expires_at else None,
        "last_used_at": api_key.last_used_at.isoformat() if api_key.last_used_at else None,
        "revoked_at": api_key.revoked_at.isoformat() if api_key.revoked_at else None,
    }


def _parse_scopes(raw) -> list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, str):  # form posts and the "submit,read" shorthand
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return raw
    raise ApiProblem(status=400, code="invalid_scope", detail="scopes must be a list such as [\"submit\", \"read\"].")


def _parse_expiry(raw):
    if raw in (None, ""):
        return None
    parsed = parse_datetime(raw) if isinstance(raw, str) else None
    if parsed is None:
        raise ApiProblem(status=400, code="invalid_expiry",
                         detail="expires_at must be an ISO-8601 date-time with a time zone, e.g. 2027-01-31T00:00:00Z.")
    return parsed


def _not_found() -> ApiProblem:
    return ApiProblem(status=404, code="api_key_not_found", detail="No API key with this id exists for your hospital.")


def api_key_status_filter(queryset, status: str):
    """Keys in one of the statuses the API shows (active, revoked, expired); ApiProblem 400 for another value."""
    if not status:
        return queryset
    now = timezone.now()
    if status == "revoked":
        return queryset.filter(revoked_at__isnull=False)
    if status == "expired":
        return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
    if status == "active":
        return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
    raise ApiProblem(status=400, code="invalid_filter", detail="status must be active, revoked or expired.")


_KEY_EXAMPLE = {"id": "5d0f5a57-2f3e-4f0e-8d53-3c9d0f3b2a11", "name": "RIS gateway", "prefix": "k3Yx9aBq",
                "scopes": ["submit", "read"], "status": "active", "created_at": "2026-03-01T08:00:00+00:00",
                "expires_at": None, "last_used_at": None, "revoked_at": None}
_NOT_FOUND = Problems("api_key_not_found")
_KEY_AUDIT_UNAVAILABLE = Problems("audit_unavailable")


class ApiKeyCollectionView(TenantAPIView):
    """POST: create a key (201; the full key is in the answer once). GET: the hospital's keys, by prefix."""

    required_capabilities = {"GET": Capability.MANAGE_KEYS, "POST": Capability.MANAGE_KEYS}

    @extend_schema(
        operation_id="api_keys_create", tags=["api-keys"], summary="Create an API key",
        description="Signed-in administrators only (role `admin`; an API key never can). The full key is in this "
                    "answer once; the platform keeps only its hash.",
        request={"application/json": schemas.ApiKeyCreateSerializer},
        responses={201: OpenApiResponse(schemas.ApiKeyCreatedSerializer, examples=[OpenApiExample(
                       "created", value={**_KEY_EXAMPLE, "key": "mip_k3Yx9aBq_<secret>",
                                         "notice": _ONCE_NOTICE})]),
                   400: Problems("invalid_request", "invalid_name", "invalid_scope", "invalid_expiry"),
                   503: _KEY_AUDIT_UNAVAILABLE},
    )
    def post(self, request):
        # Only request.data is used: multipart QueryDicts and JSON objects both answer .get().
        data = request.data
        if not hasattr(data, "get"):
            raise ApiProblem(status=400, code="invalid_request", detail="Send a JSON object with name and scopes.")
        try:
            api_key, full_key = services.api_key_create(
                tenant=self.tenant,
                name=data.get("name") or "",
                scopes=_parse_scopes(data.get("scopes")),
                expires_at=_parse_expiry(data.get("expires_at")),
                created_by=self.acting_user,
                actor=actor_from_request(request),
            )
        except services.ApiKeyRejected as exc:
            raise ApiProblem(status=400, code=exc.code, detail=exc.message) from None
        except AuditUnavailable:
            raise audit_unavailable_problem() from None
        body = serialize_api_key(api_key)
        body["key"] = full_key
        body["notice"] = _ONCE_NOTICE
        return Response(body, status=201, headers={"Location": api_key_location(api_key), "Cache-Control": "no-store"})

    @extend_schema(
        operation_id="api_keys_list", tags=["api-keys"], summary="List the hospital's API keys",
        description="Newest first, by prefix (never the secret). Signed-in administrators only.",
        parameters=[OpenApiParameter("status", str, enum=schemas.API_KEY_STATUSES, required=False),
                    *page_parameters(default=50, maximum=200)],
        responses={200: schemas.ApiKeyPageSerializer,
                   400: Problems("invalid_filter", "invalid_limit", "invalid_cursor")},
    )
    def get(self, request):
        queryset = api_key_status_filter(selectors.api_keys_for_tenant(tenant=self.tenant),
                                         request.query_params.get("status") or "")
        page = paginate(request, queryset, ordering=("-created_at", "-id"), default_limit=50, max_limit=200)
        return Response(page.envelope([serialize_api_key(k) for k in page.items]))


class ApiKeyDetailView(TenantAPIView):
    """GET one key; DELETE revokes it (idempotent: revoking again answers the same row). Another hospital's id: 404."""

    required_capabilities = {"GET": Capability.MANAGE_KEYS, "DELETE": Capability.MANAGE_KEYS}

    def _get_key(self, api_key_id) -> ApiKey:
        api_key = selectors.api_key_for_tenant(tenant=self.tenant, api_key_id=api_key_id)
        if api_key is None:
            raise _not_found()
        return api_key

    @extend_schema(operation_id="api_keys_retrieve", tags=["api-keys"], summary="Read one API key",
                   responses={200: OpenApiResponse(schemas.ApiKeySerializer,
                                                   examples=[OpenApiExample("active", value=_KEY_EXAMPLE)]),
                              404: _NOT_FOUND})
    def get(self, request, api_key_id):
        return Response(serialize_api_key(self._get_key(api_key_id)))

    @extend_schema(operation_id="api_keys_revoke", tags=["api-keys"], summary="Revoke an API key",
                   description="Requests with the key are refused from now on (401 `api_key_revoked`). Revoking "
                               "again answers the same key.",
                   responses={200: schemas.ApiKeySerializer, 404: _NOT_FOUND, 503: _KEY_AUDIT_UNAVAILABLE})
    def delete(self, request, api_key_id):
        try:
            api_key = services.api_key_revoke(api_key=self._get_key(api_key_id), actor=actor_from_request(request))
        except AuditUnavailable:
            raise audit_unavailable_problem() from None
        return Response(serialize_api_key(api_key))
