"""Serializers that describe the sign-off API's requests and answers in the OpenAPI document (reviews/api.py
builds the bodies with serialize_signoff; tests/api/test_api_property_based.py checks the two agree)."""
from __future__ import annotations

from rest_framework import serializers

from reviews.models import SignOff
from reviews.services import COMMENT_MAX_CHARS


class SignOffSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    assessment = serializers.UUIDField()
    decision = serializers.ChoiceField(choices=SignOff.Decision.values)
    comment = serializers.CharField(allow_blank=True, help_text="The radiologist's comment (clinical text).")
    username = serializers.CharField(help_text="Who signed off, as named when signing.")
    created_at = serializers.DateTimeField()


class SignOffListSerializer(serializers.Serializer):
    results = SignOffSerializer(many=True, help_text="Every verdict, newest first (the latest per person is "
                                                     "their current one).")


class SignOffCreateSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=SignOff.Decision.values)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=COMMENT_MAX_CHARS,
                                    help_text="Required when disagreeing: say why.")
