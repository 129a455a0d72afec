"""Serializers that describe the HL7 v2 API's requests and answers in the OpenAPI document (hl7v2/views.py
builds the bodies; tests/api/test_api_property_based.py checks the two agree)."""
from __future__ import annotations

from rest_framework import serializers

from integrations.models import Hl7Delivery

TEXT_MAX = 180


class Hl7DestinationSerializer(serializers.Serializer):
    host = serializers.CharField(help_text="The hospital's HL7 v2 receiver (MLLP over TCP).")
    port = serializers.IntegerField(min_value=1, max_value=65535)
    enabled = serializers.BooleanField(help_text="false: results are not sent (nothing is queued).")
    sending_application = serializers.CharField(allow_blank=True, help_text="MSH-3")
    sending_facility = serializers.CharField(allow_blank=True, help_text="MSH-4")
    receiving_application = serializers.CharField(allow_blank=True, help_text="MSH-5")
    receiving_facility = serializers.CharField(allow_blank=True, help_text="MSH-6")
    updated_at = serializers.DateTimeField()


class Hl7DestinationWriteSerializer(serializers.Serializer):
    host = serializers.CharField(max_length=255, help_text="A host name or address (no spaces).")
    port = serializers.IntegerField(min_value=1, max_value=65535)
    enabled = serializers.BooleanField(required=False, default=True)
    sending_application = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    sending_facility = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    receiving_application = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    receiving_facility = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)


class Hl7DeliverySerializer(serializers.Serializer):
    assessment = serializers.UUIDField()
    control_id = serializers.CharField(help_text="MSH-10 of the message (the ACK names it).")
    status = serializers.ChoiceField(choices=Hl7Delivery.Status.values)
    attempts = serializers.IntegerField(min_value=0)
    ack_code = serializers.CharField(allow_null=True, help_text="MSA-1 of the receiver's ACK (AA, AE, AR).")
    error = serializers.CharField(allow_null=True, help_text="Why the last attempt failed.")
    created_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class Hl7DeliveryListSerializer(serializers.Serializer):
    results = Hl7DeliverySerializer(many=True, help_text="Newest first, the latest 200 at most.")
