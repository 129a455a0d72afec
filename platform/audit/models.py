"""The audit trail: append-only events in one hash chain per hospital (platform-level events form their own),
and one signed head per chain.

Rows are never updated or deleted by the application: PostgreSQL refuses it (the application role has no
UPDATE/DELETE on audit_auditevent, and a trigger refuses UPDATE, DELETE and TRUNCATE for every role; see
migrations/0002). `hash` = SHA-256 over the canonical JSON of the event's fields and `previous_hash`
(audit/chain.py), so editing, deleting, inserting or reordering rows breaks the chain where it happened; the head
(last sequence and hash) is signed with HMAC-SHA256 under settings.AUDIT_SIGNING_KEY, which is not in the
database, so cutting the tail, or rewriting the whole chain, shows too.
"""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from tenants.models import Tenant

PLATFORM_CHAIN = "platform"


def chain_key(tenant_id) -> str:
    """The name of the chain an event of `tenant_id` (None: platform-level) belongs to."""
    return str(tenant_id) if tenant_id else PLATFORM_CHAIN


class AuditEvent(models.Model):
    """One audited action (IHE ATNA / DICOM PS3.15 A.5 fields). Never holds a patient's name or identifier."""

    id = models.BigAutoField(primary_key=True)
    # NULL: a platform-level event (sign-ins, operator access, platform model rollouts). Visible only to operators.
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sequence = models.BigIntegerField()  # 1, 2, 3 ... within the chain
    # What happened (audit/events.py): the platform's code, the CID 400 event ID and the CID 401 subtype.
    event = models.CharField(max_length=40)
    event_type_code = models.CharField(max_length=16)
    event_type_display = models.CharField(max_length=64)
    event_subtype_code = models.CharField(max_length=16, blank=True, default="")
    event_subtype_display = models.CharField(max_length=64, blank=True, default="")
    action = models.CharField(max_length=1)  # C R U D E
    outcome = models.PositiveSmallIntegerField()  # 0 success, 4 minor, 8 serious, 12 major failure
    occurred_at = models.DateTimeField(default=timezone.now)  # UTC
    # Who: a person (id and username as they were) or an API key (its prefix), and from where.
    user_id = models.BigIntegerField(null=True, blank=True)
    username = models.CharField(max_length=150, blank=True, default="")
    api_key_prefix = models.CharField(max_length=16, blank=True, default="")
    is_operator = models.BooleanField(default=False)
    # Text, not inet: the hash covers the address exactly as recorded.
    network_address = models.CharField(max_length=64, blank=True, default="")
    # What: the objects touched. patient_ref is a keyed pseudonym (audit/pseudonym.py), never a name or an ID.
    study_instance_uid = models.CharField(max_length=64, blank=True, default="")
    assessment_id = models.CharField(max_length=36, blank=True, default="")
    patient_ref = models.CharField(max_length=64, blank=True, default="")
    object_type = models.CharField(max_length=32, blank=True, default="")
    object_id = models.CharField(max_length=128, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    # The chain.
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sequence"], name="audit_event_unique_sequence_per_chain",
                                    nulls_distinct=False),
        ]
        indexes = [models.Index(fields=["tenant", "occurred_at"], name="audit_event_tenant_time")]

    def __str__(self) -> str:
        return f"{self.event} #{self.sequence} ({chain_key(self.tenant_id)})"


class AuditChainHead(models.Model):
    """The signed head of one chain: the last event's sequence and hash, and where the retained chain starts.

    Locked with SELECT ... FOR UPDATE by every writer of the chain, so a chain's events are appended one
    transaction at a time. `first_sequence`/`anchor_hash` move forward only when old events are archived
    (audit_archive): the first retained event must link to `anchor_hash`.
    """

    # The hospital's UUID as text, or "platform". Keyed by the chain, not a tenant foreign key: the platform
    # chain's head belongs to no hospital (row-level security: a hospital's head needs that hospital in context).
    chain = models.CharField(max_length=36, unique=True)
    last_sequence = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    first_sequence = models.BigIntegerField(default=1)
    anchor_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=64)  # HMAC-SHA256 hex of the fields above (audit/chain.py)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.chain} @ {self.last_sequence}"
