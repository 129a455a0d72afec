"""The routes of the webhooks app: its API under /api/v1/ and its portal pages under /portal/webhooks/.

Webhook configuration and delivery logs hold no patient data (the log never shows payloads); configuration changes
and replays are audited by webhooks.services in the same transaction.
"""
from __future__ import annotations

from django.urls import reverse

NO_PATIENT_DATA = None

_ENDPOINT_ROUTES = {
    "webhooks:endpoint-detail", "webhooks:endpoint-rotate-secret", "webhooks:endpoint-deliveries",
    "webhooks:endpoint-replay-failed", "webhooks-portal:endpoint-detail", "webhooks-portal:endpoint-delete",
    "webhooks-portal:endpoint-rotate-secret", "webhooks-portal:endpoint-replay-failed",
}
_DELIVERY_ROUTES = {"webhooks:delivery-replay", "webhooks-portal:delivery-replay"}

ROUTES = {
    "webhooks:endpoint-collection": ("collection", "admin"),
    "webhooks-portal:endpoint-list": ("collection", "admin"),
    "webhooks-portal:notification-settings": ("collection", "admin"),
    **{name: ("object", "admin") for name in _ENDPOINT_ROUTES | _DELIVERY_ROUTES},
}

AUDIT: dict[str, dict[str, str] | None] = {
    "webhooks:endpoint-collection": {"POST": "webhook.create"},  # GET lists URLs and secret hints
    "webhooks:endpoint-detail": {"PATCH": "webhook.update", "DELETE": "webhook.delete"},
    "webhooks:endpoint-rotate-secret": {"POST": "webhook.rotate_secret"},
    "webhooks:endpoint-deliveries": NO_PATIENT_DATA,  # statuses and response codes, never payloads
    "webhooks:endpoint-replay-failed": {"POST": "webhook.replay"},
    "webhooks:delivery-replay": {"POST": "webhook.replay"},
    "webhooks-portal:endpoint-list": {"POST": "webhook.create"},
    "webhooks-portal:endpoint-detail": NO_PATIENT_DATA,
    "webhooks-portal:endpoint-delete": {"POST": "webhook.delete"},
    "webhooks-portal:endpoint-rotate-secret": {"POST": "webhook.rotate_secret"},
    "webhooks-portal:endpoint-replay-failed": {"POST": "webhook.replay"},
    "webhooks-portal:delivery-replay": {"POST": "webhook.replay"},
    "webhooks-portal:notification-settings": {"POST": "notification_settings.change"},
}


def _endpoint(tenant, name: str):
    from webhooks import services

    return services.endpoint_create(tenant=tenant, url=f"http://127.0.0.1:9/{name}", description=name,
                                    event_types=["assessment.succeeded", "invoice.issued"])


def _delivery(tenant, endpoint):
    from webhooks import services

    [delivery] = [d for d in services.event_publish(tenant=tenant, event_type="invoice.issued", data={})
                  if d.endpoint_id == endpoint.pk]
    return delivery


def b_objects(*, hospital_b, his_b, base: dict) -> dict:
    endpoint, secret = _endpoint(hospital_b.tenant, "hospital-b-his-webhook")
    delivery = _delivery(hospital_b.tenant, endpoint)
    return {"webhook_endpoint": str(endpoint.pk), "webhook_delivery": str(delivery.pk),
            "webhook_url": endpoint.url, "webhook_secret": secret, "webhook_event": str(delivery.event_id)}


def object_url(name: str, b: dict) -> str | None:
    if name in _ENDPOINT_ROUTES:
        return reverse(name, kwargs={"endpoint_id": b["webhook_endpoint"]})
    if name in _DELIVERY_ROUTES:
        return reverse(name, kwargs={"delivery_id": b["webhook_delivery"]})
    return None


def audited_request(name: str, method: str, p: dict):
    from tests.audit._support import last_event_id

    if name not in AUDIT:
        return None
    tenant = p["hospital"].tenant
    admin = p["admin"]
    if name == "webhooks:endpoint-collection":
        return admin.post(reverse(name), {"url": "http://127.0.0.1:9/a-his", "event_types": ["invoice.issued"]},
                          content_type="application/json"), (201,)
    if name == "webhooks-portal:endpoint-list":
        return admin.post(reverse(name), {"url": "http://127.0.0.1:9/a-portal", "event_types": ["invoice.issued"]}), \
            (201,)
    if name == "webhooks-portal:notification-settings":
        return admin.post(reverse(name), {"critical_finding_emails": "radiology-lead@hospital-a.example"}), (302,)
    endpoint, _ = _endpoint(tenant, f"a-{name.replace(':', '-')}-{method.lower()}")
    delivery = _delivery(tenant, endpoint)
    p["_mark"] = last_event_id()  # the setup above wrote its own events
    if name in _DELIVERY_ROUTES:
        url = reverse(name, kwargs={"delivery_id": str(delivery.pk)})
    else:
        url = reverse(name, kwargs={"endpoint_id": str(endpoint.pk)})
    if name == "webhooks:endpoint-detail" and method == "PATCH":
        return admin.patch(url, {"description": "RIS"}, content_type="application/json"), (200,)
    if name == "webhooks:endpoint-detail" and method == "DELETE":
        return admin.delete(url), (204,)
    if name.startswith("webhooks:"):
        return admin.post(url, {}, content_type="application/json"), (200, 202)
    return admin.post(url), (200, 302)
