"""Webhook management API for a hospital's administrators (MANAGE_WEBHOOKS), or an API key given the
`manage_webhooks` scope: endpoints, secret rotation, the delivery log and replay. Errors are RFC 9457 problems;
every change is audited in the same transaction (webhooks.services)."""
from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from api.auditing import audit_unavailable_problem
from api.base import TenantAPIView
from api.openapi import Problems
from api.problems import ApiProblem
from audit.services import AuditUnavailable, actor_from_request
from tenants.roles import Capability
from webhooks import schemas, selectors, services
from webhooks.models import WebhookDelivery, WebhookEndpoint

_SECRET_NOTICE = ("This is the only time the signing secret is shown. Store it in your HIS now; the platform keeps it "
                  "encrypted and never shows it again (rotate it to get a new one).")
_DELIVERY_LIST_MAX = 200


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def serialize_endpoint(endpoint: WebhookEndpoint) -> dict:
    """An endpoint as its hospital sees it; never the secret (only its first characters)."""
    return {
        "id": str(endpoint.id),
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "active": endpoint.is_active,
        "secret_hint": endpoint.secret_hint,
        "previous_secret_expires_at": _iso(endpoint.previous_secret_expires_at),
        "created_at": _iso(endpoint.created_at),
        "updated_at": _iso(endpoint.updated_at),
        "links": {"self": reverse("webhooks:endpoint-detail", kwargs={"endpoint_id": str(endpoint.id)}),
                  "deliveries": reverse("webhooks:endpoint-deliveries", kwargs={"endpoint_id": str(endpoint.id)})},
    }


def serialize_delivery(delivery: WebhookDelivery, *, with_attempts: bool = True) -> dict:
    """A delivery's log entry: event, status, attempts with their response codes. Not the payload (it names the
    study's accession number, which an administrator's role does not otherwise read)."""
    body = {
        "id": str(delivery.id),
        "endpoint": str(delivery.endpoint_id),
        "event_id": str(delivery.event_id),
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": _iso(delivery.created_at),
        "next_attempt_at": _iso(delivery.next_attempt_at),
        "give_up_at": _iso(delivery.give_up_at),
        "last_attempt_at": _iso(delivery.last_attempt_at),
        "last_response_code": delivery.last_response_code,
        "last_error": delivery.last_error,
        "delivered_at": _iso(delivery.delivered_at),
        "replay_of": str(delivery.replay_of_id) if delivery.replay_of_id else None,
    }
    if with_attempts:
        body["attempt_log"] = [
            {"number": a.number, "attempted_at": _iso(a.attempted_at), "response_code": a.response_code,
             "duration_ms": a.duration_ms, "error": a.error}
            for a in delivery.attempt_log.all()
        ]
    return body


def _data(request) -> dict:
    data = request.data
    if not hasattr(data, "get"):
        raise ApiProblem(status=400, code="invalid_request", detail="Send a JSON object.")
    return data


def _event_types(data):
    raw = data.get("event_types")
    if isinstance(raw, str):  # form posts: "assessment.succeeded,invoice.issued"
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    elif hasattr(data, "getlist") and len(data.getlist("event_types")) > 1:
        raw = data.getlist("event_types")
    return raw


def _active(raw):
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in {"true", "false"}:
        return raw.lower() == "true"
    raise ApiProblem(status=400, code="invalid_active", detail="active must be true or false.")


def _rejected(exc: services.WebhookRejected) -> ApiProblem:
    return ApiProblem(status=exc.http_status, code=exc.code, detail=exc.message)


def _endpoint_not_found() -> ApiProblem:
    return ApiProblem(status=404, code="webhook_not_found", detail="No webhook endpoint with this id exists for your "
                                                                   "hospital.")


def _whole_number(raw) -> int | None:
    """An int, or ASCII decimal digits of one (optionally negative); None otherwise. str.isdigit() is not enough:
    it accepts digits such as "²" that int() refuses (a 500), and int() would read "1_0" or 5,000 digits."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    text = raw.strip() if isinstance(raw, str) else ""
    digits = text[1:] if text.startswith("-") else text
    if not digits or len(digits) > 18 or not all("0" <= ch <= "9" for ch in digits):
        return None
    return int(text)


# What the views can refuse, per status (the OpenAPI document lists exactly these codes).
_URL_CODES = ("webhook_url_invalid", "webhook_url_scheme", "webhook_url_credentials", "webhook_url_unresolvable",
              "webhook_url_loopback", "webhook_url_not_public")
_WRITE_400 = Problems("invalid_request", "invalid_active", "invalid_event_types", "invalid_description", *_URL_CODES)
_NOT_FOUND = Problems("webhook_not_found")
_AUDIT_UNAVAILABLE = Problems("audit_unavailable", description="The audit trail cannot be written; nothing was "
                                                                "changed. Retry after Retry-After.")
_DISABLED = Problems("webhook_endpoint_disabled", description="The endpoint is disabled: enable it before replaying "
                                                              "(or an Idempotency-Key retry is still running).")
_WHO = " Hospital administrators (role `admin`), or an API key with the `manage_webhooks` scope."


class _WebhookView(TenantAPIView):
    required_capabilities = {method: Capability.MANAGE_WEBHOOKS for method in ("GET", "POST", "PATCH", "DELETE")}

    def _endpoint(self, endpoint_id) -> WebhookEndpoint:
        endpoint = selectors.endpoint_for_tenant(tenant=self.tenant, endpoint_id=endpoint_id)
        if endpoint is None:
            raise _endpoint_not_found()
        return endpoint


class EndpointCollectionView(_WebhookView):
    """GET: the hospital's endpoints. POST {url, event_types, description?, active?}: register one (201; the
    signing secret is in the answer once)."""

    @extend_schema(
        operation_id="webhooks_list", tags=["webhooks"], summary="List the hospital's webhook endpoints",
        description="Newest first, with the event types an endpoint can subscribe to." + _WHO,
        responses={200: schemas.WebhookEndpointListSerializer},
    )
    def get(self, request):
        return Response({"results": [serialize_endpoint(e) for e in selectors.endpoints_for_tenant(tenant=self.tenant)],
                         "event_types": list(services.events.EVENT_TYPES)})

    @extend_schema(
        operation_id="webhooks_create", tags=["webhooks"], summary="Register a webhook endpoint",
        description="Events are POSTed to the URL, signed with the endpoint's secret (docs/webhooks.md). The "
                    "secret is in this answer once." + _WHO,
        request={"application/json": schemas.WebhookEndpointCreateSerializer},
        responses={201: schemas.WebhookEndpointWithSecretSerializer, 400: _WRITE_400,
                   409: Problems("too_many_webhooks", description="The hospital has the most endpoints it may "
                                                                  "have (or an Idempotency-Key retry is still "
                                                                  "running)."),
                   503: _AUDIT_UNAVAILABLE},
    )
    def post(self, request):
        data = _data(request)
        try:
            endpoint, secret = services.endpoint_create(
                tenant=self.tenant, url=data.get("url"), event_types=_event_types(data),
                description=data.get("description") or "",
                is_active=_active(data["active"]) if "active" in data else True,
                created_by=self.acting_user, actor=actor_from_request(request))
        except services.WebhookRejected as exc:
            raise _rejected(exc) from None
        except AuditUnavailable:
            raise audit_unavailable_problem() from None
        body = serialize_endpoint(endpoint)
        body["secret"] = secret
        body["notice"] = _SECRET_NOTICE
        return Response(body, status=201, headers={"Location": body["links"]["self"], "Cache-Control": "no-store"})


class EndpointDetailView(_WebhookView):
    """GET one endpoint; PATCH {url?, event_types?, description?, active?}; DELETE it with its delivery log (204)."""

    @extend_schema(operation_id="webhooks_retrieve", tags=["webhooks"], summary="Read one webhook endpoint",
                   description="Never the secret, only its first characters." + _WHO,
                   responses={200: schemas.WebhookEndpointSerializer, 404: _NOT_FOUND})
    def get(self, request, endpoint_id):
        return Response(serialize_endpoint(self._endpoint(endpoint_id)))

    @extend_schema(
        operation_id="webhooks_update", tags=["webhooks"], summary="Change a webhook endpoint",
        description="Only the fields given change." + _WHO,
        request={"application/json": schemas.WebhookEndpointUpdateSerializer},
        responses={200: schemas.WebhookEndpointSerializer, 400: _WRITE_400, 404: _NOT_FOUND,
                   415: Problems("unsupported_media_type"), 503: _AUDIT_UNAVAILABLE},
    )
    def patch(self, request, endpoint_id):
        endpoint = self._endpoint(endpoint_id)
        data = _data(request)
        changes = {}
        if "url" in data:
            changes["url"] = data.get("url")
        if "event_types" in data:
            changes["event_types"] = _event_types(data)
        if "description" in data:
            changes["description"] = data.get("description")
        if "active" in data:
            changes["is_active"] = _active(data.get("active"))
        try:
            endpoint = services.endpoint_update(endpoint=endpoint, actor=actor_from_request(request), **changes)
        except services.WebhookRejected as exc:
            raise _rejected(exc) from None
        except AuditUnavailable:
            raise audit_unavailable_problem() from None
        return Response(serialize_endpoint(endpoint))

    @extend_schema(operation_id="webhooks_delete", tags=["webhooks"], summary="Delete a webhook endpoint",
                   description="With its delivery log; deliveries in flight are dropped." + _WHO,
                   responses={204: OpenApiResponse(description="Deleted."), 404: _NOT_FOUND,
                              503: _AUDIT_UNAVAILABLE})
    def delete(self, request, endpoint_id):
        endpoint = self._endpoint(endpoint_id)
        try:
            services.endpoint_delete(endpoint=endpoint, actor=actor_from_request(request))
        except AuditUnavailable:
            raise audit_unavailable_problem() from None
        return Response(status=204)


class EndpointRotateSecretView(_WebhookView):
    """POST {keep_previous_for_s?}: a new signing secret, shown once; the old one signs too for the overlap given
    (default 0: it stops at once)."""

    @extend_schema(
        operation_id="webhooks_rotate_secret", tags=["webhooks"], summary="Rotate an endpoint's signing secret",
        description="The new secret is in this answer once; the old one keeps signing beside it for "
                    "`keep_previous_for_s` seconds (0: it stops at once)." + _WHO,
        request={"application/json": schemas.WebhookRotateSecretSerializer},
        responses={200: schemas.WebhookEndpointWithSecretSerializer,
                   400: Problems("invalid_request", "invalid_overlap"), 404: _NOT_FOUND, 503: _AUDIT_UNAVAILABLE},
    )
    def post(self, request, endpoint_id):
        endpoint = self._endpoint(endpoint_id)
        raw = _data(request).get("keep_previous_for_s", 0)
        try:
            keep = _whole_number(raw)
            if keep is None:
                raise services.WebhookRejected("invalid_overlap", "keep_previous_for_s must be a whole number of "
                                                                  "seconds.")
            endpoint, secret = services.endpoint_rotate_secret(endpoint=endpoint, keep_previous_for_s=keep,
                                                               actor=actor_from_request(request))
        except services.WebhookRejected as exc:
            raise _rejected(exc) from None
        except AuditUnavailable:
            raise audit_unavailable_problem() from None
        body = serialize_endpoint(endpoint)
        body["secret"] = secret
        body["notice"] = _SECRET_NOTICE
        return Response(body, headers={"Cache-Control": "no-store"})


class EndpointDeliveriesView(_WebhookView):
    """GET ?status=&limit=: the endpoint's deliveries, newest first, each with every attempt and response code."""

    @extend_schema(
        operation_id="webhooks_deliveries_list", tags=["webhooks"], summary="An endpoint's delivery log",
        description="Newest first, each delivery with every attempt and the endpoint's response code. Not the "
                    "payloads." + _WHO,
        parameters=[OpenApiParameter("status", str, enum=WebhookDelivery.Status.values, required=False),
                    OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": _DELIVERY_LIST_MAX},
                                     required=False, description=f"Default 50, at most {_DELIVERY_LIST_MAX}.")],
        responses={200: schemas.WebhookDeliveryListSerializer, 400: Problems("invalid_status", "invalid_limit"),
                   404: _NOT_FOUND},
    )
    def get(self, request, endpoint_id):
        endpoint = self._endpoint(endpoint_id)
        status = request.query_params.get("status") or None
        if status and status not in WebhookDelivery.Status.values:
            raise ApiProblem(status=400, code="invalid_status",
                             detail=f"status must be one of {', '.join(WebhookDelivery.Status.values)}.")
        limit = _whole_number(request.query_params.get("limit") or "50")
        if limit is None or not 1 <= limit <= _DELIVERY_LIST_MAX:
            raise ApiProblem(status=400, code="invalid_limit", detail=f"limit must be 1 to {_DELIVERY_LIST_MAX}.")
        deliveries = selectors.deliveries_for_endpoint(endpoint=endpoint, status=status)[:limit]
        return Response({"results": [serialize_delivery(d) for d in deliveries]})


class EndpointReplayFailedView(_WebhookView):
    """POST: replay every event the endpoint gave up on (202, the new deliveries)."""

    @extend_schema(
        operation_id="webhooks_replay_failed", tags=["webhooks"], summary="Replay every event the endpoint gave up on",
        description="One new delivery per event whose latest delivery gave up (same event id)." + _WHO,
        request=None,
        responses={202: schemas.WebhookReplayListSerializer, 404: _NOT_FOUND, 409: _DISABLED,
                   503: _AUDIT_UNAVAILABLE},
    )
    def post(self, request, endpoint_id):
        endpoint = self._endpoint(endpoint_id)
        try:
            replays = services.endpoint_replay_failed(endpoint=endpoint, actor=actor_from_request(request))
        except services.WebhookRejected as exc:
            raise _rejected(exc) from None
        except AuditUnavailable:
            raise audit_unavailable_problem() from None
        return Response({"results": [serialize_delivery(r, with_attempts=False) for r in replays]}, status=202)


class DeliveryReplayView(_WebhookView):
    """POST: send a delivery's event again, as a new delivery with the same event id (202)."""

    @extend_schema(
        operation_id="webhook_deliveries_replay", tags=["webhooks"], summary="Send a delivery's event again",
        description="A new delivery of the same event (same event id and payload) with a fresh retry window." + _WHO,
        request=None,
        responses={202: schemas.WebhookDeliverySerializer, 404: Problems("webhook_delivery_not_found"),
                   409: _DISABLED, 503: _AUDIT_UNAVAILABLE},
    )
    def post(self, request, delivery_id):
        delivery = selectors.delivery_for_tenant(tenant=self.tenant, delivery_id=delivery_id)
        if delivery is None:
            raise ApiProblem(status=404, code="webhook_delivery_not_found",
                             detail="No webhook delivery with this id exists for your hospital.")
        try:
            replay = services.delivery_replay(delivery=delivery, actor=actor_from_request(request))
        except services.WebhookRejected as exc:
            raise _rejected(exc) from None
        except AuditUnavailable:
            raise audit_unavailable_problem() from None
        return Response(serialize_delivery(replay, with_attempts=False), status=202)
