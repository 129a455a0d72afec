"""Hospital webhooks and notification settings: endpoints, the deliveries of each event, every attempt.

All rows belong to one hospital (TenantOwnedModel, forced row-level security in migration 0002). A delivery is
one event sent to one endpoint; its attempts are the HTTP requests made for it. A replay is a new delivery of
the same event (same `event_id`, same payload) pointing at the delivery it replays.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from tenants.models import TenantOwnedModel


class WebhookEndpoint(TenantOwnedModel):
    """A URL of the hospital's (its HIS) that receives signed JSON events it subscribed to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=200, blank=True, default="")
    event_types = ArrayField(models.CharField(max_length=64), default=list)
    # AES-256-GCM under FIELD_ENCRYPTION_KEY, bound to this endpoint's id (accounts.sealing): a database dump alone
    # cannot forge the hospital's deliveries. Shown in clear once, when created or rotated.
    secret_sealed = models.TextField()
    # The first characters of the secret, so an administrator can tell which secret the HIS holds.
    secret_hint = models.CharField(max_length=16)
    # After a rotation the previous secret also signs deliveries until this time (a second `v1=` signature), so
    # the HIS can switch secrets without missing events; empty when rotated with no overlap.
    previous_secret_sealed = models.TextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Webhook endpoint {self.id}"


class WebhookDelivery(TenantOwnedModel):
    """One event for one endpoint, retried with backoff until delivered (2xx) or the retry window ends."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # not tried yet
        SUCCEEDED = "succeeded", "Delivered"  # a 2xx answer
        FAILING = "failing", "Failing, will retry"  # tried, not delivered, next attempt scheduled
        GIVEN_UP = "given_up", "Given up"  # the retry window ended (or the endpoint was disabled)

    TERMINAL_STATUSES = (Status.SUCCEEDED, Status.GIVEN_UP)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The event's id: the same for every endpoint, retry and replay of one event (receivers de-duplicate on it;
    # sent as `Webhook-Id` and as the body's `id`).
    event_id = models.UUIDField(db_index=True)
    event_type = models.CharField(max_length=64)
    # The whole JSON body sent, frozen at publication so retries and replays send the same bytes.
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # When the next attempt is due (None once finished) and when retrying stops (created_at + retry window).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    give_up_at = models.DateTimeField()
    # Publication bookkeeping for the sweep: when a task for the due attempt was last published.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # A worker sending this delivery holds it until this time (a lease, not a row lock held over HTTP).
    locked_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Replays go with the delivery they replay (only ever together, when the endpoint or the hospital goes).
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replays")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The sweep: unfinished deliveries whose next attempt is due.
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_log"),
        ]
        constraints = [
            # Publishing one event twice (a re-run task, a second critical-rule pass) sends it once per endpoint;
            # only replays repeat an event on purpose.
            models.UniqueConstraint(fields=["endpoint", "event_id"], condition=models.Q(replay_of__isnull=True),
                                    name="webhook_delivery_once_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} -> {self.endpoint_id}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL_STATUSES


class WebhookAttempt(TenantOwnedModel):
    """One HTTP request made for a delivery: when, how long, the response code or the error."""

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField(default=timezone.now)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    # A short, fixed description ("timeout", "connection refused", "HTTP 500"): never the receiver's body.
    error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number")]


class NotificationSettings(TenantOwnedModel):
    """A hospital's notification settings: who is e-mailed when an assessment has a critical finding."""

    id = models.BigAutoField(primary_key=True)
    critical_finding_emails = ArrayField(models.EmailField(), default=list, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="notification_settings_one_per_hospital")]


class CriticalFindingEmail(TenantOwnedModel):
    """The critical-finding e-mail of one assessment: sent once, whatever calls notify again."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        NO_RECIPIENTS = "no_recipients", "No recipients configured"

    id = models.BigAutoField(primary_key=True)
    # The assessment's id, not a foreign key: the record of a notification outlives nothing it points at.
    assessment_id = models.UUIDField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    recipients = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "assessment_id"],
                                               name="critical_finding_email_once")]
