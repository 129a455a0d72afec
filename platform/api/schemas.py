"""Serializers that describe the API's requests and answers in the OpenAPI document.

The views build their bodies with plain functions (api/serializers.py, api/keys.py, billing, audit exports);
these classes only document them. tests/api/test_api_property_based.py checks, with schemathesis, that every
answer the views give matches what is written here, so the two cannot drift apart silently.
"""
from __future__ import annotations

from rest_framework import serializers

from inference.models import Assessment
from tenants.roles import API_KEY_SCOPES


class _Page(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="The next page's URL (path and query), or null on the "
                                                            "last page. Follow it as is; the cursor is opaque.")
    previous = serializers.CharField(allow_null=True, help_text="The previous page's URL, or null on the first.")


# --------------------------------------------------------------------------------------------------------------
# Assessments
# --------------------------------------------------------------------------------------------------------------
class AssessmentModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField()
    precision = serializers.CharField(help_text="e.g. fp32, int8; empty when unknown.")
    demo = serializers.BooleanField(help_text="Demo weights: results are not for diagnostic use.")


class AssessmentStudySerializer(serializers.Serializer):
    study_instance_uid = serializers.CharField()
    series_instance_uid = serializers.CharField()
    sop_instance_uid = serializers.CharField(allow_null=True)
    sha256 = serializers.CharField(help_text="SHA-256 of the uploaded file.")
    content_type = serializers.CharField()


class CodeMessageSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class AssessmentLinksSerializer(serializers.Serializer):
    self = serializers.CharField(help_text="This assessment in the API.")
    portal = serializers.CharField(help_text="This assessment in the radiologists' portal.")


class AssessmentSeriesSerializer(serializers.Serializer):
    series_instance_uid = serializers.CharField()
    instance_count = serializers.IntegerField(min_value=1)
    modality = serializers.CharField()


class CriticalFindingSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="e.g. nodule_8mm_or_more, lv_ef_below_35 (docs/catalogue.md).")
    message = serializers.CharField()


class StageVersionSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The OVMS model of this stage.")
    version = serializers.IntegerField(min_value=1)
    precision = serializers.CharField()
    demo = serializers.BooleanField()
    reason = serializers.CharField(required=False, help_text="Why this version answers (active, canary, pinned...).")


class AssessmentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Assessment.Status.choices)
    model = AssessmentModelSerializer()
    notice = serializers.CharField(allow_null=True, help_text="\"demo, not for diagnostic use\" for demo models.")
    study = AssessmentStudySerializer()
    series = AssessmentSeriesSerializer(allow_null=True, help_text="The series assessed (series assessments).")
    priority = serializers.ChoiceField(choices=Assessment.Priority.choices,
                                       help_text="routine or urgent as submitted; critical once a critical finding "
                                                 "was found.")
    is_critical = serializers.BooleanField()
    critical_findings = CriticalFindingSerializer(many=True)
    stages = StageVersionSerializer(many=True, help_text="Every model that runs, in order, with its version.")
    patient_sex = serializers.ChoiceField(choices=["M", "F"], allow_null=True)
    chronological_age_months = serializers.FloatField(allow_null=True)
    attempts = serializers.IntegerField(min_value=0)
    submitted_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    result = serializers.JSONField(allow_null=True, help_text="The model's result once `succeeded` (see "
                                                              "docs/catalogue.md for each model's fields).")
    error = CodeMessageSerializer(allow_null=True, help_text="Why it failed, once `failed`.")
    retrying = CodeMessageSerializer(required=False, help_text="While `queued` again after a transient failure.")
    links = AssessmentLinksSerializer()


class AssessmentSubmittedSerializer(AssessmentSerializer):
    duplicate = serializers.BooleanField(help_text="True (status 200) when the same file with the same model and "
                                                   "inputs already had an assessment that has not failed: that one "
                                                   "is returned, and not billed twice.")


class AssessmentSubmitSerializer(serializers.Serializer):
    file = serializers.ListField(child=serializers.FileField(), min_length=1,
                                 help_text="The image (DICOM, PNG or JPEG); for a series assessment every DICOM "
                                           "file of the series (repeat the field) or one zip of them.")
    priority = serializers.ChoiceField(choices=["routine", "urgent"], required=False, default="routine",
                                       help_text="urgent work runs on its own queue that routine work cannot "
                                                 "block.")
    model = serializers.CharField(help_text="The assessment model, e.g. bone_age.")
    patient_sex = serializers.ChoiceField(choices=["M", "F"], required=False,
                                          help_text="Overrides the DICOM header; needed by bone_age if the file "
                                                    "does not say it.")
    chronological_age_months = serializers.FloatField(required=False, min_value=0, max_value=300)


class AssessmentPageSerializer(_Page):
    results = AssessmentSerializer(many=True)


class OriginalDownloadSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="A short-lived presigned URL of the original file.")
    expires_at = serializers.DateTimeField()
    content_type = serializers.CharField()
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField(min_value=0)


# --------------------------------------------------------------------------------------------------------------
# API keys
# --------------------------------------------------------------------------------------------------------------
API_KEY_STATUSES = ["active", "revoked", "expired"]
# submit and read, and manage_webhooks when an administrator grants it (tenants/roles.py).
API_KEY_SCOPE_CHOICES = sorted(API_KEY_SCOPES)


class ApiKeySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="Identifies the key (mip_<prefix>_...); not secret.")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=API_KEY_SCOPE_CHOICES))
    status = serializers.ChoiceField(choices=API_KEY_STATUSES)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The full key, mip_<prefix>_<secret>: shown this once only.")
    notice = serializers.CharField()


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="What the key is for, e.g. the HIS's name.")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=API_KEY_SCOPE_CHOICES), required=False,
                                   help_text="Default [\"submit\", \"read\"].")
    expires_at = serializers.DateTimeField(required=False, allow_null=True,
                                           help_text="ISO-8601 with a time zone; none: never expires.")


class ApiKeyPageSerializer(_Page):
    results = ApiKeySerializer(many=True)


# --------------------------------------------------------------------------------------------------------------
# Billing
# --------------------------------------------------------------------------------------------------------------
class UsageByModelSerializer(serializers.Serializer):
    model = serializers.CharField()
    count = serializers.IntegerField(min_value=0)


class UsageByDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    model = serializers.CharField()
    count = serializers.IntegerField(min_value=0)


class UsageSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    total = serializers.IntegerField(min_value=0)
    by_model = UsageByModelSerializer(many=True)
    by_day = UsageByDaySerializer(many=True)


class InvoiceSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()
    period = serializers.CharField(help_text="YYYY-MM")
    currency = serializers.CharField()
    assessments = serializers.IntegerField(min_value=0)
    total = serializers.CharField(help_text="Decimal string in the currency.")
    issued_at = serializers.DateTimeField()
    url = serializers.CharField()


class InvoicePageSerializer(_Page):
    results = InvoiceSummarySerializer(many=True)


class _Hospital(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class _BillingLine(serializers.Serializer):
    """What invoice lines and credit-note lines share (amounts are Decimal strings)."""

    position = serializers.IntegerField()
    model = serializers.CharField(allow_blank=True)
    quantity = serializers.IntegerField()
    unit_price = serializers.CharField()
    amount = serializers.CharField()


class InvoiceLineSerializer(_BillingLine):
    kind = serializers.CharField()


class CreditNoteLineSerializer(_BillingLine):
    description = serializers.CharField()


class CreditNoteSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()
    reason = serializers.CharField()
    total = serializers.CharField()
    issued_at = serializers.DateTimeField()
    lines = CreditNoteLineSerializer(many=True)


class InvoiceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()
    issuer = serializers.CharField()
    hospital = _Hospital()
    period = serializers.CharField(help_text="YYYY-MM")
    plan = serializers.CharField()
    currency = serializers.CharField()
    included_quota = serializers.IntegerField(min_value=0)
    assessments = serializers.IntegerField()
    lines = InvoiceLineSerializer(many=True)
    total = serializers.CharField()
    issued_at = serializers.DateTimeField()
    credit_notes = CreditNoteSerializer(many=True)


# --------------------------------------------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------------------------------------------
class AuditEventSerializer(serializers.Serializer):
    chain = serializers.CharField(help_text="The hospital's id (its chain).")
    sequence = serializers.IntegerField()
    occurred_at = serializers.CharField(help_text="UTC, ISO-8601.")
    event = serializers.CharField(help_text="The platform's event code, e.g. assessment.read.")
    event_type_code = serializers.CharField(help_text="DICOM CID 400 code.")
    event_type_display = serializers.CharField()
    event_subtype_code = serializers.CharField(allow_blank=True)
    event_subtype_display = serializers.CharField(allow_blank=True)
    action = serializers.ChoiceField(choices=["C", "R", "U", "D", "E"])
    outcome = serializers.ChoiceField(choices=[0, 4, 8, 12])
    user_id = serializers.IntegerField(allow_null=True)
    username = serializers.CharField(allow_blank=True)
    api_key_prefix = serializers.CharField(allow_blank=True)
    is_operator = serializers.BooleanField()
    network_address = serializers.CharField(allow_blank=True)
    study_instance_uid = serializers.CharField(allow_blank=True)
    assessment_id = serializers.CharField(allow_blank=True)
    patient_ref = serializers.CharField(allow_blank=True, help_text="Keyed pseudonym, never a patient identifier.")
    object_type = serializers.CharField(allow_blank=True)
    object_id = serializers.CharField(allow_blank=True)
    details = serializers.JSONField()
    previous_hash = serializers.CharField()
    hash = serializers.CharField()


class AuditEventPageSerializer(_Page):
    results = AuditEventSerializer(many=True)
