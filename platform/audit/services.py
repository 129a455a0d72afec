"""Writing the audit trail: `audit_event_record`, the one way any part of the platform records an audit event.

Call it INSIDE the transaction of the action it records (it joins the caller's transaction, or opens its own):
the event and the action commit together or not at all. If the event cannot be written, it raises
AuditUnavailable and the action must fail with it: for writes, let the exception roll the transaction back; for
reads, record the event BEFORE returning data and answer 503 `audit_unavailable` when it raises (api.audit_hooks
and portal.views do this), so there are no unaudited reads.

    from audit.services import audit_event_record

    audit_event_record(event="api_key.create", tenant=tenant, user=request_user, network_address=ip,
                       object_type="api_key", object_id=str(api_key.id), details={"prefix": api_key.prefix})

Billing (plans, platform/billing/): record every plan change with `event="plan.change"` in the same transaction
as the subscription change, naming the hospital, the acting person (or `username="operator:<name>"` for a
command) and the plan codes, never amounts of a patient:

    audit_event_record(event="plan.change", tenant=tenant, user=actor, object_type="plan",
                       object_id=str(new_plan.pk), details={"from": old_code, "to": new_code,
                                                            "effective_from": effective_from.isoformat()})

Plan creation and credit notes have their codes too: `event="plan.create"` (tenant None: a platform-level plan)
and `event="invoice.credit"`. `details` is normalised through JSON (Decimal amounts and dates become strings).

Events and their DICOM codes: audit/events.py (add a code there first; unknown codes raise ValueError).

Concurrency and cost: each chain (one per hospital, one for platform-level events) has one head row, locked with
SELECT ... FOR UPDATE by every writer and held until the writer's transaction commits. Events of one hospital
are therefore appended one transaction at a time, which is what gives them a total order; different hospitals
never wait for each other. Callers write the event as the LAST statement of their transaction so the lock is held
for as short a time as possible. Per event the writer sends four short statements (lock, insert, update head,
plus the RLS settings) and computes one SHA-256 and one HMAC: on the order of a millisecond on a local database,
so one hospital's chain sustains several hundred audited actions per second, far above a hospital's request rate
(the API's hospital limit is 3000 requests per minute = 50/s).
"""
from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.chain import GENESIS_HASH, event_hash, format_time, sign_head
from audit.events import Action, Outcome, event_kind
from audit.models import PLATFORM_CHAIN, chain_key
from audit.pseudonym import patient_reference
from tenants.context import get_operator_access_reason, tenant_context

logger = logging.getLogger(__name__)


class AuditUnavailable(RuntimeError):
    """The audit event could not be written; the action it records must not happen (or be answered)."""


@dataclass(frozen=True)
class RecordedEvent:
    chain: str
    sequence: int
    hash: str


@dataclass(frozen=True)
class Actor:
    user_id: int | None = None
    username: str = ""
    api_key_prefix: str = ""
    network_address: str = ""
    is_operator: bool = False


def actor_from_request(request) -> Actor:
    """Who is acting in a Django or DRF request: the signed-in person or the API key, and the client address
    (REMOTE_ADDR only, as sign-in does: X-Forwarded-For is whatever the client wants it to be)."""
    django_request = getattr(request, "_request", request)
    address = django_request.META.get("REMOTE_ADDR") or ""
    user = getattr(request, "user", None)
    api_key = getattr(user, "api_key", None)
    if api_key is not None:
        return Actor(api_key_prefix=api_key.prefix, network_address=address)
    if user is not None and getattr(user, "is_authenticated", False):
        return Actor(user_id=user.pk, username=user.get_username(), network_address=address,
                     is_operator=bool(getattr(user, "is_staff", False) and get_operator_access_reason()))
    return Actor(network_address=address)


_INSERT = (
    "INSERT INTO audit_auditevent (tenant_id, sequence, event, event_type_code, event_type_display, "
    "event_subtype_code, event_subtype_display, action, outcome, occurred_at, user_id, username, api_key_prefix, "
    "is_operator, network_address, study_instance_uid, assessment_id, patient_ref, object_type, object_id, "
    "details, previous_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%s, %s, %s, %s::jsonb, %s, %s)"
)


def _lock_head(cursor, chain: str, tenant_id) -> tuple[int, str, int, str]:
    select = ("SELECT last_sequence, last_hash, first_sequence, anchor_hash FROM audit_auditchainhead "
              "WHERE chain = %s FOR UPDATE")
    cursor.execute(select, [chain])
    row = cursor.fetchone()
    if row is None:
        # First event of the chain. ON CONFLICT: a concurrent first writer may have created it meanwhile.
        signature = sign_head(chain=chain, first_sequence=1, anchor_hash=GENESIS_HASH, last_sequence=0,
                              last_hash=GENESIS_HASH)
        cursor.execute(
            "INSERT INTO audit_auditchainhead (chain, last_sequence, last_hash, first_sequence, "
            "anchor_hash, signature, updated_at) VALUES (%s, 0, %s, 1, %s, %s, now()) "
            "ON CONFLICT (chain) DO NOTHING",
            [chain, GENESIS_HASH, GENESIS_HASH, signature],
        )
        cursor.execute(select, [chain])
        row = cursor.fetchone()
    return row


def _append(*, tenant_id, fields: dict) -> RecordedEvent:
    chain = chain_key(tenant_id)
    with connection.cursor() as cursor:
        last_sequence, last_hash, first_sequence, anchor_hash = _lock_head(cursor, chain, tenant_id)
        sequence = last_sequence + 1
        fields = {**fields, "chain": chain, "sequence": sequence}
        digest = event_hash(fields, last_hash)
        cursor.execute(_INSERT, [
            tenant_id, sequence, fields["event"], fields["event_type_code"], fields["event_type_display"],
            fields["event_subtype_code"], fields["event_subtype_display"], fields["action"], fields["outcome"],
            fields["occurred_at_dt"], fields["user_id"], fields["username"], fields["api_key_prefix"],
            fields["is_operator"], fields["network_address"], fields["study_instance_uid"],
            fields["assessment_id"], fields["patient_ref"], fields["object_type"], fields["object_id"],
            json.dumps(fields["details"], sort_keys=True), last_hash, digest,
        ])
        signature = sign_head(chain=chain, first_sequence=first_sequence, anchor_hash=anchor_hash,
                              last_sequence=sequence, last_hash=digest)
        cursor.execute(
            "UPDATE audit_auditchainhead SET last_sequence = %s, last_hash = %s, signature = %s, updated_at = now() "
            "WHERE chain = %s",
            [sequence, digest, signature, chain],
        )
        if cursor.rowcount != 1:
            raise AuditUnavailable(f"the head of audit chain {chain} could not be updated")
    return RecordedEvent(chain=chain, sequence=sequence, hash=digest)


def audit_event_record(
    *,
    event: str,
    tenant=None,
    outcome: int = Outcome.SUCCESS,
    action: str | None = None,
    request=None,
    actor: Actor | None = None,
    user=None,
    username: str | None = None,
    api_key=None,
    network_address: str | None = None,
    assessment=None,
    study_instance_uid: str = "",
    assessment_id: str = "",
    patient_ref: str = "",
    object_type: str = "",
    object_id: str = "",
    details: dict | None = None,
    occurred_at: datetime | None = None,
) -> RecordedEvent:
    """Append one event to the chain of `tenant` (None: the platform-level chain), in the caller's transaction.

    Who acted comes from `request` (person or API key, and REMOTE_ADDR), or `actor`, or `user` / `username` /
    `api_key` / `network_address` given one by one (these override). `assessment` fills the touched objects: its
    id, its study's UID and the patient pseudonym (audit/pseudonym.py). `details` must be JSON of strings, ints,
    booleans and lists/objects of them, and never patient data. `action` defaults to the event's (events.py).

    Returns the chain, sequence and hash written. Raises ValueError (unknown event, bad action/outcome) and
    AuditUnavailable (the database refused or is unreachable: the caller's action must fail).
    """
    kind = event_kind(event)
    action = action or kind.action
    if action not in Action.ALL:
        raise ValueError(f"audit action must be one of {Action.ALL}, not {action!r}")
    if outcome not in Outcome.ALL:
        raise ValueError(f"audit outcome must be one of {Outcome.ALL}, not {outcome!r}")
    who = actor or (actor_from_request(request) if request is not None else Actor())
    if user is not None:
        who = Actor(user_id=user.pk, username=user.get_username(), api_key_prefix=who.api_key_prefix,
                    network_address=who.network_address, is_operator=who.is_operator)
    if api_key is not None:
        who = Actor(user_id=who.user_id, username=who.username, api_key_prefix=api_key.prefix,
                    network_address=who.network_address, is_operator=who.is_operator)
    if tenant is not None and not hasattr(tenant, "pk"):
        from tenants.models import Tenant

        tenant = Tenant.objects.get(pk=tenant)  # a bare id (e.g. a registry pin's hospital_id)
    tenant_id = tenant.pk if tenant is not None else None
    if assessment is not None:
        instance = assessment.instance
        assessment_id = assessment_id or str(assessment.pk)
        study_instance_uid = study_instance_uid or instance.study.study_instance_uid
        patient_ref = patient_ref or patient_reference(tenant_id=assessment.tenant_id, patient_key=instance.sha256)
    when = occurred_at or timezone.now()
    fields = {
        "event": kind.code,
        "event_type_code": kind.type_code,
        "event_type_display": kind.type_display,
        "event_subtype_code": kind.subtype_code,
        "event_subtype_display": kind.subtype_display,
        "action": action,
        "outcome": int(outcome),
        "occurred_at": format_time(when),
        "occurred_at_dt": when,
        "user_id": who.user_id,
        "username": (username if username is not None else who.username)[:150],
        "api_key_prefix": who.api_key_prefix,
        "is_operator": bool(who.is_operator or get_operator_access_reason()),
        "network_address": (network_address if network_address is not None else who.network_address)[:64],
        "study_instance_uid": study_instance_uid or "",
        "assessment_id": str(assessment_id or ""),
        "patient_ref": patient_ref or "",
        "object_type": object_type or "",
        "object_id": str(object_id or "")[:128],
        # Normalised through JSON once (Decimal and dates become strings), so the hash covers exactly what the
        # jsonb column gives back to the verifier.
        "details": json.loads(json.dumps(details or {}, default=str)),
    }
    scope = tenant_context(tenant) if tenant is not None else contextlib.nullcontext()
    try:
        with scope, transaction.atomic():
            return _append(tenant_id=tenant_id, fields=fields)
    except DatabaseError as exc:
        logger.error("audit event %s could not be written: %s", event, type(exc).__name__)
        raise AuditUnavailable(f"the audit event {event} could not be written") from exc


__all__ = ["AuditUnavailable", "Actor", "RecordedEvent", "actor_from_request", "audit_event_record",
           "PLATFORM_CHAIN"]
