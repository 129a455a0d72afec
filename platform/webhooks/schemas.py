"""Serializers that describe the webhook management API's requests and answers in the OpenAPI document.

The views build their bodies with plain functions (webhooks/api.py: serialize_endpoint, serialize_delivery);
these classes only document them, and tests/api/test_api_property_based.py checks the two agree.
"""
from __future__ import annotations

from rest_framework import serializers

from webhooks import events
from webhooks.models import WebhookDelivery
from webhooks.services import MAX_PREVIOUS_SECRET_S

EVENT_TYPES = list(events.EVENT_TYPES)


class WebhookEndpointLinksSerializer(serializers.Serializer):
    self = serializers.CharField(help_text="This endpoint in the API.")
    deliveries = serializers.CharField(help_text="Its delivery log.")


class WebhookEndpointSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField(help_text="Where events are POSTed (https, public addresses only).")
    description = serializers.CharField(allow_blank=True)
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPES))
    active = serializers.BooleanField(help_text="Inactive endpoints receive nothing and cannot be replayed to.")
    secret_hint = serializers.CharField(help_text="The first characters of the signing secret (never the secret).")
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until when the previous secret still signs too (after a rotation with overlap).")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    links = WebhookEndpointLinksSerializer()


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(help_text="The signing secret (whsec_...): shown in this answer only.")
    notice = serializers.CharField()


class WebhookEndpointListSerializer(serializers.Serializer):
    results = WebhookEndpointSerializer(many=True, help_text="Newest first.")
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPES),
                                        help_text="Every event type an endpoint can subscribe to.")


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2048, help_text="An https URL resolving to public addresses only.")
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPES), min_length=1)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    active = serializers.BooleanField(required=False, default=True)


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(required=False, max_length=2048)
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPES), min_length=1,
                                        required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    active = serializers.BooleanField(required=False)


class WebhookRotateSecretSerializer(serializers.Serializer):
    keep_previous_for_s = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=MAX_PREVIOUS_SECRET_S,
        help_text="How long the old secret keeps signing beside the new one (seconds); 0: it stops at once.")


class WebhookAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1)
    attempted_at = serializers.DateTimeField()
    response_code = serializers.IntegerField(allow_null=True, help_text="The endpoint's HTTP status; null when "
                                                                        "no answer came.")
    duration_ms = serializers.IntegerField(min_value=0)
    error = serializers.CharField(allow_blank=True)


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    endpoint = serializers.UUIDField()
    event_id = serializers.UUIDField(help_text="The event's id (the same in a replay): deduplicate on it.")
    event_type = serializers.CharField()
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.values)
    attempts = serializers.IntegerField(min_value=0)
    created_at = serializers.DateTimeField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    give_up_at = serializers.DateTimeField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_response_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    replay_of = serializers.UUIDField(allow_null=True, help_text="The delivery this one replays.")


class WebhookDeliveryWithAttemptsSerializer(WebhookDeliverySerializer):
    attempt_log = WebhookAttemptSerializer(many=True, help_text="Every attempt, oldest first.")


class WebhookDeliveryListSerializer(serializers.Serializer):
    results = WebhookDeliveryWithAttemptsSerializer(many=True, help_text="Newest first.")


class WebhookReplayListSerializer(serializers.Serializer):
    results = WebhookDeliverySerializer(many=True, help_text="The new deliveries, one per event replayed.")
