"""Writes of the webhooks app: endpoints, publishing events, attempting deliveries, replay, notifications.

Publishing joins the caller's transaction and sends nothing itself: deliveries are rows written with the change
that caused them, and their tasks are published with `transaction.on_commit`. A rolled-back change therefore
sends nothing, and a committed one is never lost: if the publish itself is lost (broker down, worker killed),
the periodic sweep (`deliveries_sweep`, Celery beat) finds the due row and publishes it again.

Attempts never hold a database lock over the network: a worker claims a delivery with a short lease, sends,
then records the attempt and the next one in its own transaction.
"""
from __future__ import annotations

import json
import logging
import random
import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.sealing import SealBroken, seal, unseal
from tenants.context import dangerously_operator_access, tenant_context
from tenants.models import Tenant
from webhooks import events, signing, transport
from webhooks.models import (
    CriticalFindingEmail,
    NotificationSettings,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

_DESCRIPTION_MAX = WebhookEndpoint._meta.get_field("description").max_length
_MAX_ENDPOINTS_PER_HOSPITAL = 20
_MAX_NOTIFICATION_EMAILS = 20
# Longest overlap an administrator may give an old secret after a rotation.
MAX_PREVIOUS_SECRET_S = 7 * 24 * 3600
# A worker holds a claimed delivery this much longer than one attempt can take.
_LEASE_MARGIN_S = 30
# Retries this soon are published with a countdown; later ones are left to the sweep (RabbitMQ must not hold
# long-delayed messages: a consumer holding an unacked message past its timeout is disconnected).
_COUNTDOWN_MAX_S = 60
# A published task not picked up after this long is published again by the sweep (a lost message).
_REPUBLISH_AFTER_S = 120
_BODY_SEPARATORS = (",", ":")


class WebhookRejected(ValueError):
    """A webhook change the platform refuses, with a stable code (for the API's problem document)."""

    def __init__(self, code: str, message: str, http_status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


def _audit(**kwargs) -> None:
    # Raises audit.services.AuditUnavailable, which rolls the change back with it: nothing changes unaudited.
    from audit.services import audit_event_record

    audit_event_record(**kwargs)


# ---------------------------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------------------------


def _new_secret() -> str:
    # 256 bits; the prefix makes a leaked secret recognisable (secret scanners, logs).
    return "whsec_" + secrets.token_urlsafe(32)


def _seal_owner(endpoint_id) -> str:
    # Bound into the AES-GCM tag: a sealed secret copied onto another endpoint's row does not open.
    return f"webhook-endpoint:{endpoint_id}"


def endpoint_signing_secrets(endpoint: WebhookEndpoint, *, now: datetime | None = None) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one while its overlap lasts."""
    now = now or timezone.now()
    owner = _seal_owner(endpoint.pk)
    found = [unseal(endpoint.secret_sealed, owner=owner)]
    if endpoint.previous_secret_sealed and endpoint.previous_secret_expires_at and \
            endpoint.previous_secret_expires_at > now:
        found.append(unseal(endpoint.previous_secret_sealed, owner=owner))
    return found


# ---------------------------------------------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------------------------------------------


def _clean_event_types(event_types) -> list[str]:
    if not isinstance(event_types, (list, tuple)) or not event_types or \
            not all(isinstance(item, str) for item in event_types):
        raise WebhookRejected("invalid_event_types", "event_types must be a non-empty list of: "
                              + ", ".join(events.EVENT_TYPES) + ".")
    unknown = sorted(set(event_types) - set(events.EVENT_TYPES))
    if unknown:
        raise WebhookRejected("invalid_event_types", f"Unknown event type(s): {', '.join(unknown)}; one of "
                              + ", ".join(events.EVENT_TYPES) + ".")
    # Catalogue order without duplicates, so equal subscriptions are stored equally.
    return [name for name in events.EVENT_TYPES if name in event_types]


def _clean_url(url) -> str:
    try:
        transport.check_url(url)
    except transport.UnsafeUrl as exc:
        raise WebhookRejected(exc.code, exc.message) from None
    return url.strip()


def _clean_description(description) -> str:
    description = (description or "").strip() if isinstance(description, (str, type(None))) else None
    # Control characters (NUL above all, which PostgreSQL refuses in text) are input errors, not a 500.
    if description is None or len(description) > _DESCRIPTION_MAX or any(ord(ch) < 32 for ch in description):
        raise WebhookRejected("invalid_description", f"description must be text of at most {_DESCRIPTION_MAX} "
                                                     "characters.")
    return description


@transaction.atomic
def endpoint_create(*, tenant: Tenant, url: str, event_types: list[str], description: str = "",
                    is_active: bool = True, created_by=None, actor=None) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint. Returns the row and its signing secret, shown once (stored sealed).

    Raises WebhookRejected: invalid_event_types, invalid_description, too_many_webhooks, and the URL policy's codes
    (webhook_url_invalid, webhook_url_scheme, webhook_url_credentials, webhook_url_unresolvable,
    webhook_url_loopback, webhook_url_not_public; see webhooks.transport).
    """
    event_types = _clean_event_types(event_types)
    description = _clean_description(description)
    url = _clean_url(url)
    secret = _new_secret()
    with tenant_context(tenant):
        if WebhookEndpoint.objects.count() >= _MAX_ENDPOINTS_PER_HOSPITAL:
            raise WebhookRejected("too_many_webhooks",
                                  f"A hospital may register at most {_MAX_ENDPOINTS_PER_HOSPITAL} endpoints.", 409)
        endpoint_id = uuid.uuid4()
        endpoint = WebhookEndpoint.objects.create(
            id=endpoint_id, tenant=tenant, url=url, description=description, event_types=event_types,
            secret_sealed=seal(secret, owner=_seal_owner(endpoint_id)), secret_hint=secret[:10],
            is_active=bool(is_active), created_by=created_by,
        )
    _audit(event="webhook.create", tenant=tenant, actor=actor, user=created_by if actor is None else None,
           object_type="webhook_endpoint", object_id=str(endpoint.pk),
           details={"url": url, "event_types": event_types, "active": endpoint.is_active})
    return endpoint, secret


_UNSET = object()


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, url=_UNSET, event_types=_UNSET, description=_UNSET,
                    is_active=_UNSET, actor=None) -> WebhookEndpoint:
    """Change an endpoint's URL, events, description or active flag (only what is given). Audited with the
    fields that changed. Raises WebhookRejected as endpoint_create does (and invalid_active)."""
    changed: dict = {}
    if url is not _UNSET:
        url = _clean_url(url)
        if url != endpoint.url:
            changed["url"] = url
    if event_types is not _UNSET:
        event_types = _clean_event_types(event_types)
        if event_types != list(endpoint.event_types):
            changed["event_types"] = event_types
    if description is not _UNSET:
        description = _clean_description(description)
        if description != endpoint.description:
            changed["description"] = description
    if is_active is not _UNSET:
        if not isinstance(is_active, bool):
            raise WebhookRejected("invalid_active", "active must be true or false.")
        if is_active != endpoint.is_active:
            changed["is_active"] = is_active
    if not changed:
        return endpoint
    for field, value in changed.items():
        setattr(endpoint, field, value)
    endpoint.updated_at = timezone.now()
    with tenant_context(endpoint.tenant):
        endpoint.save(update_fields=[*changed, "updated_at"])
    _audit(event="webhook.update", tenant=endpoint.tenant, actor=actor, object_type="webhook_endpoint",
           object_id=str(endpoint.pk), details={"changed": changed})
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, actor=None) -> None:
    """Remove an endpoint with its delivery log; deliveries still in flight are dropped (their tasks find no row)."""
    tenant = endpoint.tenant
    endpoint_id, url = str(endpoint.pk), endpoint.url
    with tenant_context(tenant):
        # Attempts first, in one statement (a busy endpoint has thousands); deliveries go with the endpoint.
        WebhookAttempt.objects.filter(delivery__endpoint_id=endpoint_id).delete()
        WebhookEndpoint.objects.filter(pk=endpoint_id).delete()
    _audit(event="webhook.delete", tenant=tenant, actor=actor, object_type="webhook_endpoint",
           object_id=endpoint_id, details={"url": url})


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, keep_previous_for_s: int = 0,
                           actor=None) -> tuple[WebhookEndpoint, str]:
    """Give the endpoint a new signing secret (returned once). With `keep_previous_for_s` > 0 the old secret keeps
    signing deliveries beside the new one for that long (two `v1=` entries), so the HIS can switch without
    refusing events; 0 ends it at once (a leaked secret). Raises WebhookRejected invalid_overlap."""
    if not isinstance(keep_previous_for_s, int) or isinstance(keep_previous_for_s, bool) or \
            not 0 <= keep_previous_for_s <= MAX_PREVIOUS_SECRET_S:
        raise WebhookRejected("invalid_overlap", f"keep_previous_for_s must be a whole number of seconds from 0 to "
                                                 f"{MAX_PREVIOUS_SECRET_S}.")
    now = timezone.now()
    secret = _new_secret()
    owner = _seal_owner(endpoint.pk)
    if keep_previous_for_s:
        endpoint.previous_secret_sealed = endpoint.secret_sealed
        endpoint.previous_secret_expires_at = now + timedelta(seconds=keep_previous_for_s)
    else:
        endpoint.previous_secret_sealed = ""
        endpoint.previous_secret_expires_at = None
    endpoint.secret_sealed = seal(secret, owner=owner)
    endpoint.secret_hint = secret[:10]
    endpoint.updated_at = now
    with tenant_context(endpoint.tenant):
        endpoint.save(update_fields=["secret_sealed", "secret_hint", "previous_secret_sealed",
                                     "previous_secret_expires_at", "updated_at"])
    _audit(event="webhook.rotate_secret", tenant=endpoint.tenant, actor=actor, object_type="webhook_endpoint",
           object_id=str(endpoint.pk), details={"secret_hint": endpoint.secret_hint,
                                                "keep_previous_for_s": keep_previous_for_s})
    return endpoint, secret


# ---------------------------------------------------------------------------------------------------------------
# Publishing
# ---------------------------------------------------------------------------------------------------------------


def _enqueue(*, tenant: Tenant, delivery_ids: list, countdown: float | None = None) -> int:
    """Publish attempt tasks. A broker outage is not fatal: the rows stay due and the sweep publishes them."""
    from webhooks.tasks import deliver

    published = []
    for delivery_id in delivery_ids:
        try:
            deliver.apply_async(
                kwargs={"tenant_id": str(tenant.pk), "delivery_id": str(delivery_id)},
                countdown=countdown, queue=settings.WEBHOOK_QUEUE or None, retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
            )
        except Exception as exc:  # kombu raises several unrelated types for an unreachable broker
            logger.warning("could not publish webhook delivery %s (%s); the sweep will retry", delivery_id,
                           type(exc).__name__)
            continue
        published.append(delivery_id)
    if published and countdown is None:
        now = timezone.now()
        with tenant_context(tenant):
            # Not over a later mark: a fast worker may already have scheduled a countdown retry (enqueued_at then
            # holds that retry's time, which keeps the sweep off it).
            WebhookDelivery.objects.filter(pk__in=published).filter(
                Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now)).update(enqueued_at=now)
    return len(published)


@transaction.atomic
def event_publish(*, tenant: Tenant, event_type: str, data: dict, event_id=None,
                  now: datetime | None = None) -> list[WebhookDelivery]:
    """Create one delivery of the event per active endpoint of `tenant` subscribed to `event_type`, in the caller's
    transaction; their tasks are published when it commits. Returns the deliveries created.

    `data` is the event's `data` object (webhooks.events builds them); `event_id` defaults to a new UUID; giving a
    stable one (events.event_id_for) makes publishing idempotent: an endpoint that already has the event gets no
    second delivery. Raises ValueError for an event type outside the catalogue.
    """
    if event_type not in events.EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    event_id = uuid.UUID(str(event_id)) if event_id else uuid.uuid4()
    now = now or timezone.now()
    with tenant_context(tenant):
        endpoints = list(WebhookEndpoint.objects.filter(is_active=True, event_types__contains=[event_type]))
        if not endpoints:
            return []
        payload = events.envelope(event_id=event_id, event_type=event_type, created_at=now, data=data)
        already = set(WebhookDelivery.objects.filter(event_id=event_id, replay_of__isnull=True)
                      .values_list("endpoint_id", flat=True))
        deliveries = [
            WebhookDelivery(tenant=tenant, endpoint=endpoint, event_id=event_id, event_type=event_type,
                            payload=payload, created_at=now, next_attempt_at=now,
                            give_up_at=now + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_S))
            for endpoint in endpoints if endpoint.pk not in already
        ]
        # ON CONFLICT DO NOTHING: a concurrent publisher of the same event may have won; its row is the delivery
        # (the task for ours finds no row and does nothing).
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    if deliveries:
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: _enqueue(tenant=tenant, delivery_ids=ids))
    return deliveries


def _has_subscribers(*, tenant: Tenant, event_type: str) -> bool:
    with tenant_context(tenant):
        return WebhookEndpoint.objects.filter(is_active=True, event_types__contains=[event_type]).exists()


def assessment_event_publish(*, assessment) -> list[WebhookDelivery]:
    """Publish assessment.succeeded or assessment.failed for a finished assessment (by its status), in the caller's
    transaction. Called by inference.services when the state changes."""
    event_type = {"succeeded": events.ASSESSMENT_SUCCEEDED, "failed": events.ASSESSMENT_FAILED}.get(assessment.status)
    if event_type is None:
        return []
    tenant = assessment.tenant
    if not _has_subscribers(tenant=tenant, event_type=event_type):
        return []  # the common case: one indexed query, no payload built
    return event_publish(tenant=tenant, event_type=event_type, data=events.assessment_data(assessment),
                         event_id=events.event_id_for(tenant_id=tenant.pk, event_type=event_type,
                                                      subject_id=assessment.pk))


def invoices_issued_publish(*, invoices) -> int:
    """Publish invoice.issued for freshly issued invoices (any hospitals), in the caller's transaction. Returns
    how many deliveries were created. One query finds the hospitals that subscribed; the rest cost nothing."""
    invoices = list(invoices)
    if not invoices:
        return 0
    # Ids as strings: month closing builds invoices with string tenant ids.
    tenant_ids = {str(invoice.tenant_id) for invoice in invoices}
    with dangerously_operator_access(reason="webhooks: hospitals subscribed to invoice.issued"):
        subscribed = {str(t) for t in WebhookEndpoint.objects.dangerously_all_tenants()
                      .filter(tenant_id__in=tenant_ids, is_active=True, event_types__contains=[events.INVOICE_ISSUED])
                      .values_list("tenant_id", flat=True)}
    created = 0
    tenants = {str(t.pk): t for t in Tenant.objects.filter(pk__in=subscribed)} if subscribed else {}
    for invoice in invoices:
        if str(invoice.tenant_id) in subscribed:
            created += len(event_publish(
                tenant=tenants[str(invoice.tenant_id)], event_type=events.INVOICE_ISSUED,
                data=events.invoice_data(invoice),
                event_id=events.event_id_for(tenant_id=invoice.tenant_id, event_type=events.INVOICE_ISSUED,
                                             subject_id=invoice.pk)))
    return created


# ---------------------------------------------------------------------------------------------------------------
# Delivering
# ---------------------------------------------------------------------------------------------------------------


def delivery_body(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent (and signed): compact JSON of the frozen payload, the same on every attempt."""
    return json.dumps(delivery.payload, separators=_BODY_SEPARATORS, ensure_ascii=False).encode("utf-8")


def retry_delay_s(attempts: int) -> float:
    """Seconds from a failed attempt (the `attempts`-th) to the next: exponential from WEBHOOK_RETRY_BASE_S, capped
    at WEBHOOK_RETRY_MAX_S, with ±20% jitter so an HIS coming back up is not hit by every retry at once."""
    delay = min(settings.WEBHOOK_RETRY_MAX_S, settings.WEBHOOK_RETRY_BASE_S * (2 ** max(0, attempts - 1)))
    return delay * random.uniform(0.8, 1.2)


def delivery_attempt(*, delivery_id, now: datetime | None = None) -> WebhookDelivery | None:
    """Make one attempt of a due delivery and record it. Returns the delivery, or None when there was nothing to do
    (row gone, finished, not due yet, or another worker holds it): duplicate tasks are harmless.

    `now` is the clock the schedule is computed with (tests drive it); the request is signed with the real time.
    """
    now = now or timezone.now()
    real_now = timezone.now()
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(of=("self",)).select_related("endpoint")
                    .filter(pk=delivery_id).first())
        if delivery is None or delivery.is_terminal:
            return None
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + timedelta(seconds=1):
            return None  # an early duplicate; the sweep or its own countdown brings it back when due
        if delivery.locked_until is not None and delivery.locked_until > real_now:
            return None
        endpoint = delivery.endpoint
        if not endpoint.is_active:
            delivery.status = WebhookDelivery.Status.GIVEN_UP
            delivery.next_attempt_at = None
            delivery.last_error = "endpoint disabled"
            delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
            return delivery
        lease = settings.WEBHOOK_CONNECT_TIMEOUT_S + settings.WEBHOOK_TIMEOUT_S + _LEASE_MARGIN_S
        delivery.locked_until = real_now + timedelta(seconds=lease)
        delivery.save(update_fields=["locked_until"])
        url = endpoint.url
        try:
            signing_secrets = endpoint_signing_secrets(endpoint, now=real_now)
        except SealBroken:
            signing_secrets = None

    if signing_secrets is None:
        # Sealed under a key no longer configured (MIP_FIELD_ENCRYPTION_KEY rotated without the fallback): nothing
        # can be signed. A failed attempt, so the delivery still ends (given up) and the log says what to do.
        logger.error("webhook endpoint %s: signing secret cannot be opened; rotate it", endpoint.pk)
        outcome = transport.PostOutcome(status=None, duration_ms=0,
                                        error="signing secret cannot be opened: rotate the endpoint's secret")
        return _attempt_record(delivery_id=delivery.pk, outcome=outcome, now=now)
    body = delivery_body(delivery)
    timestamp = int(real_now.timestamp())
    headers = {
        signing.HEADER_ID: str(delivery.event_id),
        signing.HEADER_TIMESTAMP: str(timestamp),
        signing.HEADER_SIGNATURE: signing.signature_header(signing_secrets, timestamp, body),
    }
    outcome = transport.post_json(url, body, headers)
    return _attempt_record(delivery_id=delivery.pk, outcome=outcome, now=now)


@transaction.atomic
def _attempt_record(*, delivery_id, outcome: transport.PostOutcome, now: datetime) -> WebhookDelivery | None:
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if delivery is None:
        return None  # the endpoint was deleted meanwhile
    delivery.attempts += 1
    WebhookAttempt.objects.create(tenant_id=delivery.tenant_id, delivery=delivery, number=delivery.attempts,
                                  attempted_at=now, response_code=outcome.status, duration_ms=outcome.duration_ms,
                                  error=outcome.error[:300])
    delivery.last_attempt_at = now
    delivery.last_response_code = outcome.status
    delivery.last_error = outcome.error[:300]
    delivery.locked_until = None
    countdown = None
    if outcome.delivered:
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif now >= delivery.give_up_at:
        delivery.status = WebhookDelivery.Status.GIVEN_UP
        delivery.next_attempt_at = None
    else:
        delivery.status = WebhookDelivery.Status.FAILING
        # The last attempt lands on the end of the window rather than past it.
        delivery.next_attempt_at = min(now + timedelta(seconds=retry_delay_s(delivery.attempts)), delivery.give_up_at)
        countdown = (delivery.next_attempt_at - now).total_seconds()
        if countdown <= _COUNTDOWN_MAX_S:
            # Marked as published for that time, so the sweep leaves it to the countdown (unless it gets lost).
            delivery.enqueued_at = delivery.next_attempt_at
        else:
            countdown = None
    delivery.save()
    if countdown is not None:
        tenant = delivery.tenant
        transaction.on_commit(lambda: _enqueue(tenant=tenant, delivery_ids=[delivery.pk],
                                               countdown=max(0.0, countdown)))
    return delivery


def deliveries_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Publish every delivery that is due and not in a worker's hands: lost publishes, retries left to the sweep,
    and messages lost with a broker; and critical-finding e-mails whose task was lost. Operator path (crosses
    hospitals on purpose). Returns how many tasks were published."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=_REPUBLISH_AFTER_S)
    published = 0
    with dangerously_operator_access(reason="webhooks: sweep of due deliveries"):
        due = (WebhookDelivery.objects.dangerously_all_tenants()
               .filter(status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILING],
                       next_attempt_at__lte=now)
               .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
               .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=F("next_attempt_at"))
                       | Q(enqueued_at__lt=stale))
               .order_by("next_attempt_at").values_list("tenant_id", "id")[:limit])
        by_tenant: dict = {}
        for tenant_id, delivery_id in due:
            by_tenant.setdefault(tenant_id, []).append(delivery_id)
        emails = list(CriticalFindingEmail.objects.dangerously_all_tenants()
                      .filter(status=CriticalFindingEmail.Status.PENDING, created_at__lt=stale)
                      .values_list("tenant_id", "assessment_id")[:limit])
        tenants = {t.pk: t for t in Tenant.objects.filter(pk__in={*by_tenant, *(t for t, _ in emails)})}
    for tenant_id, ids in by_tenant.items():
        published += _enqueue(tenant=tenants[tenant_id], delivery_ids=ids)
    for tenant_id, assessment_id in emails:
        published += _email_enqueue(tenant_id=tenant_id, assessment_id=assessment_id)
    return published


# ---------------------------------------------------------------------------------------------------------------
# Replay
# ---------------------------------------------------------------------------------------------------------------


def _replay_one(delivery: WebhookDelivery, now: datetime) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        tenant_id=delivery.tenant_id, endpoint_id=delivery.endpoint_id, event_id=delivery.event_id,
        event_type=delivery.event_type, payload=delivery.payload, created_at=now, next_attempt_at=now,
        give_up_at=now + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_S), replay_of=delivery,
    )


@transaction.atomic
def delivery_replay(*, delivery: WebhookDelivery, actor=None) -> WebhookDelivery:
    """Send a delivery's event again to its endpoint, as a new delivery with the same event id and payload (and a
    fresh retry window). Raises WebhookRejected webhook_endpoint_disabled (409) for a disabled endpoint."""
    with tenant_context(delivery.tenant):
        if not WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, is_active=True).exists():
            raise WebhookRejected("webhook_endpoint_disabled", "The endpoint is disabled; enable it before "
                                                               "replaying.", 409)
        replay = _replay_one(delivery, timezone.now())
    _audit(event="webhook.replay", tenant=delivery.tenant, actor=actor, object_type="webhook_delivery",
           object_id=str(replay.pk), details={"replay_of": str(delivery.pk), "event_id": str(delivery.event_id),
                                              "endpoint": str(delivery.endpoint_id)})
    tenant = delivery.tenant
    transaction.on_commit(lambda: _enqueue(tenant=tenant, delivery_ids=[replay.pk]))
    return replay


@transaction.atomic
def endpoint_replay_failed(*, endpoint: WebhookEndpoint, actor=None, limit: int = 1000) -> list[WebhookDelivery]:
    """Replay every event the endpoint gave up on: for each event whose latest delivery is `given_up`, one new
    delivery (events already delivered, or still being retried, are left alone). Audited as one replay event."""
    if not endpoint.is_active:
        raise WebhookRejected("webhook_endpoint_disabled", "The endpoint is disabled; enable it before replaying.",
                              409)
    now = timezone.now()
    with tenant_context(endpoint.tenant):
        latest = (WebhookDelivery.objects.filter(endpoint=endpoint).order_by("event_id", "-created_at")
                  .distinct("event_id"))
        failed_ids = [d.pk for d in latest if d.status == WebhookDelivery.Status.GIVEN_UP][:limit]
        replays = [_replay_one(d, now) for d in WebhookDelivery.objects.filter(pk__in=failed_ids)
                   .order_by("created_at")]
    _audit(event="webhook.replay", tenant=endpoint.tenant, actor=actor, object_type="webhook_endpoint",
           object_id=str(endpoint.pk), details={"replayed": len(replays),
                                                "deliveries": [str(r.pk) for r in replays][:100]})
    if replays:
        tenant = endpoint.tenant
        ids = [r.pk for r in replays]
        transaction.on_commit(lambda: _enqueue(tenant=tenant, delivery_ids=ids))
    return replays


# ---------------------------------------------------------------------------------------------------------------
# Notification settings and critical findings
# ---------------------------------------------------------------------------------------------------------------


def notification_settings_for(*, tenant: Tenant) -> NotificationSettings:
    """The hospital's settings (an unsaved default row when it never saved any)."""
    with tenant_context(tenant):
        found = NotificationSettings.objects.filter(tenant=tenant).first()
    return found or NotificationSettings(tenant=tenant, critical_finding_emails=[])


@transaction.atomic
def notification_settings_update(*, tenant: Tenant, critical_finding_emails, user=None,
                                 actor=None) -> NotificationSettings:
    """Set who is e-mailed about critical findings (a list of addresses; empty turns e-mail off).

    Raises WebhookRejected invalid_email."""
    if isinstance(critical_finding_emails, str):
        critical_finding_emails = [part for part in critical_finding_emails.replace(",", "\n").split()]
    cleaned: list[str] = []
    for raw in critical_finding_emails or []:
        address = str(raw).strip()
        try:
            validate_email(address)
        except ValidationError:
            raise WebhookRejected("invalid_email", f"{address[:100]!r} is not an e-mail address.") from None
        if address.lower() not in {a.lower() for a in cleaned}:
            cleaned.append(address)
    if len(cleaned) > _MAX_NOTIFICATION_EMAILS:
        raise WebhookRejected("invalid_email", f"At most {_MAX_NOTIFICATION_EMAILS} addresses.")
    with tenant_context(tenant):
        row, _ = NotificationSettings.objects.update_or_create(
            tenant=tenant, defaults={"critical_finding_emails": cleaned, "updated_at": timezone.now(),
                                     "updated_by": user})
    # The addresses are the hospital's staff, not patients; the audit keeps how many, not who.
    _audit(event="notification_settings.change", tenant=tenant, actor=actor, user=user if actor is None else None,
           object_type="notification_settings", object_id=str(row.pk),
           details={"critical_finding_emails": len(cleaned)})
    return row


def _email_enqueue(*, tenant_id, assessment_id) -> int:
    from webhooks.tasks import send_critical_finding_email

    try:
        send_critical_finding_email.apply_async(
            kwargs={"tenant_id": str(tenant_id), "assessment_id": str(assessment_id)},
            queue=settings.WEBHOOK_QUEUE or None, retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1})
    except Exception as exc:
        logger.warning("could not publish the critical-finding e-mail of %s (%s); the sweep will retry",
                       assessment_id, type(exc).__name__)
        return 0
    return 1


@transaction.atomic
def critical_finding_notify(*, assessment) -> None:
    """Tell the hospital that `assessment` has a critical finding: the assessment.critical_finding webhook (to the
    endpoints subscribed) and an e-mail to the addresses of its notification settings. Idempotent: calling it again
    for the same assessment sends neither twice. Joins the caller's transaction; nothing leaves before it commits.
    """
    tenant = assessment.tenant
    with tenant_context(tenant):
        if _has_subscribers(tenant=tenant, event_type=events.ASSESSMENT_CRITICAL_FINDING):
            event_publish(tenant=tenant, event_type=events.ASSESSMENT_CRITICAL_FINDING,
                          data=events.assessment_data(assessment),
                          event_id=events.event_id_for(tenant_id=tenant.pk,
                                                       event_type=events.ASSESSMENT_CRITICAL_FINDING,
                                                       subject_id=assessment.pk))
        _, created = CriticalFindingEmail.objects.get_or_create(tenant=tenant, assessment_id=assessment.pk)
    if created:
        transaction.on_commit(lambda: _email_enqueue(tenant_id=tenant.pk, assessment_id=assessment.pk))


def critical_finding_email_text(*, assessment, tenant: Tenant) -> tuple[str, str]:
    """Subject and body of the critical-finding e-mail: ids, accession number, finding codes, the portal link; no
    patient data (no name, no birth date, no patient id, no measurements)."""
    from inference.catalog import DEMO_NOTICE

    data = events.assessment_data(assessment)["assessment"]
    codes = ", ".join(data["critical_findings"]) or "(see the assessment)"
    subject = f"Critical finding: {assessment.model_name} assessment {str(assessment.pk)[:8]}"
    lines = [
        f"An assessment of {tenant.name} has a critical finding and is at the top of the worklist.",
        "",
        f"Assessment: {assessment.pk}",
        f"Model: {assessment.model_name} version {assessment.model_version}",
        f"Accession number: {data['study']['accession_number'] or '(none)'}",
        f"Critical finding codes: {codes}",
        "",
        f"Open it in the portal (sign-in required): {data['links']['portal']}",
    ]
    if assessment.model_is_demo:
        lines += ["", f"This result comes from a demo model: {DEMO_NOTICE}."]
    lines += ["", "You receive this because your hospital's administrator listed this address for critical-finding "
                  "notifications."]
    return subject, "\n".join(lines)


def critical_finding_email_send(*, assessment_id) -> CriticalFindingEmail | None:
    """Send the pending critical-finding e-mail of one assessment (in the tenant's context). Returns the record;
    None when there is none. Raises the mail backend's error (OSError, smtplib.SMTPException) for the task to
    retry; the record stays pending until `critical_finding_email_failed` or a later success."""
    from inference.models import Assessment

    with transaction.atomic():
        record = CriticalFindingEmail.objects.select_for_update().filter(assessment_id=assessment_id).first()
        if record is None or record.status != CriticalFindingEmail.Status.PENDING:
            return record
        tenant = Tenant.objects.get(pk=record.tenant_id)
        assessment = Assessment.objects.filter(pk=assessment_id).select_related("instance__study").first()
        recipients = notification_settings_for(tenant=tenant).critical_finding_emails
        if assessment is None or not recipients:
            record.status = CriticalFindingEmail.Status.NO_RECIPIENTS if assessment else \
                CriticalFindingEmail.Status.FAILED
            record.error = "" if assessment else "assessment gone"
            record.save(update_fields=["status", "error"])
            return record
        subject, body = critical_finding_email_text(assessment=assessment, tenant=tenant)
        # One message, recipients in Bcc: the hospital's staff do not see each other's addresses.
        EmailMessage(subject=subject, body=body, to=[], bcc=list(recipients)).send(fail_silently=False)
        record.status = CriticalFindingEmail.Status.SENT
        record.recipients = len(recipients)
        record.sent_at = timezone.now()
        record.error = ""
        record.save(update_fields=["status", "recipients", "sent_at", "error"])
        return record


def critical_finding_email_failed(*, assessment_id, error: str) -> None:
    """Mark the e-mail failed after the task's last retry (visible in the portal's notification settings)."""
    CriticalFindingEmail.objects.filter(assessment_id=assessment_id,
                                        status=CriticalFindingEmail.Status.PENDING).update(
        status=CriticalFindingEmail.Status.FAILED, error=error[:300])
